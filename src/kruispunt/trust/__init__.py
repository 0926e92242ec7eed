"""Trust between the institutions and the hub: the network's CA, institution certificates, revocation.

``ca`` holds the certificate authority (development: created by ``kruispunt up``) and the verification of
an institution's certificate; the envelope signatures that use these keys build on it.
"""
