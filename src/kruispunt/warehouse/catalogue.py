"""The variable catalogue: one fiche per snapshot column and per published dimension.

Loaded once from ``data/variables.yaml`` (code lists from the nomenclature and ``data/refnis.csv`` where the
fiche says ``codes_from``). :func:`dimension` turns a variable into a :class:`~.schemas.Dimension` for a
published table. Convention: the margin ``TOTAL`` ("_T") comes **first**, then the codes in catalogue order;
the time dimension (``quarter``, ``period``) has **no** total — a sum of quarterly stocks counts
person-quarters, not persons, so no table publishes it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml

from kruispunt.warehouse import nomenclature as nom
from kruispunt.warehouse.nomenclature import LANGUAGES, Labels
from kruispunt.warehouse.schemas import PERSON_QUARTER, TOTAL, Dimension, Value

Level = Literal["nominal", "ordinal", "ratio"]
TOTAL_LABELS = Labels(nl="Totaal", fr="Total", en="Total")


@dataclass(frozen=True)
class Code:
    code: str
    label: Labels
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None  # inclusive; None = still valid
    min: float | None = None  # class bounds: min inclusive, max exclusive
    max: float | None = None
    unknown: bool = False  # the code a NULL input gets

    def valid_between(self, first: dt.date, last: dt.date) -> bool:
        """Valid on at least one day of ``first..last``."""
        return (self.valid_from is None or self.valid_from <= last) and (
            self.valid_to is None or self.valid_to >= first
        )


@dataclass(frozen=True)
class Variable:
    code: str
    label: Labels
    definition: str
    sources: tuple[str, ...]
    valid_from: dt.date
    valid_to: dt.date | None
    level: Level
    codes: tuple[Code, ...] | None  # None: no code list; () never (a "given" list is passed by the caller)
    time: bool = False
    given: bool = False  # the caller passes the codes (quarters, counts)

    def code_list(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes or ())


@dataclass(frozen=True)
class Municipality:
    nis_code: int
    name_nl: str
    name_fr: str
    arrondissement: int
    arrondissement_nl: str
    arrondissement_fr: str
    province: int | None
    region: str
    valid_from: dt.date
    valid_to: dt.date | None

    def label(self, lang: str) -> str:
        if lang == "nl" or (lang == "en" and self.region == "VLG"):
            return self.name_nl
        if lang == "fr" or self.region == "WAL" or self.name_fr == self.name_nl:
            return self.name_fr
        return f"{self.name_fr} / {self.name_nl}"


@lru_cache(maxsize=1)
def municipalities() -> tuple[Municipality, ...]:
    """``data/refnis.csv`` (Statbel REFNIS, derived; see its header): municipalities in force since 2019."""
    text = resources.files("kruispunt.warehouse").joinpath("data", "refnis.csv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    out = []
    for r in csv.DictReader(io.StringIO("\n".join(lines))):
        out.append(
            Municipality(
                nis_code=int(r["nis_code"]),
                name_nl=r["name_nl"],
                name_fr=r["name_fr"],
                arrondissement=int(r["arrondissement"]),
                arrondissement_nl=r["arrondissement_nl"],
                arrondissement_fr=r["arrondissement_fr"],
                province=int(r["province"]) if r["province"] else None,
                region=r["region"],
                valid_from=dt.date.fromisoformat(r["valid_from"]),
                valid_to=dt.date.fromisoformat(r["valid_to"]) if r["valid_to"] else None,
            )
        )
    return tuple(out)


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _labels(raw: dict[str, Any]) -> Labels:
    return Labels(**{lang: str(raw[lang]) for lang in LANGUAGES})


def _inline(raw: list[dict[str, Any]]) -> list[Code]:
    return [
        Code(
            code=str(c["code"]),
            label=_labels(c["label"]),
            valid_from=_date(c.get("valid_from")),
            valid_to=_date(c.get("valid_to")),
            min=c.get("min"),
            max=c.get("max"),
            unknown=bool(c.get("unknown", False)),
        )
        for c in raw
    ]


def _codes_from(source: str) -> list[Code]:
    n = nom.nomenclature()
    if source == "nomenclature.positions":
        return [Code(p.code, p.label, valid_from=_date(n.valid_from)) for p in n.positions]
    if source == "nomenclature.groups":
        return [Code(g.code, g.label, valid_from=_date(n.valid_from)) for g in n.groups]
    if source == "nomenclature.subgroups":
        return [Code(g.code, g.label, valid_from=_date(n.valid_from)) for g in n.subgroups]
    if source == "refnis.municipalities":
        return [
            Code(
                str(m.nis_code),
                Labels(nl=m.label("nl"), fr=m.label("fr"), en=m.label("en")),
                valid_from=m.valid_from,
                valid_to=m.valid_to,
            )
            for m in municipalities()
        ]
    if source == "refnis.arrondissements":
        by_code: dict[int, list[Municipality]] = {}
        for m in municipalities():
            by_code.setdefault(m.arrondissement, []).append(m)
        out = []
        for arr in sorted(by_code):
            ms = by_code[arr]
            ends = [m.valid_to for m in ms]
            out.append(
                Code(
                    str(arr),
                    Labels(
                        nl=ms[0].arrondissement_nl, fr=ms[0].arrondissement_fr, en=ms[0].arrondissement_nl
                    ),
                    valid_from=min(m.valid_from for m in ms),
                    valid_to=None if None in ends else max(e for e in ends if e is not None),
                )
            )
        return out
    raise ValueError(f"unknown codes_from {source!r}")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Variable]:
    """Every variable of ``data/variables.yaml``, by code (loaded and checked once)."""
    text = (
        resources.files("kruispunt.warehouse").joinpath("data", "variables.yaml").read_text(encoding="utf-8")
    )
    raw = yaml.safe_load(text)["variables"]
    out: dict[str, Variable] = {}
    for code, spec in raw.items():
        codes: list[Code] | None = None
        given = spec.get("codes_from") == "given"
        if "codes" in spec:
            codes = _inline(spec["codes"])
        elif "codes_from" in spec and not given:
            codes = _codes_from(spec["codes_from"]) + _inline(spec.get("extra_codes", []))
        if codes is not None and len({c.code for c in codes}) != len(codes):
            raise ValueError(f"{code}: duplicate codes")
        if codes is not None and TOTAL in {c.code for c in codes}:
            raise ValueError(f"{code}: {TOTAL} is reserved for the margin")
        level = spec["level"]
        if level not in ("nominal", "ordinal", "ratio"):
            raise ValueError(f"{code}: unknown measurement level {level!r}")
        valid_from = _date(spec["valid_from"])
        assert valid_from is not None
        out[code] = Variable(
            code=code,
            label=_labels(spec["label"]),
            definition=str(spec["definition"]),
            sources=tuple(str(s) for s in spec["sources"]),
            valid_from=valid_from,
            valid_to=_date(spec.get("valid_to")),
            level=level,
            codes=tuple(codes) if codes is not None else None,
            time=bool(spec.get("time", False)),
            given=given,
        )
    missing = set(PERSON_QUARTER.names) - set(out)
    if missing:
        raise ValueError(f"snapshot columns without a fiche: {sorted(missing)}")
    return out


def variable(code: str) -> Variable:
    try:
        return catalogue()[code]
    except KeyError:
        raise KeyError(f"no variable {code!r} in the catalogue") from None


def dimension(
    code: str,
    *,
    lang: str = "en",
    codes: Sequence[str] | None = None,
    between: tuple[dt.date, dt.date] | None = None,
) -> Dimension:
    """The published dimension of variable ``code``: ``TOTAL`` first, then the codes in catalogue order.

    ``codes``: the values for a ``given`` list (quarters, counts), or a subset of the catalogue's codes, in
    catalogue order. ``between``: keep only codes valid on a day of that period (municipal mergers).
    The time dimension has no total (see the module docstring).
    """
    var = variable(code)
    if var.given:
        if codes is None:
            raise ValueError(f"{code}: the caller must give the codes")
        values = [Value(c, c) for c in codes]
    else:
        if var.codes is None:
            raise ValueError(f"{code} has no code list: it cannot be a dimension")
        selected = [c for c in var.codes if between is None or c.valid_between(*between)]
        if codes is not None:
            wanted = set(codes)
            unknown = wanted - {c.code for c in var.codes}
            if unknown:
                raise ValueError(f"{code}: unknown codes {sorted(unknown)}")
            selected = [c for c in selected if c.code in wanted]
        values = [Value(c.code, c.label.get(lang)) for c in selected]
    if not var.time:
        values.insert(0, Value(TOTAL, TOTAL_LABELS.get(lang)))
    return Dimension(code=code, label=var.label.get(lang), values=tuple(values), time=var.time)


def class_case_sql(code: str, expr: str) -> str:
    """``CASE`` mapping the number ``expr`` to the class codes of variable ``code`` (bounds: its fiche)."""
    var = variable(code)
    parts = []
    unknown = None
    for c in var.codes or ():
        if c.unknown:
            unknown = c.code
        elif c.min is not None and c.max is not None:
            parts.append(f"WHEN {expr} >= {c.min!r} AND {expr} < {c.max!r} THEN '{c.code}'")
    if not parts or unknown is None:
        raise ValueError(f"{code} is not a class variable with an unknown code")
    return f"CASE WHEN {expr} IS NULL THEN '{unknown}' " + " ".join(parts) + f" ELSE '{unknown}' END"
