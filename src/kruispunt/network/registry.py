"""Sectors, capacity codes and institutions of the network — who is who, held in memory.

Why in memory: the hub identifies the caller and looks up providers on every message, so every lookup here is
a dict access. The data come from the official CBSS lists (``data/sectors.csv``, ``data/capacities.csv``) and
the demo network (``data/institutions.yaml``), or from the hub database (``from_db``) once seeded there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

import yaml
from sqlalchemy import Connection, select

from kruispunt.ids import is_valid_enterprise_number

Register = Literal["PRIMARY", "SECONDARY"]


def is_valid_kbo(number: str) -> bool:
    """A KBO enterprise number written exactly as the data files must: 10 ASCII digits, valid check."""
    return len(number) == 10 and number.isascii() and number.isdigit() and is_valid_enterprise_number(number)


@dataclass(frozen=True, slots=True)
class Sector:
    """One (sector code, institution type) pair of the official list; type 0 is the sector's managing body."""

    code: int
    institution_type: int
    short_name: str
    name_nl: str
    name_fr: str
    short_name_fr: str = ""


@dataclass(frozen=True, slots=True)
class Capacity:
    """A capacity code (hoedanigheid); ``sector`` None means valid in every sector (``*`` in the list)."""

    sector: int | None
    code: int
    label_fr: str
    label_nl: str
    label_de: str | None = None


@dataclass(frozen=True, slots=True)
class Institution:
    """A network member. ``service``: the kruispunt service serving its data (None: it only asks)."""

    kbo: str
    name: str
    sector: int
    institution_type: int
    service: str | None = None
    endpoint: str | None = None

    @property
    def register(self) -> Register:
        """Where its persons-directory lines live: PRIMARY (KSZ) for type 0, else SECONDARY (its sector's)."""
        return "PRIMARY" if self.institution_type == 0 else "SECONDARY"


class RegistryError(ValueError):
    """The reference data are inconsistent (bad KBO, unknown sector, duplicate …)."""


class UnknownInstitution(Exception):
    """The caller could not be identified.

    ``code``: UNKNOWN_CBE | UNKNOWN_SECTOR | NO_INSTITUTION | AMBIGUOUS | MISMATCH | MISSING.
    """

    def __init__(self, reason: str, code: str = "UNKNOWN_INSTITUTION") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def _clean(value: str) -> str:
    return " ".join(value.split())


def parse_sectors(text: str) -> list[Sector]:
    """Parse the official sector list (two header lines; blank code = sub-type of the previous sector)."""
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    sectors: list[Sector] = []
    seen: set[tuple[int, int]] = set()
    current: int | None = None
    for number, row in enumerate(rows[2:], start=3):
        cells = [*row, "", "", "", "", "", ""][:6]
        if not any(c.strip() for c in cells):
            continue
        code_s, type_s = cells[0].strip(), cells[1].strip()
        if code_s:
            if not code_s.isdigit():
                raise RegistryError(f"sectors.csv row {number}: sector code {code_s!r} is not a number")
            current = int(code_s)
        if current is None:
            raise RegistryError(f"sectors.csv row {number}: sub-type before any sector code")
        if not type_s.isdigit():
            raise RegistryError(f"sectors.csv row {number}: institution type {type_s!r} is not a number")
        key = (current, int(type_s))
        if key in seen:
            raise RegistryError(f"sectors.csv row {number}: sector {key[0]}/{key[1]} listed twice")
        seen.add(key)
        sectors.append(
            Sector(
                code=key[0],
                institution_type=key[1],
                short_name=_clean(cells[2]),
                name_nl=_clean(cells[3]),
                name_fr=_clean(cells[5]),
                short_name_fr=_clean(cells[4]),
            )
        )
    return sectors


