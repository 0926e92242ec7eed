"""Identifiers used everywhere in the network: INSZ, KBO enterprise/establishment, RSZ, Dimona period id.

Every validator normalises (separators removed) and raises :class:`InvalidIdentifier` with a reason;
:func:`check` detects the kind of any number for APIs and the CLI.
"""

from kruispunt.ids.dimona import is_valid_dimona_period_id, make_dimona_period_id, validate_dimona_period_id
from kruispunt.ids.errors import InvalidIdentifier
from kruispunt.ids.insz import (
    BisMode,
    InszInfo,
    InszKind,
    Sex,
    compact_insz,
    format_insz,
    is_valid_insz,
    make_insz,
    normalise_insz,
    validate_insz,
)
from kruispunt.ids.kbo import (
    format_enterprise_number,
    format_establishment_number,
    is_valid_enterprise_number,
    is_valid_establishment_number,
    make_enterprise_number,
    make_establishment_number,
    validate_enterprise_number,
    validate_establishment_number,
)
from kruispunt.ids.rsz import (
    is_valid_rsz_employer_number,
    make_provisional_rsz_number,
    make_rsz_number,
    validate_nsso_registration_number,
    validate_provisional_rsz_number,
    validate_rsz_employer_number,
    validate_rsz_number,
)
from kruispunt.ids.schemas import EnterpriseNumber, EstablishmentNumber, IdCheck, IdKind, Insz
from kruispunt.ids.service import check

__all__ = [
    "BisMode",
    "EnterpriseNumber",
    "EstablishmentNumber",
    "IdCheck",
    "IdKind",
    "Insz",
    "InszInfo",
    "InszKind",
    "InvalidIdentifier",
    "Sex",
    "check",
    "compact_insz",
    "format_enterprise_number",
    "format_establishment_number",
    "format_insz",
    "is_valid_dimona_period_id",
    "is_valid_enterprise_number",
    "is_valid_establishment_number",
    "is_valid_insz",
    "is_valid_rsz_employer_number",
    "make_dimona_period_id",
    "make_enterprise_number",
    "make_establishment_number",
    "make_insz",
    "make_provisional_rsz_number",
    "make_rsz_number",
    "normalise_insz",
    "validate_dimona_period_id",
    "validate_enterprise_number",
    "validate_establishment_number",
    "validate_insz",
    "validate_nsso_registration_number",
    "validate_provisional_rsz_number",
    "validate_rsz_employer_number",
    "validate_rsz_number",
]
