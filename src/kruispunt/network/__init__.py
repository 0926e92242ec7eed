"""The network: sectors and institutions, capacity codes, the message catalogue (knowledge directory),
deliberations, and the persons directory (reference directory).

The hub imports what it needs from ``kruispunt.network.service`` (one place for the public API).
"""
