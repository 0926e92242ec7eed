"""The claims of an electronic attestation and the result of verifying one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from kruispunt.ids.schemas import EnterpriseNumber, Insz

Validity = Literal["valid", "expired", "not_yet_valid"]
"""``valid`` on the checked date, ``expired`` (after valid_to), ``not_yet_valid`` (before valid_from)."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _no_floats(value: Any, path: str = "status") -> None:
    if isinstance(value, float):
        raise ValueError(f"{path} holds a float; use integers or strings (canonical JSON has no floats)")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_floats(v, f"{path}[{i}]")


def _status(value: dict[str, Any]) -> dict[str, Any]:
    _no_floats(value)
    return value


class Attestation(BaseModel):
    """What the source attests about a person, for a period, on a legal basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    issuer: EnterpriseNumber
    subject: Insz
    type: Annotated[str, Field(pattern=r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$", max_length=64)]
    status: Annotated[dict[str, Any], AfterValidator(_status)]
    valid_from: date
    valid_to: date | None
    legal_basis: Annotated[str, Field(min_length=1, max_length=1000, pattern=r"\S")]
    issued_at: Annotated[AwareDatetime, AfterValidator(_to_utc)]

    @model_validator(mode="after")
    def _period(self) -> Attestation:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self

    def validity_on(self, on: date) -> Validity:
        """Whether the attestation is in force on ``on`` (both bounds inclusive)."""
        if on < self.valid_from:
            return "not_yet_valid"
        if self.valid_to is not None and on > self.valid_to:
            return "expired"
        return "valid"


class VerifiedAttestation(BaseModel):
    """A token whose signature, key, issuer and claims all check out.

    ``validity`` is a flag, not an error: an expired attestation is still authentic (``signature valid but
    expired``), which is what an offline verifier, an auditor or a court needs to know. Callers that need an
    attestation in force check :attr:`in_force`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attestation: Attestation
    kid: str
    checked_on: date
    validity: Validity

    @property
    def in_force(self) -> bool:
        """True when the attestation is valid on :attr:`checked_on`."""
        return self.validity == "valid"

    def describe(self) -> str:
        """One line for people: ``signature valid`` plus the validity on the checked date."""
        a = self.attestation
        if self.validity == "expired":
            return f"signature valid but expired (valid_to {a.valid_to}, checked on {self.checked_on})"
        if self.validity == "not_yet_valid":
            return (
                f"signature valid but not yet valid (valid_from {a.valid_from}, checked on {self.checked_on})"
            )
        return f"signature valid; attestation in force on {self.checked_on}"