def parse_capacities(text: str) -> list[Capacity]:
    """Parse the capacity list (``sector;capacity_code;label_fr;label_nl``; sector ``*`` = every sector)."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=";"))
    capacities: list[Capacity] = []
    seen: set[tuple[int | None, int]] = set()
    for number, row in enumerate(rows[1:], start=2):
        cells = [*row, "", "", "", ""][:4]
        if not any(c.strip() for c in cells):
            continue
        sector_s, code_s = cells[0].strip(), cells[1].strip()
        if not code_s.isdigit() or not (sector_s == "*" or sector_s.isdigit()):
            raise RegistryError(f"capacities.csv row {number}: bad sector/code {sector_s!r}/{code_s!r}")
        sector = None if sector_s == "*" else int(sector_s)
        key = (sector, int(code_s))
        if key in seen:
            raise RegistryError(f"capacities.csv row {number}: capacity {sector_s}/{code_s} listed twice")
        seen.add(key)
        nl, _, de = cells[3].partition(" | ")
        capacities.append(
            Capacity(
                sector=sector,
                code=key[1],
                label_fr=_clean(cells[2]),
                label_nl=_clean(nl),
                label_de=_clean(de) or None,
            )
        )
    return capacities


def parse_institutions(text: str) -> list[Institution]:
    """Parse ``institutions.yaml`` (a mapping with an ``institutions`` list)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"institutions.yaml: {exc}") from exc
    items = doc.get("institutions") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise RegistryError("institutions.yaml: expected a mapping with an 'institutions' list")
    result: list[Institution] = []
    expected = {"kbo", "name", "sector", "institution_type", "service", "endpoint"}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not {"kbo", "name", "sector", "institution_type"} <= item.keys():
            raise RegistryError(f"institutions.yaml item {index}: needs kbo, name, sector, institution_type")
        extra = set(item) - expected
        if extra:
            raise RegistryError(f"institutions.yaml item {index}: unknown keys {sorted(extra)}")
        if not isinstance(item["sector"], int) or not isinstance(item["institution_type"], int):
            raise RegistryError(
                f"institutions.yaml item {index}: sector and institution_type must be integers"
            )
        result.append(
            Institution(
                kbo=str(item["kbo"]),
                name=str(item["name"]),
                sector=item["sector"],
                institution_type=item["institution_type"],
                service=item.get("service"),
                endpoint=item.get("endpoint"),
            )
        )
    return result


def _read_data(name: str) -> str:
    return (resources.files("kruispunt.network") / "data" / name).read_text(encoding="utf-8")


