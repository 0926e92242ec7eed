"""The catalogue of harmonised statuses, derived rights and granting bodies (``data/*.yaml``), checked once.

Checked at load so that a mistake in the data is a clear error at start-up, never a right silently not
granted: valid KBO numbers, institutions of the network, kinds held by the source that feeds the status,
each (institution, kind) feeding one status only, rights naming known statuses and bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kruispunt.ids import validate_enterprise_number
from kruispunt.network.registry import Registry
from kruispunt.rights.rules import EndRule, StartRule
from kruispunt.sources.social.definitions import SourceDef
from kruispunt.sources.social.definitions import load_definitions as load_source_definitions

Extent = Literal["person", "household"]


class DefinitionError(ValueError):
    """The rights catalogue is wrong: says which file, where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Feed(_Strict):
    sector: int | None = Field(default=None, ge=0, le=999)
    institutions: tuple[str, ...] | None = None
    kinds: tuple[str, ...] = Field(min_length=1)

    @field_validator("institutions")
    @classmethod
    def _kbos(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(validate_enterprise_number(v) for v in value)

    @model_validator(mode="after")
    def _one_origin(self) -> _Feed:
        if (self.sector is None) == (self.institutions is None):
            raise ValueError("give a sector or a list of institutions")
        return self


class _Status(_Strict):
    title: str = Field(min_length=1)
    feeds: tuple[_Feed, ...] = Field(min_length=1)


class _StatusesFile(_Strict):
    statuses: dict[str, _Status] = Field(min_length=1)


class _Right(_Strict):
    title: str = Field(min_length=1)
    body: str
    statuses: tuple[str, ...] = Field(min_length=1)
    extends_to: Extent
    start: StartRule
    end: EndRule
    lists: Literal["none", "quarterly"] = "none"
    list_per: Literal["energy_supplier"] | None = None


class _RightsFile(_Strict):
    rights: dict[str, _Right] = Field(min_length=1)


class _Body(_Strict):
    kbo: str
    name: str = Field(min_length=1)

    @field_validator("kbo")
    @classmethod
    def _valid(cls, value: str) -> str:
        return validate_enterprise_number(value)


class _BodiesFile(_Strict):
    bodies: dict[str, _Body] = Field(min_length=1)
    energy_suppliers: tuple[_Body, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusDef:
    """A harmonised status and the (institution KBO, kind of file) pairs that make a person hold it."""

    code: str
    title: str
    sources: frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Body:
    """A granting body (or an energy supplier): who is told, by KBO."""

    key: str
    kbo: str
    name: str


@dataclass(frozen=True, slots=True)
class RightDef:
    """A derived right: who grants it, which statuses open it, to whom it extends, its start and end rules."""

    code: str
    title: str
    body: Body
    statuses: tuple[str, ...]
    extends_to: Extent
    start: StartRule
    end: EndRule
    lists: Literal["none", "quarterly"]
    list_per: Literal["energy_supplier"] | None


class Definitions:
    """The checked catalogue, with the look-ups the engine needs."""

    def __init__(
        self,
        *,
        statuses: Mapping[str, StatusDef],
        rights: Mapping[str, RightDef],
        bodies: Mapping[str, Body],
        suppliers: Mapping[str, Body],
        institution_names: Mapping[str, str],
    ) -> None:
        self.statuses = dict(statuses)
        self.rights = dict(rights)
        self.bodies = dict(bodies)
        self.suppliers = dict(suppliers)
        self.institution_names = dict(institution_names)
        self._by_source = {pair: s.code for s in self.statuses.values() for pair in s.sources}
        self._rights_by_status: dict[str, list[RightDef]] = {}
        for right in self.rights.values():
            for status in right.statuses:
                self._rights_by_status.setdefault(status, []).append(right)

    def status_for(self, *, source: str, kind: str) -> str | None:
        """The harmonised status a file of ``kind`` at ``source`` makes its holder hold (None: no status)."""
        return self._by_source.get((source, kind))

    def rights_opened_by(self, status: str) -> tuple[RightDef, ...]:
        return tuple(self._rights_by_status.get(status, ()))

    def right(self, code: str) -> RightDef | None:
        return self.rights.get(code)

    def body_byvalidate_enterprise_number(self, kbo: str) -> Body | None:
        return next((b for b in self.bodies.values() if b.kbo == kbo), None)

    def name_of(self, kbo: str) -> str:
        """The name of an institution, body or supplier, or the KBO itself when none is known."""
        if kbo in self.institution_names:
            return self.institution_names[kbo]
        body = self.body_byvalidate_enterprise_number(kbo) or self.suppliers.get(kbo)
        return body.name if body else kbo


def _model(model: type[BaseModel], text: str, label: str) -> Any:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{label}: not YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise DefinitionError(f"{label}: {problems}") from exc


def _kinds_by_institution(sources: Mapping[str, SourceDef]) -> dict[str, frozenset[str]]:
    held: dict[str, set[str]] = {}
    for source in sources.values():
        for kbo in source.institutions:
            held.setdefault(kbo, set()).update(source.kinds)
    return {kbo: frozenset(kinds) for kbo, kinds in held.items()}


def _status_sources(
    code: str, status: _Status, registry: Registry, held: Mapping[str, frozenset[str]]
) -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for n, feed in enumerate(status.feeds):
        where = f"statuses.yaml: status {code}, feed {n + 1}"
        if feed.sector is not None:
            kbos = [
                i.kbo
                for i in registry.institutions()
                if i.sector == feed.sector and set(feed.kinds) <= held.get(i.kbo, frozenset())
            ]
            if not kbos:
                raise DefinitionError(
                    f"{where}: no institution of sector {feed.sector} holds {', '.join(feed.kinds)}"
                )
        else:
            kbos = list(feed.institutions or ())
            for kbo in kbos:
                if registry.institution(kbo) is None:
                    raise DefinitionError(f"{where}: {kbo} is not an institution of the network")
                missing = sorted(set(feed.kinds) - held.get(kbo, frozenset()))
                if missing:
                    raise DefinitionError(f"{where}: {kbo} holds no files of kind {', '.join(missing)}")
        pairs.update((kbo, kind) for kbo in kbos for kind in feed.kinds)
    return frozenset(pairs)


def parse_definitions(
    *,
    statuses_text: str,
    rights_text: str,
    bodies_text: str,
    registry: Registry | None = None,
    sources: Mapping[str, SourceDef] | None = None,
) -> Definitions:
    """Parse and check the three files; :class:`DefinitionError` saying what is wrong where."""
    registry = registry or Registry.load_default()
    held = _kinds_by_institution(sources if sources is not None else load_source_definitions())
    statuses_file: _StatusesFile = _model(_StatusesFile, statuses_text, "statuses.yaml")
    rights_file: _RightsFile = _model(_RightsFile, rights_text, "rights.yaml")
    bodies_file: _BodiesFile = _model(_BodiesFile, bodies_text, "bodies.yaml")

    statuses: dict[str, StatusDef] = {}
    fed_by: dict[tuple[str, str], str] = {}
    for code, status in statuses_file.statuses.items():
        pairs = _status_sources(code, status, registry, held)
        for pair in pairs:
            if pair in fed_by:
                raise DefinitionError(
                    f"statuses.yaml: files of kind {pair[1]} at {pair[0]} feed both {fed_by[pair]} and {code}"
                )
            fed_by[pair] = code
        statuses[code] = StatusDef(code, status.title, pairs)

    bodies = {key: Body(key, b.kbo, b.name) for key, b in bodies_file.bodies.items()}
    suppliers = {b.kbo: Body(b.kbo, b.kbo, b.name) for b in bodies_file.energy_suppliers}
    if len(suppliers) != len(bodies_file.energy_suppliers):
        raise DefinitionError("bodies.yaml: an energy supplier is listed twice")

    rights: dict[str, RightDef] = {}
    for code, right in rights_file.rights.items():
        unknown = [s for s in right.statuses if s not in statuses]
        if unknown:
            raise DefinitionError(
                f"rights.yaml: right {code} names unknown status {', '.join(unknown)}; "
                f"known: {', '.join(sorted(statuses))}"
            )
        if right.body not in bodies:
            raise DefinitionError(
                f"rights.yaml: right {code} names unknown body {right.body}; "
                f"known: {', '.join(sorted(bodies))}"
            )
        if right.list_per == "energy_supplier" and not suppliers:
            raise DefinitionError(f"rights.yaml: right {code} lists per energy supplier but none is defined")
        rights[code] = RightDef(
            code=code,
            title=right.title,
            body=bodies[right.body],
            statuses=right.statuses,
            extends_to=right.extends_to,
            start=right.start,
            end=right.end,
            lists=right.lists,
            list_per=right.list_per,
        )
    names = {i.kbo: i.name for i in registry.institutions()}
    return Definitions(
        statuses=statuses, rights=rights, bodies=bodies, suppliers=suppliers, institution_names=names
    )


def data_text(name: str) -> str:
    """One of the packaged data files (``statuses.yaml``, ``rights.yaml``, ``bodies.yaml``)."""
    return (resources.files("kruispunt.rights") / "data" / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_definitions() -> Definitions:
    """The packaged catalogue, checked against the default registry and sources (parsed once per process)."""
    return parse_definitions(
        statuses_text=data_text("statuses.yaml"),
        rights_text=data_text("rights.yaml"),
        bodies_text=data_text("bodies.yaml"),
    )
