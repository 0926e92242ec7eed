"""Harmonised social statuses and derived (supplementary) rights — the GSS/SSH project of the KSZ.

A status change at a source (an OCMW opens a leefloon, DG HAN ends an allowance) becomes a *harmonised
status*; rules given as data (``data/rights.yaml``) turn statuses into *entitlements* to derived rights
(social energy tariff, public-transport reduction …), extended to the household where the right says so.
Granting bodies are told what changed (an event feed) and receive quarterly lists, so that rights come to
people without them asking; municipalities send a file of inhabitants and get the statuses back.
"""

SERVICE = "rights"
