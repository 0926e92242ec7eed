"""Wire formats of the employers service shared by every declaration kind: the repertory, mandates, and the
answer to a declaration (result, anomalies, where it went). Each kind's own bodies are in its module's
``*_schemas`` or beside its rules."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Kbo = Annotated[
    str, StringConstraints(pattern=r"^[01][0-9]{9}$"), Field(description="KBO/BCE number, 10 digits")
]


class EmployerOut(BaseModel):
    kbo: str
    rsz: str
    name: str
    category: str
    joint_committee: str
    nace: str | None


class MandateIn(BaseModel):
    """``POST /mandates``: ``employer`` lets ``declarant`` declare for it in ``role`` (annex 39)."""

    model_config = ConfigDict(extra="forbid")

    employer: Kbo
    declarant: Kbo
    role: int = Field(description="11 social secretariat, 12 service provider")
    start: dt.date
    end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MandateIn:
        if self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self


class MandateEndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end: dt.date


class MandateOut(BaseModel):
    id: int
    employer_kbo: str
    declarant_kbo: str
    role: int
    start: dt.date
    end: dt.date | None


class AnomalyOut(BaseModel):
    """One anomaly as the employer reads it (official ``ZZZZZ-EEE`` id, class, where, what)."""

    errorId: str
    zone: str
    error: str
    errorLabel: str
    anomalyClass: str
    message: str
    tag: str | None = None
    value: str | None = None
    location: str | None = None
    line: int | None = None


class DeclarationOut(BaseModel):
    """A declaration as stored: its result (A/W/B), anomalies, the Dimona period, its delivery."""

    id: int
    ticket: str
    sequence: int
    kind: str
    employer: str | None
    declarant: str
    insz: str | None
    periodId: str | None
    receivedAt: dt.datetime
    result: str
    anomalies: list[dict[str, Any]]
    delivery: dict[str, Any] | None
