"""The network: sectors and institutions, capacity codes, the message catalogue (knowledge directory),
deliberations, and the persons directory (reference directory).

The hub imports what it needs from ``kruispunt.network.service`` (one place for the public API).
"""

KSZ = "0244640631"
"""The enterprise number of the KSZ itself: the hub's operator, requester of its own services (the
warehouse's extracts, the citizen portal), and the signer of the log's checkpoints."""
