"""Anomalies in the official form, and the result of a declaration.

An anomaly is identified as ``ZZZZZ-EEE``: the zone (or functional block) code of the data in error and the
general error code of annex 30 (``00024-004`` = INSZ, invalid check digit). Its class (zone 00497) says what
it does to the declaration:

* ``B`` blocking — the declaration (or, in a DmfA, the part concerned) is refused;
* ``P`` percentage error, ``NP`` non-percentage error — a contribution is wrong; the declaration is accepted,
  the RSZ corrects and tells the employer;
* ``D`` a reduction right to verify, ``W`` warning, ``I`` to investigate — accepted, reported.

The result of a declaration: ``A`` accepted, ``W`` accepted with anomalies, ``B`` refused (the Dimona v2
wording, which we use for every kind of declaration).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kruispunt.employers.codes import error_label

AnomalyClass = Literal["B", "P", "NP", "D", "W", "I"]
Result = Literal["A", "W", "B"]

BLOCKING: frozenset[str] = frozenset({"B"})

# general error codes of annex 30 used by the rules (names so that the rules read)
NOT_PRESENT = "001"
NOT_NUMERIC = "002"
INVALID = "003"
INVALID_CHECK_DIGIT = "004"
FORBIDDEN = "005"
DUPLICATE = "006"
TOTAL_DIFFERS = "007"
NOT_IN_DOMAIN = "008"
AGE_TO_VERIFY = "009"
END_BEFORE_START = "014"
EMPLOYER_NOT_AFFILIATED = "016"
EMPLOYER_NOT_IN_REPERTORY = "017"
INCOMPATIBLE_PERIOD = "021"
INCOMPATIBLE_REPERTORY = "022"
INCOMPATIBLE_PERSON = "024"
INCOMPATIBLE_EMPLOYER_CATEGORY = "025"
INCOMPATIBLE_WORKER_CODE = "030"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomaly: ``zone`` (5 digits), ``error`` (annex-30 code), class, where it is and what was found."""

    zone: str
    error: str
    klass: AnomalyClass
    message: str
    tag: str | None = None
    value: str | None = None
    location: str | None = field(default=None, metadata={"doc": "XPath-like path in the declaration"})
    line: int | None = None

    @property
    def error_id(self) -> str:
        return f"{self.zone}-{self.error}"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["anomalyClass"] = out.pop("klass")
        out["errorId"] = self.error_id
        out["errorLabel"] = error_label(self.error)
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Anomaly:
        return cls(
            zone=data["zone"],
            error=data["error"],
            klass=data["anomalyClass"],
            message=data["message"],
            tag=data.get("tag"),
            value=data.get("value"),
            location=data.get("location"),
            line=data.get("line"),
        )


def anomaly(
    zone: str,
    error: str,
    klass: AnomalyClass,
    message: str,
    *,
    tag: str | None = None,
    value: object = None,
    location: str | None = None,
    line: int | None = None,
) -> Anomaly:
    """Shorthand used by the rules; ``value`` is kept as text (cut at 200 characters)."""
    text = None if value is None else str(value)[:200]
    return Anomaly(zone, error, klass, message, tag=tag, value=text, location=location, line=line)


def result_of(anomalies: Iterable[Anomaly]) -> Result:
    """B when any anomaly blocks, W when there are others, A when there are none."""
    worst: Result = "A"
    for a in anomalies:
        if a.klass in BLOCKING:
            return "B"
        worst = "W"
    return worst


def as_json(anomalies: Iterable[Anomaly]) -> list[dict[str, Any]]:
    return [a.as_json() for a in anomalies]
