"""One development network CA for the test session, for the services whose routes require a signed caller
(the career route, the research requests): the KSZ's identity signs, the services check against the CA.

Why shared: every such test module needs the same CA and the KSZ's key; issuing them once keeps the
modules short and the key generation out of each test."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from kruispunt.network import KSZ
from kruispunt.trust.ca import Identity, NetworkCA
from kruispunt.trust.receiver import (
    DeclaredCallers,
    EnvelopeAuth,
    SignedCallers,
    open_verifier,
    signed_callers,
)


@functools.cache
def network_ca() -> NetworkCA:
    """The session's CA, in a temporary folder."""
    return NetworkCA.create(Path(tempfile.mkdtemp(prefix="kruispunt-test-ca-")) / "trust")


@functools.cache
def institution(kbo: str, name: str = "") -> Identity:
    """An institution's identity issued by :func:`network_ca` (kept in its folder, so it is found by
    thumbprint)."""
    identity = network_ca().issue(kbo, name or kbo)
    network_ca().save(identity)
    return identity


def ksz() -> Identity:
    """The KSZ's identity: what the portal signs with."""
    return institution(KSZ, "KSZ")


def ksz_callers(service: str) -> SignedCallers:
    """A service's check that admits the KSZ only."""
    ksz()
    return signed_callers(network_ca().folder, {KSZ}, service=service)


def signed_for(subject: str, identity: Identity | None = None) -> EnvelopeAuth:
    """An ``httpx`` authentication signing as the KSZ (or ``identity``) for ``subject``."""
    return EnvelopeAuth(identity or ksz(), subject=subject)


def declared(mode: str = "verify") -> DeclaredCallers:
    """A service's check of callers that also name themselves in a header, over the session's CA."""
    ksz()
    return DeclaredCallers(open_verifier(network_ca().folder), mode)
