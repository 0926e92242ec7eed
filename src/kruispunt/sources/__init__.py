"""The authentic sources: each a separate HTTP service with its own database (docs/architecture.md).

``national_register`` keeps the people of the population registers (national-register numbers),
``bis_register`` the KSZ bis register (bis numbers of people not in the National Register). ``common`` holds
the hub → source wire contract shared by every source, ``persons`` the person/address logic both registers
share, ``seed`` loads a simulated nation into both.
"""
