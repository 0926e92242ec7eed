"""Errors of the employers service that answer a request as a whole (not anomalies of a declaration)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from kruispunt.sources.common import error_detail


class DeclarationRefused(Exception):
    """The request is refused before any declaration in it is considered (HTTP ``status``, error ``code``)."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def http(self) -> HTTPException:
        return HTTPException(
            status_code=self.status, detail=error_detail(self.code, self.message, **self.details)
        )


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
