"""Statuses consistent with each person's life: the files the social-security authentic sources hold.

``statuses_for(batch, seed=…, employers=…)`` gives one row per file (dossier) that a source (``rsz``,
``rva``, ``nic``, ``ocmw``, ``han``, ``fpd``, ``child_benefit``, ``fedris``) keeps on the people of a
:class:`~kruispunt.simulate.population.PopulationBatch`: who holds it (the institution's KBO, ``member``), in
which capacity (official capacity code), for which period, and the file's data (``attrs``, JSON-safe, money
in integer euro cents). :data:`KINDS` is the contract: source, capacity code and the exact ``attrs`` keys of
every kind. ``iter_lives(persons, seed)`` streams the people of a nation with their files.

Determinism: the random generators of a batch are seeded from ``(seed, index of its first person, stage)``;
the same batch, seed and employers give the same files. :func:`iter_lives` is deterministic for a given
``(persons, seed, chunk_size)``; it moves the last household of a chunk to the next chunk so that a
household is never split (chunks are then a few people longer or shorter than ``chunk_size``), and draws
the nation's employers once: ``generate_employers(seed, employer_count(persons))``, one per 40 people.

Time: everything is relative to :data:`~kruispunt.simulate.population.REFERENCE_DATE` (2025-01-01), never
the clock. The sources keep ten years of history: every file starts on or after :data:`HISTORY_START`
(2015-01-01) — a file that was already open then (a 75-year-old's pension, a 40-year-old's health insurance)
starts on that day. Current files are open (``end`` NaT); closed files end on or before 2024-12-31 and
never before they start. Nobody has a file after death: the files of people who died since 2015 end on (or
before) the day of death, those who died earlier have none. Ages are at the reference date (an unknown
birth month counts as July, an unknown day as the 15th).

Rates (living residents unless said otherwise)
----------------------------------------------
Main situation by age (share of the age band; the rest is "inactive": at home, no own title):

=========  =======  ========  ==========  ==========  ==========  ========  =======
age        student  employed  unemployed  incapacity  disability  leefloon  pension
=========  =======  ========  ==========  ==========  ==========  ========  =======
16–17      1.00
18–20      0.62     0.20      0.05        0.01        0.010       0.040
21–24      0.30     0.48      0.08        0.02        0.015       0.035
25–29               0.77      0.09        0.03        0.020       0.030
30–49               0.79      0.075       0.055       0.020       0.025
50–54               0.75      0.065       0.09        0.025       0.020
55–59               0.67      0.065       0.12        0.025       0.020
60–64               0.42      0.05        0.10        0.025       0.015     0.30
65–66               0.00                                                    0.96
67+                                                                         0.97
=========  =======  ========  ==========  ==========  ==========  ========  =======

Which gives about 65 % of the 18–66-year-olds with an open employment (Dimona), 7 % controlled unemployed
(``rva`` unemployment), 6 % on ``work_incapacity`` and 2 % with a disability allowance. Leefloon only
exists in the three municipalities whose OCMW is on the network (Gent, Antwerpen, Charleroi: about 2.7 % of
their 18–64-year-olds); elsewhere those people count as inactive. Pension from 65, early retirement from 60
(30 % of the 60–64-year-olds).

* **rsz** — employed people have an open ``dimona_period`` (worker type ``OTH``; current job started
  0–10 years ago, exponential with a mean rising with age up to 7 years) and 0/1/2 closed earlier periods
  with other employers (45/35/20 %); people out of work mostly had a job that ended when their situation
  began (unemployed 75 %, incapacity 80 %, pensioners who retired since 2015 65 %, disability 30 %,
  leefloon 30 %, inactive 20 %). 40 % of a gap of more than 60 days between two jobs is a closed
  ``unemployment`` file. Students (16–24): 45 % had 1–3 ``STU`` jobs of 1–30 days, each inside one of the
  last eight quarters. 3 % of the employed have an open second ``FLX`` (flexi) job; 5 % of the 65–74-year-old
  pensioners still work (40 % of them as ``FLX``); 1.2 % of the 18–66-year-olds did 1–3 ``EXT`` (extra) day
  jobs in the last two years. Employers are drawn in proportion to their size (``STU`` and ``EXT`` mostly in
  hospitality and retail, ``FLX`` in hospitality, food and retail). Dimona ids:
  ``make_dimona_period_id(10**9 + 16 × person index + slot)``, unique in the nation. ``dmfa_quarter``: one
  row per quarter of 2024 (the last four completed quarters) and non-student period that overlaps it, with
  days/hours (hundredths) and gross pay from the overlap and a part-time fraction (72 % full-time); its
  start/end are the quarter's bounds, except that the quarter of a death ends on the day of death.
* **rva** — ``unemployment`` for the unemployed (and 8 % of leefloon recipients); ``temporary_unemployment``
  for 3 % of the employed, with their current employer (``weather`` only in construction, 124), 25 % still
  open; ``career_break`` for 4 % of the employed aged 25–60, 70 % open.
* **nic** — every living resident has ``health_insurance`` with one of the four mutualities (40/28/17/15 %,
  one per household): holders are adults with their own title; children under 25 who do not work are
  dependants of their mother (when she is a holder) or of the head; 80 % of the spouses/partners without own
  title are dependants of the head. ``work_incapacity``: the incapacity group above (72 % invalidity: started
  more than a year ago; degree 66/75/100 %), maternity leave for mothers (employed or unemployed) of a child
  born in the last 15 weeks (open) or since 2015 (closed, 85 %), and a closed primary incapacity for 5 % of
  the employed. ``increased_reimbursement``: everyone with leefloon, equivalent leefloon, IGO or a disability
  allowance, plus an ``income`` basis (unemployed 25 %, residents without income 15 %, pensioners 14 %,
  invalids 20 %, students 5 %, workers 3 %, +15 % for single parents — about 8 % of the other holders);
  their dependants too.
* **ocmw** — ``leefloon`` (``equivalent_leefloon`` for nationals of non-EU countries) with the 2024 amounts
  (cohabitant 876.13, single 1,314.20, family 1,776.07 euro; 30 % get less); ``other_aid`` for 35 % of them
  and 1.2 % of the other adults of the three municipalities.
* **han** — disability group: income replacement allowance only 25 %, integration allowance only 35 %, both
  40 %, each with a ``medical_recognition`` (points consistent with the integration category); elderly
  assistance (65–74 1.2 %, 75–84 3.5 %, 85+ 8 %) with a recognition; 0.5 % of the other adults have a
  recognition only.
* **fpd** — ``pension`` for the pensioners (employee 58 %, mixed 24 %, civil servant 10 %, self-employed
  8 %; ``survivor`` for 60 % of the widowed); ``igo`` for 3 % of people over 65 living with others, 7 % of
  men and 11 % of women living alone, 50 % of those without pension.
* **child_benefit** — every child under 18, and 90 % of the students aged 18–24, living with a parent: an
  ``entitling_child`` file at the fund of the region, and an ``allowance_recipient`` file per child for the
  mother (female head/spouse/partner) or else the head; 170–300 euro a month.
* **fedris** — ``work_accident`` for 2 % of the people with a current job (residents and cross-border
  workers), in the last five years with their current employer; ``occupational_disease`` for 0.8 % of the
  men and 0.2 % of the women over 50.
* Non-residents (bis numbers): 40 % of the 18–66-year-olds are cross-border workers (``dimona_period``,
  ``dmfa_quarter``, ``health_insurance`` holder as worker, possibly a ``work_accident``); nothing else.
* People who died since 2015 (aged 18+): ``health_insurance`` until death, a ``pension`` (97 % of those who
  died at 65+), sometimes ``igo`` or an elderly assistance allowance, a job until death for 55 % of those who
  died before 65.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from kruispunt.simulate.employers import EmployerTable, generate_employers
from kruispunt.simulate.geo import GERMAN_NAMES
from kruispunt.simulate.population import (
    REFERENCE_DATE,
    RELATIONSHIPS,
    PopulationBatch,
    iter_population,
)

Array = npt.NDArray[Any]

LIVES_VERSION = 1
"""Changes whenever the drawing code changes (the same seed then gives other files); seeding records it."""

# ------------------------------------------------------------------------------------------- institutions

RSZ_KBO = "0206731645"
RVA_KBO = "0206737484"
HAN_KBO = "0367303366"
FPD_KBO = "0206738078"
FEDRIS_KBO = "0206734318"

MUTUALITIES: dict[str, float] = {
    "0411702543": 0.40,  # Christelijke Mutualiteiten
    "0411766483": 0.28,  # Solidaris
    "0411729366": 0.17,  # Liberale Mutualiteit
    "0206640286": 0.15,  # HZIV / CAAMI
}
"""The mutualities (``nic`` members) and their share of households."""

OCMWS: dict[int, str] = {44021: "0212140186", 11002: "0212059420", 52011: "0207184377"}
"""NIS code → KBO of the OCMWs on the network (Gent, Antwerpen, Charleroi): only their residents get
``ocmw`` files."""

CHILD_BENEFIT_FUNDS: dict[str, str] = {
    "VL": "0409900026",  # Infino
    "WAL": "0250429254",  # Famiwal
    "DG": "0250429254",  # Famiwal
    "BXL": "0266493345",  # Parentia
}
"""Region of residence → KBO of the child-benefit fund."""

HISTORY_START = date(2015, 1, 1)
"""No file starts before this day (ten years of history before the reference date)."""

SOURCES = ("rsz", "rva", "nic", "ocmw", "han", "fpd", "child_benefit", "fedris")


@dataclass(frozen=True)
class KindInfo:
    """A kind of file: its source (service name), official capacity code and the exact keys of ``attrs``."""

    source: str
    capacity: int
    attrs: tuple[str, ...]


KINDS: dict[str, KindInfo] = {
    "dimona_period": KindInfo(
        "rsz",
        30,
        ("employer_kbo", "employer_rsz", "employer_name", "worker_type", "joint_committee", "dimona_id"),
    ),
    "dmfa_quarter": KindInfo(
        "rsz", 10, ("employer_kbo", "quarter", "worker_code", "gross_cents", "days", "hours")
    ),
    "unemployment": KindInfo("rva", 1, ("category", "daily_amount_cents", "payment_body")),
    "temporary_unemployment": KindInfo("rva", 1, ("reason", "employer_kbo", "payment_body")),
    "career_break": KindInfo("rva", 2, ("scheme", "fraction")),
    "health_insurance": KindInfo("nic", 1, ("role", "holder_insz", "title")),
    "increased_reimbursement": KindInfo("nic", 1, ("basis", "role")),
    "work_incapacity": KindInfo("nic", 2, ("type", "degree_percent")),
    "leefloon": KindInfo("ocmw", 2, ("category", "monthly_amount_cents")),
    "equivalent_leefloon": KindInfo("ocmw", 3, ("category", "monthly_amount_cents")),
    "other_aid": KindInfo("ocmw", 4, ("aid",)),
    "income_replacement_allowance": KindInfo("han", 5, ("category", "monthly_amount_cents")),
    "integration_allowance": KindInfo("han", 5, ("category", "monthly_amount_cents")),
    "elderly_assistance_allowance": KindInfo("han", 7, ("category", "monthly_amount_cents")),
    "medical_recognition": KindInfo("han", 3, ("points", "earning_capacity_reduced")),
    "pension": KindInfo("fpd", 100, ("scheme", "type", "monthly_amount_cents")),
    "igo": KindInfo("fpd", 30, ("monthly_amount_cents", "cohabiting")),
    "entitling_child": KindInfo(
        "child_benefit", 104, ("allowance_recipient_insz", "region", "monthly_amount_cents")
    ),
    "allowance_recipient": KindInfo("child_benefit", 102, ("child_insz",)),
    "work_accident": KindInfo(
        "fedris", 10, ("accident_date", "employer_kbo", "incapacity_percent", "consolidated")
    ),
    "occupational_disease": KindInfo("fedris", 10, ("disease_code", "incapacity_percent")),
}
"""Every kind of file: the contract with the sources that serve them."""

_FIXED_MEMBER = {"rsz": RSZ_KBO, "rva": RVA_KBO, "han": HAN_KBO, "fpd": FPD_KBO, "fedris": FEDRIS_KBO}
_MEMBERS = tuple(
    dict.fromkeys([*_FIXED_MEMBER.values(), *MUTUALITIES, *OCMWS.values(), *CHILD_BENEFIT_FUNDS.values()])
)
_MEMBER_CODE = {kbo: i for i, kbo in enumerate(_MEMBERS)}
_MEMBER_ARRAY = np.array(_MEMBERS, dtype="U10")
_FIXED_CODE = {source: _MEMBER_CODE[kbo] for source, kbo in _FIXED_MEMBER.items()}
_KIND_NAMES = tuple(KINDS)
_KIND_CODE = {k: i for i, k in enumerate(_KIND_NAMES)}
_KIND_SOURCE = np.array([KINDS[k].source for k in _KIND_NAMES], dtype="U16")
_KIND_CAPACITY = np.array([KINDS[k].capacity for k in _KIND_NAMES], dtype=np.int16)
_KIND_OBJECT = np.array(_KIND_NAMES, dtype=object)

# ------------------------------------------------------------------------------------------------- time

_Y = 365.2425
_EPOCH = np.datetime64("1970-01-01", "D")
_NONE = np.iinfo(np.int64).min  # open end / no date (same bits as NaT)
_REF = int((np.datetime64(REFERENCE_DATE, "D") - _EPOCH).astype(np.int64))
_HIST = int((np.datetime64(HISTORY_START, "D") - _EPOCH).astype(np.int64))
_LAST = _REF - 1  # the last day a closed file may end on


def _age_days(years: float) -> int:
    """Days from birth to the day a person reaches ``years`` (consistent with ``age = days / 365.2425``)."""
    return math.ceil(years * _Y)


_A16, _A18, _A25, _A60, _A65 = (_age_days(a) for a in (16, 18, 25, 60, 65))


def _quarters(count: int) -> list[tuple[str, int, int]]:
    """The ``count`` completed quarters before the reference date, oldest first: (label, first, last day)."""
    ref_month = np.datetime64(REFERENCE_DATE, "M")
    month_index = int(ref_month.astype(np.int64))
    current = month_index - month_index % 3
    out = []
    for k in range(count, 0, -1):
        first_month = current - 3 * k
        first = np.datetime64(first_month, "M").astype("datetime64[D]")
        last = np.datetime64(first_month + 3, "M").astype("datetime64[D]") - 1
        year = first_month // 12 + 1970
        label = f"{year}-{first_month % 12 // 3 + 1}"
        out.append((label, int(first.astype(np.int64)), int(last.astype(np.int64))))
    return out


_DMFA_QUARTERS = _quarters(4)
_STUDENT_QUARTERS = _quarters(8)

# ------------------------------------------------------------------------------------------- the batch


@dataclass
class StatusBatch:
    """One row per file (dossier) a source holds on a person, sorted by kind (so by source), person, start."""

    insz: Array  # <U11
    source: Array  # <U16, service name
    kind: Array  # object (str)
    member: Array  # <U10, KBO of the institution that holds the file
    capacity: Array  # int16, official capacity code
    start: Array  # datetime64[D]
    end: Array  # datetime64[D], NaT = open
    attrs: Array  # object: one JSON-safe dict per row

    def __len__(self) -> int:
        return len(self.insz)

    def _select(self, rows: Array) -> StatusBatch:
        return StatusBatch(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def for_source(self, source: str) -> StatusBatch:
        """The files of one source (``rsz``, ``rva``, ``nic``, …)."""
        return self._select(self.source == source)

    def records(self) -> Iterator[dict[str, Any]]:
        """One plain dict per file: ``start``/``end`` as :class:`datetime.date` (``end`` None when open)."""
        names = [f.name for f in fields(self)]
        columns = [getattr(self, n).tolist() for n in names]
        for values in zip(*columns, strict=True):
            yield dict(zip(names, values, strict=True))


def _empty() -> StatusBatch:
    return StatusBatch(
        insz=np.zeros(0, dtype="U11"),
        source=np.zeros(0, dtype="U16"),
        kind=np.zeros(0, dtype=object),
        member=np.zeros(0, dtype="U10"),
        capacity=np.zeros(0, dtype=np.int16),
        start=np.zeros(0, dtype="datetime64[D]"),
        end=np.zeros(0, dtype="datetime64[D]"),
        attrs=np.zeros(0, dtype=object),
    )


class _Rows:
    """Files collected kind by kind; :meth:`finish` sorts them into a :class:`StatusBatch`."""

    def __init__(self) -> None:
        self.person: list[Array] = []
        self.kind: list[Array] = []
        self.member: list[Array] = []
        self.start: list[Array] = []
        self.end: list[Array] = []
        self.attrs: list[Array] = []

    def add(
        self,
        kind: str,
        person: Array,
        start: Array,
        end: Array,
        attrs: list[dict[str, Any]],
        member: Array | None = None,
    ) -> None:
        """``member``: codes into ``_MEMBERS`` per row; None for the sources with one institution."""
        m = len(person)
        if m == 0:
            return
        info = KINDS[kind]
        if len(attrs) != m or tuple(attrs[0]) != info.attrs:
            raise AssertionError(f"{kind}: attrs do not follow KINDS")  # a bug in this module
        if member is None:
            members = np.full(m, _FIXED_CODE[info.source], dtype=np.int16)
        else:
            members = np.asarray(member, dtype=np.int16)
        start = np.asarray(start, dtype=np.int64)
        end = np.asarray(end, dtype=np.int64)
        objects = np.empty(m, dtype=object)
        objects[:] = attrs
        self.person.append(np.asarray(person, dtype=np.int64))
        self.kind.append(np.full(m, _KIND_CODE[kind], dtype=np.int16))
        self.member.append(members)
        self.start.append(start)
        self.end.append(end)
        self.attrs.append(objects)

    def finish(self, insz: Array) -> StatusBatch:
        if not self.person:
            return _empty()
        person = np.concatenate(self.person)
        kind = np.concatenate(self.kind)
        start = np.concatenate(self.start)
        # by kind (kinds are grouped by source), person and start: the rows of one kind were added in
        # person order, so the gathers below read memory almost sequentially
        key = (kind.astype(np.int64) << 45) | (person << 13) | np.clip(start - _HIST, 0, 8191)
        order = np.argsort(key, kind="stable")
        kind = kind[order]
        return StatusBatch(
            insz=insz[person[order]],
            source=_KIND_SOURCE[kind],
            kind=_KIND_OBJECT[kind],
            member=_MEMBER_ARRAY[np.concatenate(self.member)[order]],
            capacity=_KIND_CAPACITY[kind],
            start=start[order].astype("datetime64[D]"),
            end=np.concatenate(self.end)[order].astype("datetime64[D]"),
            attrs=np.concatenate(self.attrs)[order],
        )


# ---------------------------------------------------------------------------------------------- context

# main situations
_NONE_ST, _STUDENT, _EMPLOYED, _UNEMPLOYED, _INCAPACITY, _DISABLED, _LEEFLOON, _PENSION, _INACTIVE = range(9)
_BAND_EDGES = np.array([18.0, 21.0, 25.0, 30.0, 50.0, 55.0, 60.0, 65.0, 67.0])
_BAND_STATES = np.array(
    [_STUDENT, _EMPLOYED, _UNEMPLOYED, _INCAPACITY, _DISABLED, _LEEFLOON, _PENSION, _INACTIVE], dtype=np.int8
)
_BAND_P = np.array(
    [
        # student employed unemployed incapacity disability leefloon pension
        [0.62, 0.20, 0.05, 0.01, 0.010, 0.040, 0.00],  # 18-20
        [0.30, 0.48, 0.08, 0.02, 0.015, 0.035, 0.00],  # 21-24
        [0.00, 0.77, 0.09, 0.03, 0.020, 0.030, 0.00],  # 25-29
        [0.00, 0.79, 0.075, 0.055, 0.020, 0.025, 0.00],  # 30-49
        [0.00, 0.75, 0.065, 0.09, 0.025, 0.020, 0.00],  # 50-54
        [0.00, 0.67, 0.065, 0.12, 0.025, 0.020, 0.00],  # 55-59
        [0.00, 0.42, 0.05, 0.10, 0.025, 0.015, 0.30],  # 60-64
        [0.00, 0.00, 0.00, 0.00, 0.000, 0.000, 0.96],  # 65-66
    ]
)
_BAND_CDF = np.cumsum(_BAND_P, axis=1)

_REL_HEAD, _REL_SPOUSE, _REL_PARTNER, _REL_CHILD = (
    RELATIONSHIPS.index(r) for r in ("head", "spouse", "partner", "child")
)
_NON_EU = ("MA", "TR")
_DG_NIS = np.array(sorted(GERMAN_NAMES), dtype=np.int64)
_MUTUALITY_CODE = np.array([_MEMBER_CODE[kbo] for kbo in MUTUALITIES], dtype=np.int16)
_MUTUALITY_CDF = np.cumsum(list(MUTUALITIES.values()))


def region_of_nis(nis_code: Array) -> Array:
    """Region of residence (``VL``, ``WAL``, ``BXL``, ``DG``; "" abroad) of NIS municipality codes."""
    nis = np.asarray(nis_code, dtype=np.int64)
    out = np.full(len(nis), "VL", dtype="U3")
    out[(nis // 1000 == 25) | np.isin(nis // 10000, [5, 6, 8, 9])] = "WAL"
    out[nis // 1000 == 21] = "BXL"
    out[np.isin(nis, _DG_NIS)] = "DG"
    out[nis < 0] = ""
    return out


def _birth_days(birth_date: Array) -> Array:
    """Day numbers of ``YYYY-MM-DD`` strings; an unknown month counts as July, an unknown day as the 15th."""
    if len(birth_date) == 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.frombuffer(np.ascontiguousarray(birth_date.astype("S10")).tobytes(), dtype=np.uint8)
    d = raw.reshape(-1, 10).astype(np.int64) - 48
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    day = d[:, 8] * 10 + d[:, 9]
    day = np.where(month == 0, 1, np.where(day == 0, 15, day))
    month = np.where(month == 0, 7, month)
    months = (year - 1970) * 12 + month - 1
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return np.asarray(first + day - 1)


def _cdf_draw(rng: np.random.Generator, cdf: Array, size: int) -> Array:
    c = np.asarray(cdf, dtype=np.float64)
    return np.minimum(np.searchsorted(c / c[-1], rng.random(size), side="right"), len(c) - 1)


def _choice(rng: np.random.Generator, options: tuple[Any, ...], p: tuple[float, ...], size: int) -> Array:
    values = np.array(options, dtype=object)
    return np.asarray(values[_cdf_draw(rng, np.cumsum(p), size)])


def _between(rng: np.random.Generator, lo: Array | int, hi: Array | int, size: int) -> Array:
    """A uniform day in ``[lo, hi]`` (``hi`` is raised to ``lo`` when smaller)."""
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.int64), (size,))
    hi_a = np.maximum(np.broadcast_to(np.asarray(hi, dtype=np.int64), (size,)), lo_a)
    return np.asarray(lo_a + np.floor(rng.random(size) * (hi_a - lo_a + 1)).astype(np.int64))


def _years(rng: np.random.Generator, mean_years: Array | float, size: int) -> Array:
    """Exponential durations in days."""
    return np.rint(rng.exponential(mean_years, size) * _Y).astype(np.int64)


def _cents(values: Array) -> list[int]:
    cents: list[int] = np.rint(values).astype(np.int64).tolist()
    return cents


def _iso(days: Array) -> list[str]:
    return [str(d) for d in np.asarray(days, dtype=np.int64).astype("datetime64[D]").tolist()]


@dataclass
class _Employers:
    """An employer table with the columns the draws need as Python lists and cumulative weights."""

    table: EmployerTable
    kbo: list[str]
    rsz: list[str]
    name: list[str]
    jc: list[str]
    blue_share: Array
    construction: Array
    cdf_all: Array
    cdf_student: Array
    cdf_flexi: Array
    cdf_extra: Array

    @staticmethod
    def of(table: EmployerTable) -> _Employers:
        if len(table) == 0:
            raise ValueError("statuses_for needs at least one employer")
        jc = table.joint_committee.astype("U6")
        first = np.array([c[:1] for c in jc.tolist()], dtype="U1")
        blue = np.where(first == "1", 1.0, np.where(first == "2", 0.0, 0.5))
        for code, share in {"302": 0.8, "322.01": 1.0, "330": 0.25, "311": 0.5, "319": 0.3}.items():
            blue[jc == code] = share
        size = np.asarray(table.size, dtype=np.float64)

        def cdf(weights: dict[str, float]) -> Array:
            w = size * np.array([weights.get(c, 0.0) for c in jc.tolist()])
            if w.sum() <= 0:
                w = size
            return np.cumsum(w / w.sum())

        return _Employers(
            table=table,
            kbo=table.kbo.tolist(),
            rsz=table.rsz.tolist(),
            name=table.name.tolist(),
            jc=jc.tolist(),
            blue_share=blue,
            construction=jc == "124",
            cdf_all=np.cumsum(size / size.sum()),
            cdf_student=cdf({"302": 4.0, "201": 3.0, "311": 4.0, "118": 1.0, "200": 0.5, "330": 0.5}),
            cdf_flexi=cdf({"302": 4.0, "201": 1.0, "311": 1.0, "118": 1.0}),
            cdf_extra=cdf({"302": 1.0}),
        )

    def draw(self, rng: np.random.Generator, cdf: Array, size: int) -> Array:
        return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(self.kbo) - 1)


_WORKER_TYPES = ("OTH", "STU", "FLX", "EXT")
_DIMONA_FIRST = 1_000_000_000  # + 16 × person index + slot (slots 0-11), below 10**10 for 500M people
_OTH, _STU, _FLX, _EXT = range(4)


@dataclass
class _Periods:
    """Dimona periods collected before the rsz rows are written."""

    person: list[Array] = field(default_factory=list)
    slot: list[Array] = field(default_factory=list)
    employer: list[Array] = field(default_factory=list)
    worker_type: list[Array] = field(default_factory=list)
    start: list[Array] = field(default_factory=list)
    end: list[Array] = field(default_factory=list)

    def add(
        self, person: Array, slot: int, employer: Array, wtype: Array | int, start: Array, end: Array | int
    ) -> None:
        m = len(person)
        if m == 0:
            return
        self.person.append(np.asarray(person, dtype=np.int64))
        self.slot.append(np.broadcast_to(np.asarray(slot, dtype=np.int64), (m,)).copy())
        self.employer.append(np.asarray(employer, dtype=np.int64))
        self.worker_type.append(np.broadcast_to(np.asarray(wtype, dtype=np.int8), (m,)).copy())
        self.start.append(np.asarray(start, dtype=np.int64))
        self.end.append(np.broadcast_to(np.asarray(end, dtype=np.int64), (m,)).copy())


@dataclass
class _Ctx:
    seed: int
    first: int
    n: int
    index: Array
    insz: Array
    insz_list: list[str]
    is_bis: Array
    female: Array
    birth: Array
    age_days: Array
    age: Array
    death: Array
    alive: Array
    living: Array  # alive residents
    nis: Array
    region: Array
    nationality: Array
    civil: Array
    address_start: Array
    group: Array
    rel: Array
    head_of: Array  # per group
    partner_of: Array
    mother_of: Array
    members: Array  # living residents per group
    has_partner: Array
    minor_child: Array
    mutuality: Array  # member code per person
    payment_body: Array  # object per person
    employers: _Employers
    rows: _Rows = field(default_factory=_Rows)
    periods: _Periods = field(default_factory=_Periods)
    state: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    state_start: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    invalidity: Array = field(default_factory=lambda: np.zeros(0, dtype=bool))
    working_pensioner: Array = field(default_factory=lambda: np.zeros(0, dtype=bool))
    leefloon_unemployed: Array = field(default_factory=lambda: np.zeros(0, dtype=bool))
    job_employer: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    job_start: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ir_basis: Array = field(default_factory=lambda: np.zeros(0, dtype=object))
    ir_start: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def rng(self, stage: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.first, 0x4C49, stage]))

    @property
    def adult_day(self) -> Array:
        """The first day a person may hold an adult file: 18th birthday, not before the history start."""
        return np.asarray(np.minimum(np.maximum(self.birth + _A18, _HIST), _LAST))


def _context(batch: PopulationBatch, seed: int, employers: EmployerTable) -> _Ctx:
    n = len(batch)
    index = np.asarray(batch.index, dtype=np.int64)
    first = int(index[0])
    rng = np.random.default_rng(np.random.SeedSequence([seed, first, 0x4C49, 0]))
    birth = _birth_days(batch.birth_date)
    age_days = _REF - birth
    death = np.asarray(batch.death_date, dtype="datetime64[D]").astype(np.int64)
    alive = death == _NONE
    is_bis = np.asarray(batch.is_bis, dtype=bool)
    living = alive & ~is_bis
    female = batch.sex == "F"
    nis = np.asarray(batch.nis_code, dtype=np.int64)

    rel = np.full(n, -1, dtype=np.int8)
    for code, name in enumerate(RELATIONSHIPS):
        rel[batch.relationship == name] = code
    household = np.asarray(batch.household_id, dtype=np.int64)
    key = np.where(household >= 0, household, -2 - np.arange(n))
    _, group = np.unique(key, return_inverse=True)
    group = group.astype(np.int64).ravel()
    groups = int(group.max()) + 1
    pos = np.arange(n)

    def per_group(mask: Array) -> Array:
        out = np.full(groups, -1, dtype=np.int64)
        out[group[mask]] = pos[mask]
        return out

    parent_role = (rel == _REL_HEAD) | (rel == _REL_SPOUSE) | (rel == _REL_PARTNER)
    head_of = per_group(living & (rel == _REL_HEAD))
    partner_of = per_group(living & ((rel == _REL_SPOUSE) | (rel == _REL_PARTNER)))
    mother_of = np.full(groups, -1, dtype=np.int64)
    for mask in (living & female & (rel != _REL_HEAD) & parent_role, living & female & (rel == _REL_HEAD)):
        mother_of[group[mask]] = pos[mask]
    members = np.bincount(group[living], minlength=groups)
    minor_child = np.bincount(group[living & (rel == _REL_CHILD) & (age_days < _A18)], minlength=groups) > 0

    mutuality = _MUTUALITY_CODE[_cdf_draw(rng, _MUTUALITY_CDF, groups)][group]
    region = region_of_nis(nis)
    flemish = (region == "VL") | is_bis
    body_u = rng.random(n)
    payment_body = np.where(
        flemish,
        _select_cdf(body_u, ("ACV", "ABVV", "ACLVB", "HVW"), (0.50, 0.28, 0.10, 0.12)),
        _select_cdf(body_u, ("ABVV", "ACV", "ACLVB", "HVW"), (0.42, 0.33, 0.10, 0.15)),
    )
    insz = np.asarray(batch.insz, dtype="U11")
    return _Ctx(
        seed=seed,
        first=first,
        n=n,
        index=index,
        insz=insz,
        insz_list=insz.tolist(),
        is_bis=is_bis,
        female=female,
        birth=birth,
        age_days=age_days,
        age=age_days / _Y,
        death=death,
        alive=alive,
        living=living,
        nis=nis,
        region=region,
        nationality=np.asarray(batch.nationality, dtype="U2"),
        civil=np.asarray(batch.civil_state, dtype=np.int64),
        address_start=np.asarray(batch.address_start, dtype="datetime64[D]").astype(np.int64),
        group=group,
        rel=rel,
        head_of=head_of,
        partner_of=partner_of,
        mother_of=mother_of,
        members=members,
        has_partner=partner_of >= 0,
        minor_child=minor_child,
        mutuality=mutuality,
        payment_body=payment_body,
        employers=_Employers.of(employers),
    )


def _select_cdf(u: Array, options: tuple[str, ...], p: tuple[float, ...]) -> Array:
    idx = np.minimum(np.searchsorted(np.cumsum(p) / sum(p), u, side="right"), len(options) - 1)
    return np.asarray(np.array(options, dtype=object)[idx])


# ------------------------------------------------------------------------------------------ situations


def _assign_states(ctx: _Ctx) -> None:
    """The main situation of every person and the day it began."""
    rng = ctx.rng(1)
    n, age, days = ctx.n, ctx.age, ctx.age_days
    u = rng.random(n)
    state = np.zeros(n, dtype=np.int8)
    state[ctx.living & (days >= _A16) & (days < _A18)] = _STUDENT
    working = ctx.living & (days >= _A18) & (age < 67.0)
    band = np.clip(np.searchsorted(_BAND_EDGES, age, side="right") - 1, 0, len(_BAND_P) - 1)
    category = (u[:, None] >= _BAND_CDF[band]).sum(axis=1)
    state[working] = _BAND_STATES[category[working]]
    old = ctx.living & (age >= 67.0)
    state[old] = np.where(u[old] < 0.97, _PENSION, _INACTIVE)
    state[(state == _LEEFLOON) & ~np.isin(ctx.nis, list(OCMWS))] = _INACTIVE
    state[ctx.is_bis & ctx.alive & (days >= _A18) & (age < 67.0) & (u < 0.40)] = _EMPLOYED
    v = rng.random(n)
    ctx.working_pensioner = (state == _PENSION) & (age >= 65.0) & (age < 75.0) & (v < 0.05)
    ctx.leefloon_unemployed = (state == _LEEFLOON) & (v < 0.08)

    job = _LAST - _years(rng, np.clip((age - 18.0) * 0.35, 0.3, 7.0), n)
    unemployed = _LAST - _years(rng, 1.4, n)
    invalid = rng.random(n) < 0.72
    primary = _LAST - np.floor(rng.random(n) * 364).astype(np.int64)
    incapacity = np.where(invalid, _REF - 366 - _years(rng, 3.0, n), primary)
    disabled = _LAST - _years(rng, 4.0, n)
    leefloon = _LAST - _years(rng, 1.5, n)
    retire_age = 60.0 + rng.random(n) * np.clip(age - 60.0, 0.0, 5.0)
    pension = ctx.birth + np.where(age < 65.0, np.ceil(retire_age * _Y).astype(np.int64), _A65)
    start = np.select(
        [state == s for s in (_EMPLOYED, _UNEMPLOYED, _INCAPACITY, _DISABLED, _LEEFLOON, _PENSION)],
        [job, unemployed, incapacity, disabled, leefloon, pension],
        default=_NONE,
    )
    has = start != _NONE
    start[has] = np.clip(start[has], ctx.adult_day[has], _LAST)
    ctx.state = state
    ctx.state_start = start
    ctx.invalidity = (state == _INCAPACITY) & (start <= _REF - 366)
    ctx.job_employer = np.full(n, -1, dtype=np.int64)
    ctx.job_start = np.full(n, _NONE, dtype=np.int64)
    ctx.ir_basis = np.full(n, None, dtype=object)
    ctx.ir_start = np.full(n, _NONE, dtype=np.int64)


def _situation(ctx: _Ctx, people: Array) -> Array:
    """0 cohabitant, 1 living alone, 2 family (head/spouse/partner with a child under 18 at home)."""
    g = ctx.group[people]
    rel = ctx.rel[people]
    parent = (rel == _REL_HEAD) | (rel == _REL_SPOUSE) | (rel == _REL_PARTNER)
    return np.asarray(np.where(parent & ctx.minor_child[g], 2, np.where(ctx.members[g] <= 1, 1, 0)))


# ------------------------------------------------------------------------------------------------- rsz


def _employment(ctx: _Ctx) -> None:
    """Dimona periods: current jobs, earlier jobs, student, flexi and extra jobs (rows written later)."""
    rng = ctx.rng(2)
    n, emp, state, lower = ctx.n, ctx.employers, ctx.state, ctx.adult_day

    main = state == _EMPLOYED
    pensioner = ctx.working_pensioner
    ctx.job_start[main] = ctx.state_start[main]
    late_start = _between(rng, np.maximum(lower, _REF - 5 * 365), _LAST, n)
    ctx.job_start[pensioner] = late_start[pensioner]
    people = np.flatnonzero(main | pensioner)
    k = len(people)
    flexi = pensioner[people] & (rng.random(k) < 0.4)
    ctx.job_employer[people] = np.where(flexi, emp.draw(rng, emp.cdf_flexi, k), emp.draw(rng, emp.cdf_all, k))
    ctx.periods.add(
        people, 0, ctx.job_employer[people], np.where(flexi, _FLX, _OTH), ctx.job_start[people], _NONE
    )

    # earlier jobs, going back from the current job or from the day the situation began
    u, v = rng.random(n), rng.random(n)
    count = np.zeros(n, dtype=np.int64)
    gap = np.zeros(n, dtype=np.int64)
    anchor = np.full(n, _REF, dtype=np.int64)
    count[main] = np.where(u[main] < 0.45, 0, np.where(u[main] < 0.80, 1, 2))
    gap[main] = 1 + _years(rng, 0.33, n)[main]
    anchor[main] = ctx.job_start[main]
    for st, p_one, p_two in (
        (_UNEMPLOYED, 0.75, 0.35),
        (_INCAPACITY, 0.80, 0.30),
        (_DISABLED, 0.30, 0.0),
        (_LEEFLOON, 0.30, 0.0),
        (_PENSION, 0.65, 0.0),
    ):
        m = (state == st) & ~pensioner
        if st == _PENSION:
            m &= ctx.state_start >= _HIST + 30
        count[m] = (u[m] < p_one) * (1 + (v[m] < p_two))
        anchor[m] = ctx.state_start[m]
    inactive = (state == _INACTIVE) & (ctx.age < 67.0)
    count[inactive] = u[inactive] < 0.20
    gap[inactive] = _years(rng, 2.0, n)[inactive]
    leefloon = state == _LEEFLOON
    gap[leefloon] = _years(rng, 0.55, n)[leefloon]

    later = np.where(main, ctx.job_employer, -1)
    active = count > 0
    prior_end = np.full(n, _NONE, dtype=np.int64)
    for j in range(2):
        step = gap if j == 0 else 1 + _years(rng, 0.25, n)
        end = anchor - 1 - step
        start = np.maximum(end - 30 - _years(rng, 2.5, n), lower)
        ok = active & (end >= lower)
        people = np.flatnonzero(ok)
        employer = emp.draw(rng, emp.cdf_all, len(people))
        employer = np.where(employer == later[people], (employer + 1) % len(emp.kbo), employer)
        ctx.periods.add(people, 1 + j, employer, _OTH, start[people], end[people])
        if j == 0:
            prior_end[ok] = end[ok]
        later = np.full(n, -1, dtype=np.int64)
        later[people] = employer
        anchor = np.where(ok, start, _REF)
        active = ok & (count > j + 1)

    # a long gap between the last two jobs was (often) spent unemployed
    spell = main & ~ctx.is_bis & (prior_end != _NONE) & (rng.random(n) < 0.40)
    people = np.flatnonzero(spell)
    people = people[ctx.job_start[people] - prior_end[people] > 61]
    _unemployment_rows(ctx, rng, people, prior_end[people] + 1, ctx.job_start[people] - 1)

    # students: 1-3 short jobs, each inside one of the last eight quarters
    student = (state == _STUDENT) & (rng.random(n) < 0.45)
    jobs = 1 + np.where(u < 0.5, 0, np.where(u < 0.8, 1, 2))
    q_first = np.array([q[1] for q in _STUDENT_QUARTERS], dtype=np.int64)
    q_last = np.array([q[2] for q in _STUDENT_QUARTERS], dtype=np.int64)
    for j in range(3):
        people = np.flatnonzero(student & (jobs > j))
        k = len(people)
        q = rng.integers(0, len(_STUDENT_QUARTERS), k)
        start = q_first[q] + np.floor(rng.random(k) * (q_last[q] - q_first[q] - 6)).astype(np.int64)
        end = np.minimum(np.minimum(start + rng.integers(0, 30, k), q_last[q]), _LAST)
        ok = start >= ctx.birth[people] + _A16
        employer = emp.draw(rng, emp.cdf_student, k)
        ctx.periods.add(people[ok], 8 + j, employer[ok], _STU, start[ok], end[ok])

    # flexi-jobs next to a main job
    people = np.flatnonzero(main & ~ctx.is_bis & (rng.random(n) < 0.03))
    k = len(people)
    start = _between(rng, np.maximum(lower[people], _REF - 3 * 365), _LAST, k)
    employer = emp.draw(rng, emp.cdf_flexi, k)
    employer = np.where(employer == ctx.job_employer[people], (employer + 1) % len(emp.kbo), employer)
    ctx.periods.add(people, 4, employer, _FLX, start, _NONE)

    # extras: 1-3 day jobs in hospitality in the last two years
    extra = ctx.living & (ctx.age_days >= _A18) & (ctx.age < 67.0) & (rng.random(n) < 0.012)
    days = 1 + rng.integers(0, 3, n)
    for j in range(3):
        people = np.flatnonzero(extra & (days > j))
        k = len(people)
        start = _between(rng, np.maximum(lower[people], _REF - 730), _REF - 2, k)
        end = np.minimum(start + rng.integers(0, 2, k), _LAST)
        ctx.periods.add(people, 5 + j, emp.draw(rng, emp.cdf_extra, k), _EXT, start, end)


def _rsz_rows(ctx: _Ctx) -> None:
    """``dimona_period`` rows for every collected period and ``dmfa_quarter`` rows for the paid ones."""
    p = ctx.periods
    if not p.person:
        return
    rng = ctx.rng(3)
    person = np.concatenate(p.person)
    slot = np.concatenate(p.slot)
    employer = np.concatenate(p.employer)
    wtype = np.concatenate(p.worker_type)
    start = np.concatenate(p.start)
    end = np.concatenate(p.end)
    emp = ctx.employers
    kbo, rsz, name, jc = emp.kbo, emp.rsz, emp.name, emp.jc
    seq = _DIMONA_FIRST + ctx.index[person] * 16 + slot  # 10 digits: the ids need no zero padding
    dimona_id = list(map(str, (seq * 100 + (97 - seq % 97)).tolist()))
    employers = employer.tolist()
    attrs = [
        {
            "employer_kbo": kbo[e],
            "employer_rsz": rsz[e],
            "employer_name": name[e],
            "worker_type": _WORKER_TYPES[w],
            "joint_committee": jc[e],
            "dimona_id": i,
        }
        for e, w, i in zip(employers, wtype.tolist(), dimona_id, strict=True)
    ]
    ctx.rows.add("dimona_period", person, start, end, attrs)

    # DmfA: the last four completed quarters, per paid period that overlaps them
    m = len(person)
    blue = rng.random(m) < emp.blue_share[employer]
    monthly = np.where(blue, 300_000.0 * rng.lognormal(0.0, 0.22, m), 390_000.0 * rng.lognormal(0.0, 0.35, m))
    flexi, extra = wtype == _FLX, wtype == _EXT
    fraction = np.where(
        flexi,
        0.10 + 0.25 * rng.random(m),
        np.where(extra | (rng.random(m) < 0.72), 1.0, 0.5 + 0.35 * rng.random(m)),
    )
    paid_end = np.where(end == _NONE, _LAST, end)
    paid = wtype != _STU
    for label, q_first, q_last in _DMFA_QUARTERS:
        overlap = np.minimum(paid_end, q_last) - np.maximum(start, q_first) + 1
        sel = np.flatnonzero(paid & (overlap > 0))
        if len(sel) == 0:
            continue
        cal = overlap[sel].astype(np.float64)
        q_len = q_last - q_first + 1
        work_days = np.where(extra[sel], cal, cal * 5.0 / 7.0 * fraction[sel])
        days = np.rint(work_days * 100.0).astype(np.int64)
        hours = np.rint(days * 7.6).astype(np.int64)
        gross = np.where(
            extra[sel], cal * monthly[sel] / 21.7, monthly[sel] * 3.0 * cal / q_len * fraction[sel]
        )
        attrs = [
            {
                "employer_kbo": kbo[e],
                "quarter": label,
                "worker_code": "015" if b else "495",
                "gross_cents": g,
                "days": d,
                "hours": h,
            }
            for e, b, g, d, h in zip(
                employer[sel].tolist(),
                blue[sel].tolist(),
                _cents(gross),
                days.tolist(),
                hours.tolist(),
                strict=True,
            )
        ]
        k = len(sel)
        # the quarter's bounds; the quarter of a death ends on the day of death
        dead = ~ctx.alive[person[sel]]
        q_end = np.where(dead, np.minimum(ctx.death[person[sel]], q_last), q_last)
        ctx.rows.add("dmfa_quarter", person[sel], np.full(k, q_first), q_end, attrs)


# ------------------------------------------------------------------------------------------------- rva


def _unemployment_rows(ctx: _Ctx, rng: np.random.Generator, people: Array, start: Array, end: Array) -> None:
    k = len(people)
    if k == 0:
        return
    situation = _situation(ctx, people)
    lo = np.array([3_300, 5_200, 6_300])[situation]
    hi = np.array([6_200, 7_000, 7_600])[situation]
    amount = lo + np.floor(rng.random(k) * (hi - lo + 1))
    attrs = [
        {"category": "full", "daily_amount_cents": a, "payment_body": b}
        for a, b in zip(_cents(amount), ctx.payment_body[people].tolist(), strict=True)
    ]
    ctx.rows.add("unemployment", people, start, end, attrs)


def _rva(ctx: _Ctx) -> None:
    rng = ctx.rng(4)
    n, state = ctx.n, ctx.state
    people = np.flatnonzero((state == _UNEMPLOYED) | ctx.leefloon_unemployed)
    _unemployment_rows(ctx, rng, people, ctx.state_start[people], np.full(len(people), _NONE))

    employed = (state == _EMPLOYED) & ~ctx.is_bis
    job_start = np.where(employed, ctx.job_start, _REF)

    # temporary unemployment with the current employer
    start = _between(rng, np.maximum(job_start, _REF - 365), _LAST, n)
    stop = start + rng.integers(5, 91, n)
    end = np.where((stop > _LAST) | (rng.random(n) < 0.25), _NONE, stop)
    construction = ctx.employers.construction[np.maximum(ctx.job_employer, 0)]
    reason = np.where(
        construction,
        _choice(rng, ("weather", "economic", "force_majeure"), (0.5, 0.3, 0.2), n),
        _choice(rng, ("economic", "force_majeure"), (0.7, 0.3), n),
    )
    people = np.flatnonzero(employed & (rng.random(n) < 0.03))
    attrs = [
        {"reason": r, "employer_kbo": k, "payment_body": b}
        for r, k, b in zip(
            reason[people].tolist(),
            ctx.employers.table.kbo[ctx.job_employer[people]].tolist(),
            ctx.payment_body[people].tolist(),
            strict=True,
        )
    ]
    ctx.rows.add("temporary_unemployment", people, start[people], end[people], attrs)

    # career breaks (time credit, thematic leave, career break in the public sector)
    start = _between(rng, np.maximum(job_start, _REF - 3 * 365), _LAST, n)
    stop = start + rng.integers(30, 366, n)
    end = np.where((stop > _LAST) | (rng.random(n) < 0.70), _NONE, stop)
    scheme = _choice(rng, ("time_credit", "thematic_leave", "career_break"), (0.55, 0.35, 0.10), n)
    f = rng.random(n)
    fraction = np.select(
        [scheme == "career_break", scheme == "time_credit"],
        [
            _select_cdf(f, ("full", "half", "one_fifth"), (0.4, 0.4, 0.2)),
            _select_cdf(f, ("full", "half", "one_fifth"), (0.15, 0.35, 0.5)),
        ],
        default=_select_cdf(f, ("full", "half", "one_fifth"), (0.2, 0.3, 0.5)),
    )
    eligible = employed & (ctx.age >= 25.0) & (ctx.age < 60.0) & (rng.random(n) < 0.04)
    people = np.flatnonzero(eligible)
    attrs = [
        {"scheme": s, "fraction": fr}
        for s, fr in zip(scheme[people].tolist(), fraction[people].tolist(), strict=True)
    ]
    ctx.rows.add("career_break", people, start[people], end[people], attrs)


# ------------------------------------------------------------------------------------------------- fpd


def _pension_rows(ctx: _Ctx, rng: np.random.Generator, people: Array, start: Array, end: Array) -> None:
    k = len(people)
    if k == 0:
        return
    scheme = _choice(
        rng, ("employee", "mixed", "civil_servant", "self_employed"), (0.58, 0.24, 0.10, 0.08), k
    )
    base = np.select(
        [scheme == "employee", scheme == "mixed", scheme == "civil_servant"],
        [150_000.0, 170_000.0, 280_000.0],
        default=110_000.0,
    )
    survivor = (ctx.civil[people] == 30) & (rng.random(k) < 0.6)
    amount = np.clip(base * rng.lognormal(0.0, 0.28, k) * np.where(survivor, 0.85, 1.0), 50_000, 800_000)
    attrs = [
        {"scheme": s, "type": t, "monthly_amount_cents": a}
        for s, t, a in zip(
            scheme.tolist(),
            np.where(survivor, "survivor", "retirement").tolist(),
            _cents(amount),
            strict=True,
        )
    ]
    ctx.rows.add("pension", people, start, end, attrs)


def _igo_rows(
    ctx: _Ctx, rng: np.random.Generator, people: Array, start: Array, end: Array, cohabiting: Array
) -> None:
    k = len(people)
    amount = np.where(cohabiting, 99_200.0, 148_800.0) * (0.15 + 0.85 * rng.random(k))
    attrs = [
        {"monthly_amount_cents": a, "cohabiting": c}
        for a, c in zip(_cents(amount), cohabiting.tolist(), strict=True)
    ]
    ctx.rows.add("igo", people, start, end, attrs)


def _fpd(ctx: _Ctx) -> None:
    rng = ctx.rng(5)
    n = ctx.n
    people = np.flatnonzero(ctx.state == _PENSION)
    _pension_rows(ctx, rng, people, ctx.state_start[people], np.full(len(people), _NONE))

    alone = ctx.members[ctx.group] <= 1
    p = np.where(alone, np.where(ctx.female, 0.11, 0.07), 0.03)
    p = np.where(ctx.state == _PENSION, p, 0.5)
    igo = ctx.living & (ctx.age_days >= _A65) & (rng.random(n) < p)
    start = _between(rng, np.maximum(ctx.birth + _A65, _HIST), _LAST, n)
    people = np.flatnonzero(igo)
    _igo_rows(ctx, rng, people, start[people], np.full(len(people), _NONE), ~alone[people])
    ctx.ir_basis[igo] = "igo"
    ctx.ir_start[igo] = start[igo]


# ------------------------------------------------------------------------------------------------- han

_CATEGORY_POINTS = np.array([[7, 8], [9, 11], [12, 14], [15, 16], [17, 18]])


def _points(rng: np.random.Generator, category: Array) -> Array:
    lo = _CATEGORY_POINTS[category - 1, 0]
    hi = _CATEGORY_POINTS[category - 1, 1]
    return np.asarray(lo + np.floor(rng.random(len(category)) * (hi - lo + 1)).astype(np.int64))


def _recognition_rows(
    ctx: _Ctx, people: Array, start: Array, end: Array, points: Array, reduced: Array
) -> None:
    attrs = [
        {"points": p, "earning_capacity_reduced": r}
        for p, r in zip(points.tolist(), reduced.tolist(), strict=True)
    ]
    ctx.rows.add("medical_recognition", people, start, end, attrs)


def _elderly_rows(ctx: _Ctx, rng: np.random.Generator, people: Array, start: Array, end: Array) -> None:
    k = len(people)
    category = 1 + _cdf_draw(rng, np.cumsum([0.35, 0.30, 0.20, 0.10, 0.05]), k)
    amount = np.array([11_000, 42_000, 51_000, 60_000, 78_000])[category - 1] * (0.7 + 0.3 * rng.random(k))
    attrs = [
        {"category": c, "monthly_amount_cents": a}
        for c, a in zip(category.tolist(), _cents(amount), strict=True)
    ]
    ctx.rows.add("elderly_assistance_allowance", people, start, end, attrs)
    recognised = np.minimum(np.maximum(start - rng.integers(30, 181, k), _HIST), start)
    _recognition_rows(ctx, people, recognised, end, _points(rng, category), np.zeros(k, dtype=bool))


def _han(ctx: _Ctx) -> None:
    rng = ctx.rng(6)
    n = ctx.n
    disabled = ctx.state == _DISABLED
    people = np.flatnonzero(disabled)
    k = len(people)
    start = ctx.state_start[people]
    open_end = np.full(k, _NONE)
    which = rng.random(k)
    ira = which < 0.65  # 0.25 income replacement only + 0.40 both
    it = which >= 0.25  # 0.35 integration only + 0.40 both
    it_category = 1 + _cdf_draw(rng, np.cumsum([0.30, 0.30, 0.20, 0.12, 0.08]), k)
    situation = _situation(ctx, people)  # IRA: A cohabitant, B alone, C with a household
    parent = np.isin(ctx.rel[people], [_REL_HEAD, _REL_SPOUSE, _REL_PARTNER])
    household = parent & (ctx.has_partner[ctx.group[people]] | (situation == 2))
    ira_category = np.where(household, "C", np.where(situation == 1, "B", "A"))
    ira_amount = np.select(
        [ira_category == "C", ira_category == "B"], [150_000.0, 112_500.0], default=75_000.0
    )
    ira_amount *= 0.6 + 0.4 * rng.random(k)
    it_amount = np.array([12_500, 42_000, 67_000, 98_000, 111_000])[it_category - 1] * (
        0.8 + 0.2 * rng.random(k)
    )
    sel = np.flatnonzero(ira)
    ctx.rows.add(
        "income_replacement_allowance",
        people[sel],
        start[sel],
        open_end[sel],
        [
            {"category": c, "monthly_amount_cents": a}
            for c, a in zip(ira_category[sel].tolist(), _cents(ira_amount[sel]), strict=True)
        ],
    )
    sel = np.flatnonzero(it)
    ctx.rows.add(
        "integration_allowance",
        people[sel],
        start[sel],
        open_end[sel],
        [
            {"category": c, "monthly_amount_cents": a}
            for c, a in zip(it_category[sel].tolist(), _cents(it_amount[sel]), strict=True)
        ],
    )
    points = np.where(it, _points(rng, it_category), rng.integers(0, 7, k))
    reduced = ira | (rng.random(k) < 0.4)
    recognised = np.maximum(start - rng.integers(30, 181, k), ctx.adult_day[people])
    recognised = np.minimum(recognised, start)
    _recognition_rows(ctx, people, recognised, open_end, points, reduced)
    ctx.ir_basis[people] = "disability_allowance"
    ctx.ir_start[people] = start

    # elderly assistance
    age = ctx.age
    p = np.select([age >= 85.0, age >= 75.0, age >= 65.0], [0.08, 0.035, 0.012], default=0.0)
    elderly = ctx.living & (rng.random(n) < p)
    start = _between(rng, np.maximum(ctx.birth + _A65, _HIST), _LAST, n)
    people = np.flatnonzero(elderly)
    _elderly_rows(ctx, rng, people, start[people], np.full(len(people), _NONE))

    # a recognition without allowance
    only = ctx.living & ~disabled & ~elderly & (ctx.age_days >= _A18) & (rng.random(n) < 0.005)
    start = _between(rng, ctx.adult_day, _LAST, n)
    people = np.flatnonzero(only)
    k = len(people)
    _recognition_rows(
        ctx, people, start[people], np.full(k, _NONE), rng.integers(0, 13, k), rng.random(k) < 0.3
    )


# ------------------------------------------------------------------------------------------------ ocmw

_LEEFLOON_CENTS = np.array([87_613, 131_420, 177_607])  # cohabitant, single, family (2024)
_SITUATION_NAMES = np.array(["cohabitant", "single", "family"], dtype=object)


def _ocmw(ctx: _Ctx) -> None:
    rng = ctx.rng(7)
    n = ctx.n
    in_network = ctx.living & np.isin(ctx.nis, list(OCMWS))
    member = np.full(n, -1, dtype=np.int16)
    for nis, kbo in OCMWS.items():
        member[ctx.nis == nis] = _MEMBER_CODE[kbo]

    leefloon = ctx.state == _LEEFLOON  # only in the network's municipalities (see _assign_states)
    people = np.flatnonzero(leefloon)
    k = len(people)
    situation = _situation(ctx, people)
    amount = _LEEFLOON_CENTS[situation] * np.where(rng.random(k) < 0.7, 1.0, 0.3 + 0.7 * rng.random(k))
    equivalent = np.isin(ctx.nationality[people], _NON_EU)
    start = ctx.state_start[people]
    for kind, sel in (("leefloon", ~equivalent), ("equivalent_leefloon", equivalent)):
        idx = np.flatnonzero(sel)
        ctx.rows.add(
            kind,
            people[idx],
            start[idx],
            np.full(len(idx), _NONE),
            [
                {"category": c, "monthly_amount_cents": a}
                for c, a in zip(_SITUATION_NAMES[situation[idx]].tolist(), _cents(amount[idx]), strict=True)
            ],
            member=member[people[idx]],
        )
    ctx.ir_basis[people] = "leefloon"
    ctx.ir_start[people] = start

    aid = (leefloon & (rng.random(n) < 0.35)) | (
        in_network & ~leefloon & (ctx.age_days >= _A18) & (rng.random(n) < 0.012)
    )
    aid_kind = _choice(
        rng, ("heating_allowance", "medical_costs", "rent_guarantee", "food_aid"), (0.35, 0.30, 0.15, 0.20), n
    )
    start = _between(rng, np.maximum(ctx.adult_day, _REF - 3 * 365), _LAST, n)
    stop = np.minimum(start + np.where(aid_kind == "heating_allowance", 0, rng.integers(0, 181, n)), _LAST)
    end = np.where(rng.random(n) < 0.4, _NONE, stop)
    people = np.flatnonzero(aid)
    ctx.rows.add(
        "other_aid",
        people,
        start[people],
        end[people],
        [{"aid": a} for a in aid_kind[people].tolist()],
        member=member[people],
    )


# ------------------------------------------------------------------------------------------------- nic


def _health_rows(ctx: _Ctx, people: Array, start: Array, end: Array, holder: Array, title: Array) -> None:
    """``health_insurance`` rows: ``holder`` is the position of the holder, -1 for the holders themselves."""
    insz = ctx.insz_list
    attrs = [
        {"role": "dependant", "holder_insz": insz[h], "title": "dependant"}
        if h >= 0
        else {"role": "holder", "holder_insz": None, "title": t}
        for h, t in zip(holder.tolist(), title.tolist(), strict=True)
    ]
    ctx.rows.add("health_insurance", people, start, end, attrs, member=ctx.mutuality[people])


def _nic(ctx: _Ctx) -> None:
    rng = ctx.rng(8)
    n, state, rel, g = ctx.n, ctx.state, ctx.rel, ctx.group
    title = np.full(n, "resident", dtype=object)
    title[state == _STUDENT] = "student"
    title[state == _EMPLOYED] = "worker"
    title[state == _UNEMPLOYED] = "unemployed"
    title[state == _INCAPACITY] = np.where(ctx.invalidity[state == _INCAPACITY], "disabled", "worker")
    title[state == _DISABLED] = "disabled"
    title[ctx.leefloon_unemployed] = "unemployed"
    title[state == _PENSION] = "pensioner"

    insured = ctx.living | (ctx.is_bis & ctx.alive & (ctx.job_employer >= 0))
    head = ctx.head_of[g]
    partner_role = (rel == _REL_SPOUSE) | (rel == _REL_PARTNER)
    no_title = (state == _INACTIVE) & (ctx.ir_basis == None)  # noqa: E711 (element-wise)
    spouse_dependant = ctx.living & partner_role & no_title & (head >= 0) & (rng.random(n) < 0.8)
    holder = insured & ~spouse_dependant  # every head is a holder
    mother = ctx.mother_of[g]
    mother_holds = (mother >= 0) & holder[np.maximum(mother, 0)]
    parent = np.where(mother_holds, mother, head)
    child_dependant = (
        ctx.living
        & (rel == _REL_CHILD)
        & (ctx.age_days < _A25)
        & np.isin(state, [_NONE_ST, _STUDENT, _INACTIVE])
        & (parent >= 0)
    )
    holder &= ~child_dependant
    holder_of = np.full(n, -1, dtype=np.int64)
    holder_of[spouse_dependant] = head[spouse_dependant]
    holder_of[child_dependant] = parent[child_dependant]

    start = np.where(ctx.age_days >= _A18, ctx.birth + _A18, ctx.birth)
    start = np.where(spouse_dependant, np.maximum(start, ctx.address_start), start)
    start = np.where(ctx.is_bis, ctx.job_start, start)
    start = np.clip(start, _HIST, _LAST)
    people = np.flatnonzero(insured)
    _health_rows(ctx, people, start[people], np.full(len(people), _NONE), holder_of[people], title[people])

    # work incapacity: the incapacity group, maternity leave, and past sick leave of the employed
    people = np.flatnonzero(state == _INCAPACITY)
    k = len(people)
    kind = np.where(ctx.invalidity[people], "invalidity", "primary_incapacity")
    degree = _choice(rng, (66, 75, 100), (0.15, 0.10, 0.75), k)
    _incapacity_rows(ctx, people, ctx.state_start[people], np.full(k, _NONE), kind, degree)

    at_work = np.isin(state, [_EMPLOYED, _UNEMPLOYED])
    child = np.flatnonzero(ctx.living & (rel == _REL_CHILD) & (ctx.birth >= _HIST + 42))
    mum = mother[child]
    child, mum = child[mum >= 0], mum[mum >= 0]
    born = ctx.birth[child]
    recent = born >= _REF - 105
    keep = at_work[mum] & (recent | (rng.random(len(child)) < 0.85))
    mum, born, recent = mum[keep], born[keep], recent[keep]
    k = len(mum)
    _incapacity_rows(
        ctx,
        mum,
        np.maximum(born - 42, _HIST),
        np.where(recent, _NONE, born + 63),
        np.full(k, "maternity_leave", dtype=object),
        np.full(k, 100, dtype=np.int64),
    )

    sick = (state == _EMPLOYED) & ~ctx.is_bis & (rng.random(n) < 0.05)
    start_sick = _between(rng, np.maximum(ctx.job_start, _REF - 3 * 365), _REF - 10, n)
    end_sick = np.minimum(start_sick + rng.integers(7, 181, n), _LAST)
    people = np.flatnonzero(sick)
    k = len(people)
    _incapacity_rows(
        ctx,
        people,
        start_sick[people],
        end_sick[people],
        np.full(k, "primary_incapacity", dtype=object),
        np.full(k, 100, dtype=np.int64),
    )

    # increased reimbursement: the holders with a qualifying benefit or a low income, and their dependants
    basis = ctx.ir_basis.copy()
    basis[~ctx.living] = None
    p = np.select(
        [
            title == "unemployed",
            title == "resident",
            title == "pensioner",
            title == "disabled",
            title == "student",
        ],
        [0.25, 0.15, 0.14, 0.20, 0.05],
        default=0.03,
    )
    single_parent = (rel == _REL_HEAD) & ctx.minor_child[g] & ~ctx.has_partner[g]
    p = p + np.where(single_parent, 0.15, 0.0)
    income = ctx.living & holder & (basis == None) & (rng.random(n) < p)  # noqa: E711 (element-wise)
    basis[income] = "income"
    ir_start = np.where(income, _between(rng, np.maximum(start, _REF - 6 * 365), _LAST, n), ctx.ir_start)
    ir_start = np.where(basis != None, np.clip(np.maximum(ir_start, start), _HIST, _LAST), _NONE)  # noqa: E711
    holders = np.flatnonzero(ctx.living & holder & (basis != None))  # noqa: E711
    dependants = np.flatnonzero(
        ctx.living & (holder_of >= 0) & (basis[np.maximum(holder_of, 0)] != None)  # noqa: E711
    )
    owner = holder_of[dependants]
    people = np.concatenate([holders, dependants])
    ir_basis = np.concatenate([basis[holders], basis[owner]])
    ir_from = np.concatenate([ir_start[holders], np.maximum(ir_start[owner], start[dependants])])
    roles = ["holder"] * len(holders) + ["dependant"] * len(dependants)
    ctx.rows.add(
        "increased_reimbursement",
        people,
        ir_from,
        np.full(len(people), _NONE),
        [{"basis": b, "role": r} for b, r in zip(ir_basis.tolist(), roles, strict=True)],
        member=ctx.mutuality[people],
    )


def _incapacity_rows(ctx: _Ctx, people: Array, start: Array, end: Array, kind: Array, degree: Array) -> None:
    attrs = [
        {"type": t, "degree_percent": int(d)} for t, d in zip(kind.tolist(), degree.tolist(), strict=True)
    ]
    ctx.rows.add("work_incapacity", people, start, end, attrs, member=ctx.mutuality[people])


# ---------------------------------------------------------------------------------------- child benefit

_REGION_BASE = {"VL": 18_600, "WAL": 19_000, "BXL": 17_500, "DG": 18_500}


def _child_benefit(ctx: _Ctx) -> None:
    rng = ctx.rng(9)
    n, g = ctx.n, ctx.group
    recipient = np.where(ctx.mother_of[g] >= 0, ctx.mother_of[g], ctx.head_of[g])
    student = (ctx.state == _STUDENT) & (ctx.age_days < _A25) & (rng.random(n) < 0.9)
    entitled = ctx.living & (ctx.rel == _REL_CHILD) & (recipient >= 0) & ((ctx.age_days < _A18) | student)
    people = np.flatnonzero(entitled)
    k = len(people)
    if k == 0:
        return
    to = recipient[people]
    region = ctx.region[people]
    fund = np.full(k, -1, dtype=np.int16)
    base = np.zeros(k)
    for name, kbo in CHILD_BENEFIT_FUNDS.items():
        fund[region == name] = _MEMBER_CODE[kbo]
        base[region == name] = _REGION_BASE[name]
    older = np.where(region == "VL", 0.0, np.clip(ctx.age[people] - 6.0, 0.0, 12.0) * 250.0)
    social = np.where(rng.random(k) < 0.25, 2_000 + rng.random(k) * 9_000, 0.0)
    amount = np.clip(base * (0.95 + 0.1 * rng.random(k)) + older + social, 17_000, 30_000)
    start = np.clip(ctx.birth[people], _HIST, _LAST)
    end = np.full(k, _NONE)
    insz = ctx.insz_list
    child_insz = [insz[c] for c in people.tolist()]
    ctx.rows.add(
        "entitling_child",
        people,
        start,
        end,
        [
            {"allowance_recipient_insz": r, "region": reg, "monthly_amount_cents": a}
            for r, reg, a in zip([insz[t] for t in to.tolist()], region.tolist(), _cents(amount), strict=True)
        ],
        member=fund,
    )
    ctx.rows.add("allowance_recipient", to, start, end, [{"child_insz": c} for c in child_insz], member=fund)


# ---------------------------------------------------------------------------------------------- fedris

_DISEASES = ("1.606.22", "1.605.03", "1.605.12")  # noise, asbestos, silicosis


def _fedris(ctx: _Ctx) -> None:
    rng = ctx.rng(10)
    n = ctx.n
    has_job = (ctx.job_employer >= 0) & ctx.alive
    job_start = np.where(has_job, ctx.job_start, _REF)
    accident = _between(rng, np.maximum(job_start, _REF - 5 * 365), _LAST, n)
    consolidated = np.where(accident < _REF - 365, rng.random(n) < 0.7, rng.random(n) < 0.1)
    percent = np.where(
        consolidated & (rng.random(n) >= 0.45), np.minimum(1 + np.floor(rng.exponential(6.0, n)), 60), 0
    ).astype(np.int64)
    closed = np.minimum(accident + rng.integers(60, 366, n), _LAST)
    end = np.where(consolidated & (percent == 0), closed, _NONE)
    people = np.flatnonzero(has_job & (rng.random(n) < 0.02))
    ctx.rows.add(
        "work_accident",
        people,
        accident[people],
        end[people],
        [
            {"accident_date": d, "employer_kbo": k, "incapacity_percent": p, "consolidated": c}
            for d, k, p, c in zip(
                _iso(accident[people]),
                ctx.employers.table.kbo[ctx.job_employer[people]].tolist(),
                percent[people].tolist(),
                consolidated[people].tolist(),
                strict=True,
            )
        ],
    )

    p = np.where(ctx.female, 0.002, 0.008)
    disease = ctx.living & (ctx.age >= 50.0) & (rng.random(n) < p)
    people = np.flatnonzero(disease)
    k = len(people)
    code = _choice(rng, _DISEASES, (0.5, 0.25, 0.25), k)
    percent = np.where(
        code == "1.606.22",
        np.minimum(1 + np.floor(rng.exponential(5.0, k)), 30),
        np.minimum(10 + np.floor(rng.exponential(20.0, k)), 100),
    ).astype(np.int64)
    start = _between(rng, _HIST, _LAST, k)
    ctx.rows.add(
        "occupational_disease",
        people,
        start,
        np.full(k, _NONE),
        [
            {"disease_code": c, "incapacity_percent": p}
            for c, p in zip(code.tolist(), percent.tolist(), strict=True)
        ],
    )


# -------------------------------------------------------------------------------------------- deceased


def _deceased(ctx: _Ctx) -> None:
    """The closed files of residents who died since the history start, aged 18 or more."""
    rng = ctx.rng(11)
    n = ctx.n
    death = np.where(ctx.alive, _REF, ctx.death)
    at_death = death - ctx.birth
    dead = ~ctx.alive & ~ctx.is_bis & (death >= _HIST) & (at_death >= _A18)
    lower = np.minimum(np.maximum(ctx.birth + _A18, _HIST), death)

    job = dead & (at_death < _A65) & (rng.random(n) < 0.55)
    start = np.clip(death - _years(rng, 4.0, n), lower, death)
    people = np.flatnonzero(job)
    employer = ctx.employers.draw(rng, ctx.employers.cdf_all, len(people))
    ctx.periods.add(people, 11, employer, _OTH, start[people], death[people])

    pension = dead & (at_death >= _A65) & (rng.random(n) < 0.97)
    pension_start = np.clip(ctx.birth + _A65, _HIST, death)
    people = np.flatnonzero(pension)
    _pension_rows(ctx, rng, people, pension_start[people], death[people])

    igo = pension & (rng.random(n) < 0.05)
    start = _between(rng, pension_start, death, n)
    people = np.flatnonzero(igo)
    _igo_rows(ctx, rng, people, start[people], death[people], np.zeros(len(people), dtype=bool))

    elderly = dead & (at_death >= _A65) & (rng.random(n) < 0.05)
    start = _between(rng, pension_start, death, n)
    people = np.flatnonzero(elderly)
    _elderly_rows(ctx, rng, people, start[people], death[people])

    people = np.flatnonzero(dead)
    title = np.where(pension, "pensioner", np.where(job, "worker", "resident"))
    _health_rows(
        ctx, people, lower[people], death[people], np.full(len(people), -1), title[people].astype(object)
    )


# ---------------------------------------------------------------------------------------------- public


def statuses_for(batch: PopulationBatch, *, seed: int, employers: EmployerTable) -> StatusBatch:
    """The files the social-security sources hold on the people of ``batch`` (deterministic).

    ``employers`` is the nation's employer table (:func:`~kruispunt.simulate.employers.generate_employers`);
    households are read within the batch, so pass whole households (as :func:`iter_lives` does).
    """
    if seed < 0:
        raise ValueError("seed must be >= 0")
    if len(batch) == 0:
        return _empty()
    ctx = _context(batch, seed, employers)
    _assign_states(ctx)
    _employment(ctx)
    _rva(ctx)
    _fpd(ctx)
    _han(ctx)
    _ocmw(ctx)
    _deceased(ctx)
    _rsz_rows(ctx)
    _nic(ctx)
    _child_benefit(ctx)
    _fedris(ctx)
    return ctx.rows.finish(ctx.insz)


def employer_count(persons: int) -> int:
    """The number of employers :func:`iter_lives` gives ``persons`` people: one per 40, at least 50."""
    return max(50, persons // 40)


def _whole_households(batches: Iterable[PopulationBatch]) -> Iterator[PopulationBatch]:
    """Re-cut batches so that no household straddles two of them (the last household moves on)."""
    carry: PopulationBatch | None = None
    for batch in batches:
        if carry is not None:
            batch = PopulationBatch.concat([carry, batch])
            carry = None
        household = batch.household_id
        last = int(household[-1]) if len(batch) else -1
        if last >= 0:
            others = np.flatnonzero(household != last)
            cut = int(others[-1]) + 1 if len(others) else 0
            if cut > 0:
                carry = batch.take(cut, len(batch))
                batch = batch.take(0, cut)
        yield batch
    if carry is not None:
        yield carry


def iter_lives(
    persons: int, seed: int, *, chunk_size: int = 500_000
) -> Iterator[tuple[PopulationBatch, StatusBatch]]:
    """The people of nation ``seed`` with their files, in batches of about ``chunk_size`` whole households."""
    employers = generate_employers(seed, employer_count(persons))
    for batch in _whole_households(iter_population(persons, seed, chunk_size=chunk_size)):
        yield batch, statuses_for(batch, seed=seed, employers=employers)
