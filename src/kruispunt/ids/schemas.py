"""Wire formats: the ``IdCheck`` answer and ``Annotated`` string types other packages use in their schemas.

``Insz`` and ``EnterpriseNumber`` validate *and normalise* (separators and ``BE`` removed, 9-digit enterprise
numbers padded), so every stored or forwarded identifier has one spelling.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from kruispunt.ids.insz import validate_insz
from kruispunt.ids.kbo import validate_enterprise_number, validate_establishment_number

IdKind = Literal["national_register", "bis", "enterprise", "establishment", "rsz_employer", "dimona_period"]


class IdCheck(BaseModel):
    """Result of :func:`kruispunt.ids.service.check`; ``reason`` is null exactly when ``valid``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid: bool
    kind: IdKind | None
    birth_date: str | None  # ISO date; null when unknown or partial
    sex: Literal["M", "F"] | None
    reason: str | None


def _insz(value: str) -> str:
    return validate_insz(value).number


Insz = Annotated[str, AfterValidator(_insz)]
"""An INSZ (national-register or bis number), normalised to 11 digits."""

EnterpriseNumber = Annotated[str, AfterValidator(validate_enterprise_number)]
"""A KBO enterprise number, normalised to 10 digits."""

EstablishmentNumber = Annotated[str, AfterValidator(validate_establishment_number)]
"""A KBO establishment-unit number, normalised to 10 digits."""
