"""What each social-security source holds and serves, read from ``data/sources.yaml`` (see its header).

A :class:`SourceDef` per service: its role (``primary`` source, ``members`` host of a secondary network, or
``managing`` institution of one), the institutions it answers for, the kinds of file it holds (with the
capacity code each kind has in the persons directory and the attributes a file of that kind carries), and
per message type one handler: :class:`RecordsHandler`, :class:`AttestationHandler`,
:class:`ListAttestationsHandler` or :class:`DeclarationHandler`. A managing service serves the message
types of its members service.

The file is checked when it is loaded, so a typo fails at start-up and in the tests, not at the first
message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from kruispunt.ids import is_valid_enterprise_number

Role = Literal["primary", "members", "managing"]
RESERVED_RECORD_KEYS = frozenset({"kind", "institution", "start", "end"})
"""The keys every record has; a kind's attributes may not reuse them."""


class DefinitionError(ValueError):
    """``sources.yaml`` is not consistent."""


@dataclass(frozen=True)
class KindDef:
    name: str
    capacity: int
    attrs: tuple[str, ...]


@dataclass(frozen=True)
class RecordsHandler:
    """``{reply_key: [record, …]}``: the person's files of the listed kinds, grouped per reply key."""

    groups: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for _, kinds in self.groups:
            seen.update(dict.fromkeys(kinds))
        return tuple(seen)


@dataclass(frozen=True)
class AttestationHandler:
    """Issue a signed attestation for every file of ``kinds`` in force on the requested day."""

    kinds: tuple[str, ...]
    type: str
    legal_basis: str
    validity_days: int


@dataclass(frozen=True)
class ListAttestationsHandler:
    """The attestations issued earlier about the person."""


@dataclass(frozen=True)
class DeclarationHandler:
    """Receive a declaration sent to the institution (a social-risk declaration from the RSZ): store it as a
    file of ``kind`` keyed by its declaration id and integrate the person with that kind's capacity."""

    kind: str


Handler = RecordsHandler | AttestationHandler | ListAttestationsHandler | DeclarationHandler


@dataclass(frozen=True)
class SourceDef:
    name: str
    title: str
    role: Role
    institutions: tuple[str, ...]
    statuses: str | None = None
    component_prefix: str | None = None
    managed_by: str | None = None
    members: str | None = None
    kinds: Mapping[str, KindDef] = field(default_factory=dict)
    message_types: Mapping[str, Handler] = field(default_factory=dict)

    @property
    def several(self) -> bool:
        """The service answers for several institutions (its files are tagged with their holder)."""
        return len(self.institutions) > 1

    @property
    def declaration_kinds(self) -> frozenset[str]:
        """The kinds filled by received declarations (not by the simulated statuses)."""
        return frozenset(h.kind for h in self.message_types.values() if isinstance(h, DeclarationHandler))

    @property
    def issues_attestations(self) -> bool:
        return any(isinstance(h, AttestationHandler) for h in self.message_types.values())

    def component(self, kbo: str | None = None) -> str:
        """The database component: the service name, or ``<prefix>_<kbo>`` for a member."""
        if self.role == "members":
            if kbo is None or kbo not in self.institutions:
                raise ValueError(f"{self.name}: {kbo!r} is not one of its members")
            return f"{self.component_prefix}_{kbo}"
        return self.name