class Registry:
    """Immutable in-memory view of sectors, capacities and institutions, indexed for the hub's lookups."""

    def __init__(
        self,
        *,
        sectors: Iterable[Sector],
        capacities: Iterable[Capacity],
        institutions: Iterable[Institution],
    ) -> None:
        self._sectors: Mapping[tuple[int, int], Sector] = MappingProxyType(
            {(s.code, s.institution_type): s for s in sectors}
        )
        self._sector_codes = frozenset(code for code, _ in self._sectors)
        self._capacities: Mapping[tuple[int | None, int], Capacity] = MappingProxyType(
            {(c.sector, c.code): c for c in capacities}
        )
        by_kbo: dict[str, Institution] = {}
        by_pair: dict[tuple[int, int], list[Institution]] = {}
        by_service: dict[str, list[Institution]] = {}
        for inst in institutions:
            if not is_valid_kbo(inst.kbo):
                raise RegistryError(f"institution {inst.name!r}: {inst.kbo!r} is not a valid KBO number")
            if inst.kbo in by_kbo:
                raise RegistryError(f"institution {inst.kbo} listed twice")
            if (inst.sector, inst.institution_type) not in self._sectors:
                raise RegistryError(
                    f"institution {inst.kbo} ({inst.name}): sector {inst.sector}/{inst.institution_type} "
                    "is not in the sector list"
                )
            by_kbo[inst.kbo] = inst
            by_pair.setdefault((inst.sector, inst.institution_type), []).append(inst)
            if inst.service:
                by_service.setdefault(inst.service, []).append(inst)
        self._institutions: Mapping[str, Institution] = MappingProxyType(by_kbo)
        self._by_pair = {k: tuple(v) for k, v in by_pair.items()}
        self._by_service = {k: tuple(v) for k, v in by_service.items()}

    # -- construction ----------------------------------------------------------------------------------------

    @classmethod
    def load_default(cls) -> Registry:
        """The registry from the package data files (parsed once per process; the object is immutable)."""
        return _default_registry()

    @classmethod
    def from_db(cls, conn: Connection) -> Registry:
        """The registry as seeded in the hub database (``directory.seed_registry``), endpoints included."""
        from kruispunt.network.models import capacity_table, institution_table, sector_table

        sectors = [
            Sector(
                code=r.code,
                institution_type=r.institution_type,
                short_name=r.short_name,
                name_nl=r.name_nl,
                name_fr=r.name_fr,
                short_name_fr=r.short_name_fr,
            )
            for r in conn.execute(select(sector_table))
        ]
        capacities = [
            Capacity(
                sector=r.sector, code=r.code, label_fr=r.label_fr, label_nl=r.label_nl, label_de=r.label_de
            )
            for r in conn.execute(select(capacity_table))
        ]
        institutions = [
            Institution(
                kbo=r.kbo,
                name=r.name,
                sector=r.sector,
                institution_type=r.institution_type,
                service=r.service,
                endpoint=r.endpoint,
            )
            for r in conn.execute(select(institution_table).order_by(institution_table.c.kbo))
        ]
        return cls(sectors=sectors, capacities=capacities, institutions=institutions)

    def with_endpoints(self, endpoints: Mapping[str, str]) -> Registry:
        """A copy where every institution served by a service named in ``endpoints`` gets that URL."""
        return Registry(
            sectors=self._sectors.values(),
            capacities=self._capacities.values(),
            institutions=[
                replace(i, endpoint=endpoints[i.service])
                if i.service is not None and i.service in endpoints
                else i
                for i in self._institutions.values()
            ],
        )

    # -- lookups ---------------------------------------------------------------------------------------------

    def sectors(self) -> list[Sector]:
        return sorted(self._sectors.values(), key=lambda s: (s.code, s.institution_type))

    def sector(self, code: int, institution_type: int = 0) -> Sector | None:
        return self._sectors.get((code, institution_type))

    def sector_known(self, code: int, institution_type: int | None = None) -> bool:
        """Whether the pair is in the official list (``institution_type`` None: whether the code exists)."""
        if institution_type is None:
            return code in self._sector_codes
        return (code, institution_type) in self._sectors

    def capacities(self, sector: int | None = None) -> list[Capacity]:
        """Every capacity, or those valid in ``sector`` (its own codes and the ``*`` codes)."""
        items = [
            c for c in self._capacities.values() if sector is None or c.sector is None or c.sector == sector
        ]
        return sorted(items, key=lambda c: (-1 if c.sector is None else c.sector, c.code))

    def capacity(self, sector: int, code: int) -> Capacity | None:
        """The capacity ``code`` of ``sector``, or the network-wide (``*``) one, or None."""
        return self._capacities.get((sector, code)) or self._capacities.get((None, code))

    def institutions(self) -> list[Institution]:
        return sorted(self._institutions.values(), key=lambda i: (i.sector, i.institution_type, i.kbo))

    def institution(self, kbo: str) -> Institution | None:
        return self._institutions.get(kbo)

    def institutions_in(self, sector: int, institution_type: int) -> tuple[Institution, ...]:
        return self._by_pair.get((sector, institution_type), ())

    def institutions_for_service(self, name: str) -> tuple[Institution, ...]:
        return self._by_service.get(name, ())

    def identify(
        self, *, cbe_number: str | None = None, sector: int | None = None, institution_type: int | None = None
    ) -> Institution:
        """The calling institution, by CBE (KBO) number or by (sector, institution type).

        With a CBE number and a sector, both must agree. Without a CBE number, a missing institution type
        means 0 (the sector's managing body, as a classic MatrixID without MatrixSubID). A pair shared by
        several institutions (e.g. 17/1, every OCMW) cannot identify one: the caller must use its CBE number.
        """
        if cbe_number is not None:
            inst = self._institutions.get(cbe_number)
            if inst is None:
                raise UnknownInstitution(f"unknown CBE number {cbe_number!r}", "UNKNOWN_CBE")
            if sector is not None and (
                sector != inst.sector
                or (institution_type is not None and institution_type != inst.institution_type)
            ):
                raise UnknownInstitution(
                    f"CBE number {cbe_number} is sector {inst.sector}/{inst.institution_type}, not "
                    f"{sector}/{institution_type if institution_type is not None else 0}",
                    "MISMATCH",
                )
            return inst
        if sector is None:
            raise UnknownInstitution("identify with cbeNumber or with sector and institution type", "MISSING")
        pair = (sector, 0 if institution_type is None else institution_type)
        if pair not in self._sectors:
            raise UnknownInstitution(f"unknown sector {pair[0]}/{pair[1]}", "UNKNOWN_SECTOR")
        found = self._by_pair.get(pair, ())
        if not found:
            raise UnknownInstitution(
                f"no institution of sector {pair[0]}/{pair[1]} in the network", "NO_INSTITUTION"
            )
        if len(found) > 1:
            raise UnknownInstitution(
                f"ambiguous: {len(found)} institutions share sector {pair[0]}/{pair[1]}; "
                "identify with cbeNumber",
                "AMBIGUOUS",
            )
        return found[0]

    def to_dict(self) -> dict[str, Any]:
        """Counts, for health pages and logs."""
        return {
            "sectors": len(self._sectors),
            "capacities": len(self._capacities),
            "institutions": len(self._institutions),
        }


@cache
def _default_registry() -> Registry:
    return Registry(
        sectors=parse_sectors(_read_data("sectors.csv")),
        capacities=parse_capacities(_read_data("capacities.csv")),
        institutions=parse_institutions(_read_data("institutions.yaml")),
    )
