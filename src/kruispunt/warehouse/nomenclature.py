"""The nomenclature of socio-economic position: one code per person on the quarter's last day.

The code list, its labels and the priority rule ("closest to the labour market wins") live in
``data/positions.yaml`` (hand-curated, see its header). This module loads it once and offers

* :func:`positions` / :func:`groups` / :func:`subgroups`: the catalogue, in priority order;
* :func:`indicator_sql` and :func:`position_case_sql`: the SQL fragments the snapshot uses, generated from the
  same YAML so that the SQL and the reference rules cannot drift apart;
* :func:`classify`: the same rule in Python for one person (tests and documentation, never for millions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

LANGUAGES = ("nl", "fr", "en")
_SAFE = re.compile(r"^[A-Za-z0-9_]+$")  # identifiers and literals that go into generated SQL


@dataclass(frozen=True)
class Labels:
    nl: str
    fr: str
    en: str

    def get(self, lang: str) -> str:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        value: str = getattr(self, lang)
        return value


@dataclass(frozen=True)
class Indicator:
    """A kind of file active on the last day, optionally only some categories or a minimum percentage."""

    name: str
    kind: str
    categories: tuple[str, ...] = ()
    min_percent: int | None = None

    def matches(self, kind: str, category: str | None, percent: int | None) -> bool:
        if kind != self.kind:
            return False
        if self.categories and category not in self.categories:
            return False
        return self.min_percent is None or (percent is not None and percent >= self.min_percent)


@dataclass(frozen=True)
class Position:
    code: str  # three digits
    label: Labels
    when: tuple[str, ...]  # indicator names, any of them
    priority: int  # 0 = closest to the labour market
    max_age: int | None = None
    fallback: bool = False

    @property
    def group(self) -> str:
        return self.code[0]

    @property
    def subgroup(self) -> str:
        return self.code[:2]


@dataclass(frozen=True)
class Group:
    code: str
    label: Labels


@dataclass(frozen=True)
class Nomenclature:
    valid_from: str
    indicators: tuple[Indicator, ...]
    groups: tuple[Group, ...]  # main groups 1..4
    subgroups: tuple[Group, ...]  # two digits, in priority order
    positions: tuple[Position, ...]  # three digits, in priority order

    def position(self, code: str) -> Position:
        for p in self.positions:
            if p.code == code:
                return p
        raise KeyError(code)

    @property
    def fallback(self) -> Position:
        return next(p for p in self.positions if p.fallback)


def _labels(raw: dict[str, Any]) -> Labels:
    return Labels(**{lang: str(raw[lang]) for lang in LANGUAGES})


def _safe(value: str) -> str:
    if not _SAFE.match(value):
        raise ValueError(f"{value!r} is not a plain identifier (it would go into SQL)")
    return value


@lru_cache(maxsize=1)
def nomenclature() -> Nomenclature:
    """The nomenclature from ``data/positions.yaml`` (loaded and checked once)."""
    text = (
        resources.files("kruispunt.warehouse").joinpath("data", "positions.yaml").read_text(encoding="utf-8")
    )
    raw = yaml.safe_load(text)
    indicators = tuple(
        Indicator(
            name=_safe(name),
            kind=_safe(spec["kind"]),
            categories=tuple(_safe(str(c)) for c in spec.get("categories", ())),
            min_percent=spec.get("min_percent"),
        )
        for name, spec in raw["indicators"].items()
    )
    known = {i.name for i in indicators}
    groups: list[Group] = []
    subgroups: list[Group] = []
    positions: list[Position] = []
    for g in raw["groups"]:
        groups.append(Group(str(g["code"]), _labels(g["label"])))
        for s in g["subgroups"]:
            subgroups.append(Group(str(s["code"]), _labels(s["label"])))
            for p in s["positions"]:
                when = tuple(p.get("when", ()))
                unknown = set(when) - known
                if unknown:
                    raise ValueError(f"position {p['code']}: unknown indicators {sorted(unknown)}")
                code = str(p["code"])
                if not (len(code) == 3 and code.startswith(str(s["code"]))):
                    raise ValueError(f"position {code} is not a three-digit code under {s['code']}")
                positions.append(
                    Position(
                        code=code,
                        label=_labels(p["label"]),
                        when=when,
                        priority=len(positions),
                        max_age=p.get("max_age"),
                        fallback=bool(p.get("fallback", False)),
                    )
                )
    if [p.fallback for p in positions].count(True) != 1 or not positions[-1].fallback:
        raise ValueError("exactly one fallback position, the last one")
    if len({p.code for p in positions}) != len(positions):
        raise ValueError("duplicate position codes")
    if [g.code for g in groups] != ["1", "2", "3", "4"]:
        raise ValueError("main groups must be 1 working, 2 job seeker, 3 inactive, 4 unknown, in that order")
    return Nomenclature(str(raw["valid_from"]), indicators, tuple(groups), tuple(subgroups), tuple(positions))


def positions() -> tuple[Position, ...]:
    return nomenclature().positions


def groups() -> tuple[Group, ...]:
    return nomenclature().groups


def subgroups() -> tuple[Group, ...]:
    return nomenclature().subgroups


# ---------------------------------------------------------------------------------------------- SQL


def indicator_sql(alias: str = "a") -> str:
    """One ``MAX(CASE … THEN 1 ELSE 0 END) AS i_<name>`` per indicator over active files (``alias``)."""
    parts = []
    for ind in nomenclature().indicators:
        cond = [f"{alias}.kind = '{ind.kind}'"]
        if ind.categories:
            cond.append(f"{alias}.category IN ({', '.join(repr(c) for c in ind.categories)})")
        if ind.min_percent is not None:
            cond.append(f"{alias}.percent >= {int(ind.min_percent)}")
        parts.append(f"MAX(CASE WHEN {' AND '.join(cond)} THEN 1 ELSE 0 END) AS i_{ind.name}")
    return ",\n        ".join(parts)


def indicator_names() -> tuple[str, ...]:
    return tuple(i.name for i in nomenclature().indicators)


def position_case_sql(prefix: str = "", age: str = "age") -> str:
    """``CASE WHEN … THEN '111' … ELSE '411' END`` in priority order over columns ``<prefix>i_<name>``."""
    lines = []
    for p in positions():
        if not p.when:
            continue
        cond = "(" + " OR ".join(f"{prefix}i_{w} = 1" for w in p.when) + ")"
        if p.max_age is not None:
            cond += f" AND {age} <= {int(p.max_age)}"
        lines.append(f"WHEN {cond} THEN '{p.code}'")
    return "CASE " + " ".join(lines) + f" ELSE '{nomenclature().fallback.code}' END"


# ------------------------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class ActiveFile:
    """A file active on the quarter's last day, as far as the position is concerned."""

    kind: str
    category: str | None = None
    percent: int | None = None


def classify(files: Iterable[ActiveFile], *, age: int | None) -> str:
    """The position of one person from the files active on the last day (the rule the SQL implements)."""
    nom = nomenclature()
    active = {ind.name for f in files for ind in nom.indicators if ind.matches(f.kind, f.category, f.percent)}
    for p in nom.positions:
        if not (set(p.when) & active):
            continue
        if p.max_age is not None and (age is None or age > p.max_age):
            continue
        return p.code
    return nom.fallback.code