class _Kind(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: int = Field(ge=0, le=999)
    attrs: list[str]


class _Attestation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: list[str] = Field(min_length=1)
    type: str = Field(pattern=r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$", max_length=64)
    legal_basis: str = Field(min_length=1, max_length=1000)
    validity_days: int = Field(ge=1, le=3660)


class _Declaration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str


class _MessageType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: dict[str, list[str]] | None = None
    attestation: _Attestation | None = None
    list_attestations: dict[str, Any] | None = None
    declaration: _Declaration | None = None


class _Service(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    role: Role
    institutions: list[str] = Field(min_length=1)
    statuses: str | None = None
    component: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,40}$")
    managed_by: str | None = None
    members: str | None = None
    kinds: dict[str, _Kind] = Field(default_factory=dict)
    message_types: dict[str, _MessageType] = Field(default_factory=dict)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    services: dict[str, _Service]


def _handler(label: str, m: _MessageType, kinds: Mapping[str, KindDef]) -> Handler:
    given = [h for h in (m.records, m.attestation, m.list_attestations, m.declaration) if h is not None]
    if len(given) != 1:
        raise DefinitionError(
            f"{label}: give exactly one of records, attestation, list_attestations, declaration"
        )
    if m.declaration is not None:
        if m.declaration.kind not in kinds:
            raise DefinitionError(f"{label}: declaration names unknown kind {m.declaration.kind!r}")
        return DeclarationHandler(m.declaration.kind)
    if m.records is not None:
        if not m.records:
            raise DefinitionError(f"{label}: records names no reply key")
        for key, names in m.records.items():
            if not names:
                raise DefinitionError(f"{label}: reply key {key!r} lists no kind")
            for name in names:
                if name not in kinds:
                    raise DefinitionError(f"{label}: reply key {key!r} names unknown kind {name!r}")
        return RecordsHandler(tuple((key, tuple(names)) for key, names in m.records.items()))
    if m.attestation is not None:
        for name in m.attestation.kinds:
            if name not in kinds:
                raise DefinitionError(f"{label}: attestation names unknown kind {name!r}")
        return AttestationHandler(
            kinds=tuple(m.attestation.kinds),
            type=m.attestation.type,
            legal_basis=" ".join(m.attestation.legal_basis.split()),
            validity_days=m.attestation.validity_days,
        )
    if m.list_attestations:
        raise DefinitionError(f"{label}: list_attestations takes no options")
    return ListAttestationsHandler()


def parse_definitions(doc: Any) -> dict[str, SourceDef]:
    """Check and convert the parsed YAML document."""
    try:
        parsed = _File.model_validate(doc)
    except ValueError as exc:
        raise DefinitionError(f"sources.yaml: {exc}") from exc
    out: dict[str, SourceDef] = {}
    for name, s in parsed.services.items():
        for kbo in s.institutions:
            if not is_valid_enterprise_number(kbo) or len(kbo) != 10:
                raise DefinitionError(f"{name}: {kbo!r} is not a 10-digit KBO number")
        kinds = {}
        for kind_name, k in s.kinds.items():
            clash = RESERVED_RECORD_KEYS & set(k.attrs)
            if clash:
                raise DefinitionError(f"{name}.{kind_name}: attribute names {sorted(clash)} are reserved")
            kinds[kind_name] = KindDef(kind_name, k.capacity, tuple(k.attrs))
        if s.role == "managing":
            if s.kinds or s.message_types or s.members is None or len(s.institutions) != 1:
                raise DefinitionError(
                    f"{name}: a managing service has one institution, names its members, holds no files"
                )
        elif not s.kinds or not s.message_types or s.statuses is None:
            raise DefinitionError(f"{name}: a source needs kinds, message_types and statuses")
        if s.role == "members" and (s.component is None or s.managed_by is None):
            raise DefinitionError(f"{name}: a members service needs component and managed_by")
        handlers = {mt: _handler(f"{name}.{mt}", m, kinds) for mt, m in s.message_types.items()}
        out[name] = SourceDef(
            name=name,
            title=s.title,
            role=s.role,
            institutions=tuple(s.institutions),
            statuses=s.statuses,
            component_prefix=s.component,
            managed_by=s.managed_by,
            members=s.members,
            kinds=kinds,
            message_types=handlers,
        )
    for name, d in list(out.items()):
        if d.role == "managing":
            members = out.get(d.members or "")
            if members is None or members.role != "members" or members.managed_by != name:
                raise DefinitionError(f"{name}: members {d.members!r} is not a members service managed by it")
            out[name] = SourceDef(
                name=d.name,
                title=d.title,
                role=d.role,
                institutions=d.institutions,
                members=d.members,
                message_types=members.message_types,
            )
        if d.role == "members":
            managing = out.get(d.managed_by or "")
            if managing is None or managing.role != "managing" or managing.members != name:
                raise DefinitionError(f"{name}: managed_by {d.managed_by!r} does not manage it")
    return out


@lru_cache(maxsize=1)
def load_definitions() -> Mapping[str, SourceDef]:
    """The packaged ``data/sources.yaml`` (parsed once per process)."""
    text = (resources.files("kruispunt.sources.social") / "data" / "sources.yaml").read_text("utf-8")
    return parse_definitions(yaml.safe_load(text))


def definition(service: str) -> SourceDef:
    """The definition of one service; ``KeyError`` naming the known ones otherwise."""
    defs = load_definitions()
    if service not in defs:
        raise KeyError(f"unknown social service {service!r}; known: {', '.join(sorted(defs))}")
    return defs[service]
