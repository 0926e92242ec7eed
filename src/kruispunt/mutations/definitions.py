"""The subscriptions (``data/subscriptions.yaml``): which change goes to whom, under which authorisation.

Loaded and checked once (valid KBOs, known change types, sectors, capacities and institutions of the
registry); :meth:`Subscriptions.recipients` then answers, for one change and the persons-directory lines of
its person, who receives it, in which capacity and under which subscription — the whole fan-out rule, pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kruispunt.ids import validate_enterprise_number
from kruispunt.mutations.schemas import CHANGE_TYPES, STATUS_TYPES
from kruispunt.network.registry import Registry


class SubscriptionError(ValueError):
    """The subscriptions file is wrong: says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecipientSpec(_Strict):
    sector: int | None = Field(default=None, ge=0, le=999)
    institution: str | None = None
    capacities: tuple[int, ...] | None = None
    persons: Literal["integrated", "all"] = "integrated"

    @field_validator("institution")
    @classmethod
    def _institution(cls, value: str | None) -> str | None:
        return validate_enterprise_number(value) if value is not None else None

    @model_validator(mode="after")
    def _one_target(self) -> RecipientSpec:
        if (self.sector is None) == (self.institution is None):
            raise ValueError("give a sector or an institution")
        if self.persons == "all" and (self.institution is None or self.capacities is not None):
            raise ValueError("persons: all is for one institution, without capacities")
        return self


class SubscriptionSpec(_Strict):
    id: str = Field(pattern=r"^\d{2}/\d{3}$")
    title: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    sources: Literal["any"] | tuple[str, ...]
    change_types: tuple[str, ...] = Field(min_length=1)
    kinds: tuple[str, ...] | None = None
    recipients: tuple[RecipientSpec, ...] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: Literal["any"] | tuple[str, ...]) -> Literal["any"] | tuple[str, ...]:
        return value if value == "any" else tuple(validate_enterprise_number(v) for v in value)

    @field_validator("change_types")
    @classmethod
    def _types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(CHANGE_TYPES))
        if unknown:
            raise ValueError(f"unknown change types {unknown}; known: {', '.join(CHANGE_TYPES)}")
        return value

    @model_validator(mode="after")
    def _kinds_for_statuses(self) -> SubscriptionSpec:
        if self.kinds is not None and not set(self.change_types) <= set(STATUS_TYPES):
            raise ValueError("kinds narrow status changes only: list status.* change types alone")
        return self


class SubscriptionsFile(_Strict):
    subscriptions: tuple[SubscriptionSpec, ...]


@dataclass(frozen=True, slots=True)
class Line:
    """One active line of the persons directory: who knows the person, in which capacity."""

    institution: str
    sector: int
    capacity: int


@dataclass(frozen=True, slots=True)
class Recipient:
    institution: str
    capacity: int | None
    subscription: str


class Subscriptions:
    """The checked subscriptions, indexed by change type."""

    def __init__(self, specs: Sequence[SubscriptionSpec]) -> None:
        self.specs = tuple(specs)
        self._by_type: dict[str, list[SubscriptionSpec]] = {}
        for spec in self.specs:
            for change_type in spec.change_types:
                self._by_type.setdefault(change_type, []).append(spec)
        self.needs_directory = {
            t: any(r.persons == "integrated" for s in specs for r in s.recipients)
            for t, specs in self._by_type.items()
        }

    def covering(self, *, change_type: str, source: str, kind: str | None) -> list[SubscriptionSpec]:
        """The subscriptions that cover a change of this type, from this source (and of this kind)."""
        return [
            s
            for s in self._by_type.get(change_type, ())
            if (s.sources == "any" or source in s.sources) and (s.kinds is None or kind in s.kinds)
        ]

    def recipients(
        self, *, change_type: str, source: str, kind: str | None, lines: Iterable[Line]
    ) -> list[Recipient]:
        """Who receives the change, each once (the first subscription that reaches it). A source never gets
        its own change back through the persons it integrates; a subscription naming an institution for
        every person is kept even when that institution published the change (the KSZ runs the bis register
        and the derived-rights engine, which needs the bis register's replaced numbers)."""
        covering = self.covering(change_type=change_type, source=source, kind=kind)
        if not covering:
            return []
        lines = tuple(lines)
        chosen: dict[str, Recipient] = {}
        for spec in covering:
            for rule in spec.recipients:
                if rule.persons == "all":
                    assert rule.institution is not None
                    chosen.setdefault(rule.institution, Recipient(rule.institution, None, spec.id))
                    continue
                for line in lines:
                    if line.institution == source or line.institution in chosen:
                        continue
                    if rule.sector is not None and line.sector != rule.sector:
                        continue
                    if rule.institution is not None and line.institution != rule.institution:
                        continue
                    if rule.capacities is not None and line.capacity not in rule.capacities:
                        continue
                    chosen[line.institution] = Recipient(line.institution, line.capacity, spec.id)
        return list(chosen.values())

    def subscription(self, subscription_id: str) -> SubscriptionSpec | None:
        return next((s for s in self.specs if s.id == subscription_id), None)


def parse_subscriptions(text: str, *, registry: Registry | None = None) -> Subscriptions:
    """Parse and check a subscriptions file; :class:`SubscriptionError` saying what is wrong where."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SubscriptionError(f"subscriptions: not YAML: {exc}") from exc
    try:
        parsed = SubscriptionsFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise SubscriptionError(f"subscriptions: {problems}") from exc
    ids = [s.id for s in parsed.subscriptions]
    if len(set(ids)) != len(ids):
        raise SubscriptionError(f"subscriptions: an id is used twice: {ids}")
    if registry is not None:
        for spec in parsed.subscriptions:
            for kbo in () if spec.sources == "any" else spec.sources:
                if registry.institution(kbo) is None:
                    raise SubscriptionError(f"subscription {spec.id}: source {kbo} is not an institution")
            for rule in spec.recipients:
                if rule.institution is not None and registry.institution(rule.institution) is None:
                    raise SubscriptionError(
                        f"subscription {spec.id}: {rule.institution} is not an institution"
                    )
                sector = rule.sector
                if sector is None and rule.institution is not None:
                    found = registry.institution(rule.institution)
                    sector = found.sector if found else None
                if rule.sector is not None and not registry.sector_known(rule.sector):
                    raise SubscriptionError(f"subscription {spec.id}: unknown sector {rule.sector}")
                for code in rule.capacities or ():
                    if sector is not None and registry.capacity(sector, code) is None:
                        raise SubscriptionError(
                            f"subscription {spec.id}: capacity {code} is not a capacity of sector {sector}"
                        )
    return Subscriptions(parsed.subscriptions)


@lru_cache(maxsize=1)
def default_subscriptions() -> Subscriptions:
    """The network's subscriptions, checked against the default registry."""
    text = (resources.files("kruispunt.mutations") / "data" / "subscriptions.yaml").read_text(
        encoding="utf-8"
    )
    return parse_subscriptions(text, registry=Registry.load_default())
