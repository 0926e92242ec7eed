"""The official code lists (annexes) that employer declarations are checked against.

Copies of the socialsecurity.be annexes live in ``data/annexes/`` (one ``code | label | extra | end=YYYY``
line each): worker codes (annex 2), remuneration codes (7), working-time codes (8), employee statuses (21),
employer categories (27), error codes (30), declarant roles (39). Dimona's own lists (worker types,
joint committees) are enumerations of the official Dimona XSD and are repeated here as constants.

A code whose ``end`` year lies in the past is *known but no longer valid*: declarations for a later period
get an anomaly instead of an unknown-code one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

ANNEXES = {
    "worker_codes": "EmployeeCodes2022-2_2.txt",
    "remuneration_codes": "Renumerations_07.txt",
    "working_time_codes": "WorkingTimeCodes2022-2_8.txt",
    "employee_statuses": "EmployeeStatuses2022-3-21.txt",
    "employer_categories": "EmployerCategories2022-1_27.txt",
    "error_codes": "ErrorCodes2022-1_30.txt",
    "declarant_roles": "DeclarantRole2014-1_39.txt",
}

DIMONA_WORKER_TYPES = frozenset(
    {
        "A17",
        "ALT",
        "BCW",
        "DWD",
        "EXT",
        "FLX",
        "IVT",
        "O17",
        "PMP",
        "RTA",
        "S17",
        "STU",
        "T17",
        "TEA",
        "TRI",
        "STG",
        "OTH",
    }
)
"""Zone 00655 as enumerated by ``Dimona_20231.xsd``."""

WORKER_TYPES_ENDED = {"A17": 2021, "TEA": 2022, "QUA": 2023, "STX": 2014}
"""Worker types the XSD still lists (or that older files carry) but that may not be used after that year."""

DIMONA_JOINT_COMMITTEES = frozenset({"124", "140", "144", "145", "149", "302", "320", "322", "XXX"})
"""The joint committees Dimona distinguishes (zone 00046 in Dimona); ``XXX`` = every other sector."""

DECLARANT_EMPLOYER = 10
DECLARANT_SOCIAL_SECRETARIAT = 11
DECLARANT_SERVICE_PROVIDER = 12
MANDATE_ROLES = frozenset({DECLARANT_SOCIAL_SECRETARIAT, DECLARANT_SERVICE_PROVIDER})


@dataclass(frozen=True, slots=True)
class Code:
    """One line of an annex: the code, its Dutch label, the extra facts of the line, the last valid year."""

    code: str
    label: str
    extra: dict[str, str]
    end_year: int

    def valid_in(self, year: int) -> bool:
        return year <= self.end_year


_EXTRA = re.compile(r"(\w+)=(\S+)")


def _parse_line(line: str) -> Code | None:
    parts = [p.strip() for p in line.rstrip("\n").split(" | ")]
    if len(parts) < 2 or not parts[0]:
        return None
    end = 9999
    extra: dict[str, str] = {}
    for part in parts[2:]:
        if part.startswith("end="):
            end = int(part[4:]) if part[4:].isdigit() else 9999
        else:
            extra.update(_EXTRA.findall(part))
    return Code(code=parts[0], label=parts[1], extra=extra, end_year=end)


@cache
def annex(name: str) -> dict[str, Code]:
    """The codes of one annex by code; where a code is listed twice, the line valid longest wins."""
    if name not in ANNEXES:
        raise KeyError(f"unknown annex {name!r}; known: {', '.join(sorted(ANNEXES))}")
    text = (resources.files("kruispunt.employers") / "data" / "annexes" / ANNEXES[name]).read_text("utf-8")
    out: dict[str, Code] = {}
    for line in text.splitlines():
        code = _parse_line(line)
        if code is not None and (code.code not in out or out[code.code].end_year < code.end_year):
            out[code.code] = code
    return out


def error_label(code: str) -> str:
    """The annex-30 wording of a general error code (``"004"`` → "Ongeldig controlegetal")."""
    found = annex("error_codes").get(code)
    return found.label if found else f"error {code}"


def is_valid_code(name: str, code: str, year: int) -> bool:
    found = annex(name).get(code)
    return found is not None and found.valid_in(year)
