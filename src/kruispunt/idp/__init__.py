"""A development OpenID Connect identity provider with CSAM-style authentication levels.

It stands in for the federal authentication service (FAS/CSAM) so that the portal can be developed and
tested end to end; the portal talks to it only through OIDC (:mod:`kruispunt.portal.oidc`), so a real
provider replaces it by configuration. See :mod:`kruispunt.idp.service` for the rules.
"""

from __future__ import annotations

from kruispunt.idp.service import (
    ClientConfig,
    DevUser,
    IdentityProvider,
    IdpError,
    Means,
    ProviderKey,
    TestCitizen,
    acr_of,
    hash_password,
    load_users,
    verify_password,
)

__all__ = [
    "ClientConfig",
    "DevUser",
    "IdentityProvider",
    "IdpError",
    "Means",
    "ProviderKey",
    "TestCitizen",
    "acr_of",
    "hash_password",
    "load_users",
    "verify_password",
]
