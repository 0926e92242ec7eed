"""Errors of the employers service that answer a request as a whole (not anomalies of a declaration)."""

from __future__ import annotations

from kruispunt.sources.common import WriteRefused


class DeclarationRefused(WriteRefused):
    """The request is refused before any declaration in it is considered (HTTP ``status``, error ``code``)."""


def no_mandate(declarant: str, employer: str) -> DeclarationRefused:
    return DeclarationRefused(
        403,
        "NO_MANDATE",
        f"{declarant} holds no mandate from employer {employer} on this date: only the employer, or the "
        "social secretariat or service provider it mandated, may declare",
        declarant=declarant,
        employer=employer,
    )


def no_declarant() -> DeclarationRefused:
    return DeclarationRefused(
        400,
        "NO_DECLARANT",
        "say who declares: the X-Kruispunt-Declarant header with the declarant's KBO number",
    )
