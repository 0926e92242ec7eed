"""Employer e-government: Dimona, DmfA and social-risk declarations (DRS), collected once.

Employers (or the social secretariat or service provider they mandate) declare to the ``employers``
service; it checks each declaration against the official schemas and code lists, answers with a receipt
and a notification (anomalies in the official ``ZZZZZ-EEE`` form), keeps what was accepted, and passes it
on through the network: accepted Dimona periods to the RSZ source (which registers the worker in the
persons directory, capacity 30), DRS scenarios through the hub to the competent institution.
"""

SERVICE = "employers"
RSZ_KBO = "0206731645"
"""The RSZ/ONSS: the institution the employers service acts for on the network."""
