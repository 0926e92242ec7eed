"""Deliberations of the Information Security Committee as versioned data, and the authorisation check.

Each file in the repository folder ``deliberations/`` is one deliberation (YAML). At start-up the hub loads
and checks them all against the registry and the catalogue (:func:`load_deliberations`): a bad file stops the
start with a message naming the file and the problem. :meth:`DeliberationIndex.authorise` then answers, from a
pre-built index, whether a requester may ask a message type under a legal context on a date — and if not, why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from kruispunt.network.catalogue import Catalogue, FieldFilter, path_is_within, path_tokens
from kruispunt.network.registry import Institution, Registry, is_valid_kbo


class DeliberationError(ValueError):
    """One or more deliberation files are invalid; ``problems`` lists each as ``<file>: <problem>``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class RefusalReason(StrEnum):
    NO_DELIBERATION = "NO_DELIBERATION"
    LEGAL_CONTEXT_NOT_ALLOWED = "LEGAL_CONTEXT_NOT_ALLOWED"
    DELIBERATION_EXPIRED = "DELIBERATION_EXPIRED"
    DELIBERATION_NOT_YET_VALID = "DELIBERATION_NOT_YET_VALID"


# ------------------------------------------------------------------------------------------------------------
# the file format


LegalContext = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*:[A-Z][A-Z0-9_]*$", max_length=64)]
Kbo = Annotated[str, StringConstraints(pattern=r"^[01][0-9]{9}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequesterSpec(_Strict):
    sector: int = Field(ge=0, le=999)
    institution_type: int | None = Field(default=None, ge=0, le=999)
    institution: Kbo | None = None


class MessageRef(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)
    name: str
    version: str


class CapacityRef(_Strict):
    sector: int = Field(ge=0, le=999)
    code: int = Field(ge=0)


class DeliberationFile(_Strict):
    """The schema of one deliberation file (every key checked; unknown keys refused)."""

    id: str = Field(pattern=r"^[0-9]{2}/[0-9]{3}$", description="Number, e.g. 24/001")
    date: dt.date
    title: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    requesters: list[RequesterSpec] = Field(min_length=1)
    providers: list[Kbo] = Field(min_length=1)
    message_types: list[MessageRef] = Field(min_length=1)
    legal_contexts: list[LegalContext] = Field(min_length=1)
    capacities: list[CapacityRef] = Field(default_factory=list)
    fields: dict[str, list[str] | Literal["*"]]
    valid_from: dt.date
    valid_to: dt.date | None = None
    retention_years: int = Field(ge=1, le=100)
    requires_integration: bool = True
    max_per_day: int | None = Field(
        default=None,
        ge=1,
        description="Quota: messages one requesting institution may send per day under this deliberation.",
    )


# ------------------------------------------------------------------------------------------------------------
# in-memory objects


class CapacityGrant(NamedTuple):
    """A capacity code of a sector with which the requester must have integrated the person."""

    sector: int
    code: int


@dataclass(frozen=True, slots=True)
class RequesterRule:
    sector: int
    institution_type: int | None = None
    institution: str | None = None

    def matches(self, inst: Institution) -> bool:
        if self.institution is not None:
            return inst.kbo == self.institution
        return inst.sector == self.sector and (
            self.institution_type is None or inst.institution_type == self.institution_type
        )


@dataclass(frozen=True, eq=False, repr=False)
class Deliberation:
    id: str
    date: dt.date
    title: str
    legal_basis: str
    requesters: tuple[RequesterRule, ...]
    providers: tuple[str, ...]
    message_types: tuple[tuple[str, str], ...]
    legal_contexts: tuple[str, ...]
    capacities: tuple[CapacityGrant, ...]
    fields: Mapping[str, tuple[str, ...]]
    valid_from: dt.date
    valid_to: dt.date | None
    retention_years: int
    requires_integration: bool
    max_per_day: int | None = None
    source: str = ""
    _filters: Mapping[str, FieldFilter] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Deliberation(id={self.id!r}, source={self.source!r})"

    def valid_on(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    def capacities_for(self, sector: int) -> frozenset[int]:
        """The capacity codes with which an institution of ``sector`` must have integrated the person."""
        return frozenset(code for s, code in self.capacities if s == sector)

    def field_filter(self, message_type: str) -> FieldFilter:
        """The compiled reply filter for ``message_type`` (allows nothing for other types)."""
        found = self._filters.get(message_type)
        return found if found is not None else _NOTHING

    def allows_provider(self, kbo: str) -> bool:
        return kbo in self.providers

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "date": self.date.isoformat(),
            "title": self.title,
            "legal_basis": self.legal_basis,
            "requesters": [
                {
                    k: v
                    for k, v in (
                        ("sector", r.sector),
                        ("institution_type", r.institution_type),
                        ("institution", r.institution),
                    )
                    if v is not None
                }
                for r in self.requesters
            ],
            "providers": list(self.providers),
            "message_types": [{"name": n, "version": v} for n, v in self.message_types],
            "legal_contexts": list(self.legal_contexts),
            "capacities": [{"sector": s, "code": c} for s, c in self.capacities],
            "fields": {k: list(v) for k, v in self.fields.items()},
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "retention_years": self.retention_years,
            "requires_integration": self.requires_integration,
            "max_per_day": self.max_per_day,
        }


_NOTHING = FieldFilter(())


@dataclass(frozen=True, slots=True)
class Authorisation:
    """The answer of :meth:`DeliberationIndex.authorise`: a deliberation, or why there is none."""

    deliberation: Deliberation | None
    reason_code: RefusalReason | None = None
    diagnostic: str | None = None
    capacities: frozenset[int] = frozenset()
    fields: FieldFilter = _NOTHING

    @property
    def ok(self) -> bool:
        return self.deliberation is not None

    @property
    def requires_integration(self) -> bool:
        return self.deliberation.requires_integration if self.deliberation is not None else True


class DeliberationIndex:
    """Every deliberation, indexed by (requester, message type, version) for O(1) authorisation."""

    def __init__(self, deliberations: Iterable[Deliberation]) -> None:
        self._all: dict[str, Deliberation] = {}
        by_kbo: dict[tuple[str, str, str], list[Deliberation]] = {}
        by_pair: dict[tuple[int, int, str, str], list[Deliberation]] = {}
        by_sector: dict[tuple[int, str, str], list[Deliberation]] = {}
        for d in deliberations:
            if d.id in self._all:
                raise DeliberationError([f"{d.source}: deliberation {d.id} also in {self._all[d.id].source}"])
            self._all[d.id] = d
            for rule in d.requesters:
                for name, version in d.message_types:
                    if rule.institution is not None:
                        by_kbo.setdefault((rule.institution, name, version), []).append(d)
                    elif rule.institution_type is not None:
                        by_pair.setdefault((rule.sector, rule.institution_type, name, version), []).append(d)
                    else:
                        by_sector.setdefault((rule.sector, name, version), []).append(d)

        def newest_first(index: dict[Any, list[Deliberation]]) -> dict[Any, tuple[Deliberation, ...]]:
            return {
                k: tuple(sorted(v, key=lambda d: (d.valid_from, d.id), reverse=True))
                for k, v in index.items()
            }

        self._by_kbo = newest_first(by_kbo)
        self._by_pair = newest_first(by_pair)
        self._by_sector = newest_first(by_sector)

    def __len__(self) -> int:
        return len(self._all)

    def all(self) -> list[Deliberation]:
        return [self._all[k] for k in sorted(self._all)]

    def get(self, deliberation_id: str) -> Deliberation | None:
        return self._all.get(deliberation_id)

    def candidates(self, requester: Institution, message_type: str, version: str) -> tuple[Deliberation, ...]:
        """Deliberations naming this requester and message type, most specific first, newest first."""
        return (
            self._by_kbo.get((requester.kbo, message_type, version), ())
            + self._by_pair.get((requester.sector, requester.institution_type, message_type, version), ())
            + self._by_sector.get((requester.sector, message_type, version), ())
        )

    def authorise(
        self, *, requester: Institution, message_type: str, version: str, legal_context: str, on: dt.date
    ) -> Authorisation:
        """May ``requester`` ask ``message_type``/``version`` under ``legal_context`` on ``on``?"""
        candidates = self.candidates(requester, message_type, version)
        if not candidates:
            return Authorisation(
                None,
                RefusalReason.NO_DELIBERATION,
                f"no deliberation authorises {requester.name} ({requester.kbo}, sector {requester.sector}/"
                f"{requester.institution_type}) to ask {message_type} v{version}",
            )
        in_context = [d for d in candidates if legal_context in d.legal_contexts]
        if not in_context:
            allowed = sorted({c for d in candidates for c in d.legal_contexts})
            return Authorisation(
                None,
                RefusalReason.LEGAL_CONTEXT_NOT_ALLOWED,
                f"legal context {legal_context!r} is not allowed for {message_type} v{version} "
                f"(deliberation {', '.join(d.id for d in candidates)}: {', '.join(allowed)})",
            )
        for d in in_context:
            if d.valid_on(on):
                return Authorisation(
                    d, capacities=d.capacities_for(requester.sector), fields=d.field_filter(message_type)
                )
        expired = [d for d in in_context if d.valid_to is not None and d.valid_to < on]
        if expired:
            last = max(expired, key=lambda d: d.valid_to or dt.date.min)
            return Authorisation(
                None,
                RefusalReason.DELIBERATION_EXPIRED,
                f"deliberation {last.id} expired on {last.valid_to}",
            )
        first = min(in_context, key=lambda d: d.valid_from)
        return Authorisation(
            None,
            RefusalReason.DELIBERATION_NOT_YET_VALID,
            f"deliberation {first.id} is in force from {first.valid_from}",
        )


# ------------------------------------------------------------------------------------------------------------
# loading and checking


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key written twice in one mapping (PyYAML silently keeps the last)."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _pydantic_problems(name: str, exc: PydanticValidationError) -> list[str]:
    problems = []
    for e in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(file)"
        if e["type"] == "extra_forbidden":
            problems.append(f"{name}: {loc}: unknown key")
        elif e["type"] == "missing":
            problems.append(f"{name}: {loc}: missing key")
        else:
            problems.append(f"{name}: {loc}: {e['msg']}")
    return problems


def check_deliberation(
    model: DeliberationFile, *, registry: Registry, catalogue: Catalogue, name: str
) -> list[str]:
    """Every consistency problem of one parsed deliberation against the registry and catalogue."""
    problems: list[str] = []

    def bad(message: str) -> None:
        problems.append(f"{name}: {message}")

    requester_sectors: set[int] = set()
    for i, r in enumerate(model.requesters):
        requester_sectors.add(r.sector)
        if r.institution_type is not None and not registry.sector_known(r.sector, r.institution_type):
            bad(f"requesters.{i}: unknown sector/institution type {r.sector}/{r.institution_type}")
        elif not registry.sector_known(r.sector):
            bad(f"requesters.{i}: unknown sector {r.sector}")
        if r.institution is not None:
            inst = registry.institution(r.institution)
            if not is_valid_kbo(r.institution):
                bad(f"requesters.{i}: {r.institution} is not a valid KBO number")
            elif inst is None:
                bad(f"requesters.{i}: unknown institution {r.institution}")
            elif inst.sector != r.sector or (
                r.institution_type is not None and inst.institution_type != r.institution_type
            ):
                bad(
                    f"requesters.{i}: institution {r.institution} is sector "
                    f"{inst.sector}/{inst.institution_type}, not "
                    f"{r.sector}/{r.institution_type if r.institution_type is not None else '*'}"
                )

    for i, kbo in enumerate(model.providers):
        if not is_valid_kbo(kbo):
            bad(f"providers.{i}: {kbo} is not a valid KBO number")
        elif registry.institution(kbo) is None:
            bad(f"providers.{i}: unknown provider institution {kbo}")

    message_types = []
    for i, ref in enumerate(model.message_types):
        mt = catalogue.get(ref.name, ref.version)
        if mt is None:
            known = catalogue.versions(ref.name)
            hint = f" (known versions: {', '.join(known)})" if known else " (no such message type)"
            bad(f"message_types.{i}: unknown message type {ref.name} v{ref.version}{hint}")
        else:
            message_types.append(mt)
    if len({(r.name, r.version) for r in model.message_types}) != len(model.message_types):
        bad("message_types: a message type is listed twice")

    if message_types:
        served = {p.institution for mt in message_types for p in mt.providers}
        for kbo in model.providers:
            if registry.institution(kbo) is not None and kbo not in served:
                bad(f"providers: {kbo} provides none of the listed message types")

    for i, cap in enumerate(model.capacities):
        if not registry.sector_known(cap.sector):
            bad(f"capacities.{i}: unknown sector {cap.sector}")
        elif registry.capacity(cap.sector, cap.code) is None:
            bad(f"capacities.{i}: unknown capacity {cap.code} for sector {cap.sector}")
        elif cap.sector not in requester_sectors:
            bad(f"capacities.{i}: capacity {cap.sector}/{cap.code} is not of a requester's sector")
    if model.requires_integration and not model.capacities:
        bad("capacities: requires_integration is true but no capacity is listed")

    listed_names = {r.name for r in model.message_types}
    for mt_name, paths in model.fields.items():
        if mt_name not in listed_names:
            bad(f"fields.{mt_name}: not one of the deliberation's message types")
            continue
        if paths == "*":
            continue
        versions = [mt for mt in message_types if mt.name == mt_name]
        for path in paths:
            try:
                path_tokens(path)
            except ValueError as exc:
                bad(f"fields.{mt_name}: {exc}")
                continue
            for mt in versions:
                if not path_is_within(path, mt.reply_fields):
                    bad(f"fields.{mt_name}: {path!r} is not a reply field of {mt.name} v{mt.version}")
    for mt_name in sorted(listed_names - set(model.fields)):
        bad(f"fields: no allowed fields for message type {mt_name}")

    if model.valid_to is not None and model.valid_to < model.valid_from:
        bad(f"valid_to {model.valid_to} is before valid_from {model.valid_from}")
    return problems


def _build(model: DeliberationFile, name: str) -> Deliberation:
    fields: dict[str, tuple[str, ...]] = {
        k: ("*",) if v == "*" else tuple(v) for k, v in model.fields.items()
    }
    return Deliberation(
        id=model.id,
        date=model.date,
        title=model.title,
        legal_basis=model.legal_basis,
        requesters=tuple(
            RequesterRule(r.sector, r.institution_type, r.institution) for r in model.requesters
        ),
        providers=tuple(dict.fromkeys(model.providers)),
        message_types=tuple((m.name, m.version) for m in model.message_types),
        legal_contexts=tuple(dict.fromkeys(model.legal_contexts)),
        capacities=tuple(dict.fromkeys(CapacityGrant(c.sector, c.code) for c in model.capacities)),
        fields=MappingProxyType(fields),
        valid_from=model.valid_from,
        valid_to=model.valid_to,
        retention_years=model.retention_years,
        requires_integration=model.requires_integration,
        max_per_day=model.max_per_day,
        source=name,
        _filters=MappingProxyType({k: FieldFilter(v) for k, v in fields.items()}),
    )


def parse_deliberation(
    text: str, *, name: str, registry: Registry, catalogue: Catalogue
) -> tuple[Deliberation | None, list[str]]:
    """One deliberation from YAML text, or None and the problems found."""
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        return None, [f"{name}: YAML syntax error: {' '.join(str(exc).split())}"]
    if not isinstance(doc, dict):
        return None, [f"{name}: expected a mapping of deliberation keys, got {type(doc).__name__}"]
    try:
        model = DeliberationFile.model_validate(doc)
    except PydanticValidationError as exc:
        return None, _pydantic_problems(name, exc)
    problems = check_deliberation(model, registry=registry, catalogue=catalogue, name=name)
    if problems:
        return None, problems
    return _build(model, name), []


def load_deliberations(folder: Path, *, registry: Registry, catalogue: Catalogue) -> DeliberationIndex:
    """Load and check every ``*.yaml``/``*.yml`` file of ``folder``; DeliberationError lists each problem."""
    if not folder.is_dir():
        raise DeliberationError([f"{folder}: not a folder of deliberations"])
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    problems: list[str] = []
    loaded: list[Deliberation] = []
    first_file: dict[str, str] = {}
    for path in files:
        name = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{name}: cannot read: {exc}")
            continue
        deliberation, found = parse_deliberation(text, name=name, registry=registry, catalogue=catalogue)
        problems.extend(found)
        if deliberation is None:
            continue
        if deliberation.id in first_file:
            problems.append(
                f"{name}: duplicate deliberation id {deliberation.id} (also in {first_file[deliberation.id]})"
            )
            continue
        first_file[deliberation.id] = name
        loaded.append(deliberation)
    if problems:
        raise DeliberationError(problems)
    return DeliberationIndex(loaded)
