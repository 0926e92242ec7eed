"""A synthetic nation, vectorised with numpy and deterministic by seed.

Determinism contract
--------------------
The population of ``(n, seed)`` is built in fixed blocks of :data:`BLOCK_SIZE` people; block ``b`` draws from
its own generators ``SeedSequence([seed, b, stage])`` and INSZ counters continue from block to block. So:

* the same ``(n, seed)`` gives the same people whatever ``chunk_size`` is used to stream them;
* ``population(n, seed)`` is a prefix of ``population(m, seed)`` for ``n < m`` (the last block is generated in
  full and cut, so the last household of a population may lose its last members);
* changing :data:`BLOCK_SIZE`, :data:`REFERENCE_DATE` or the drawing code (:data:`GENERATOR_VERSION`) changes
  the population.

What a block holds: private households (LIPRO types drawn per municipality: singles, couples with or
without children, single parents, other households), people who died in the last 15 years, and about 2.5 %
non-residents with a bis number (they live abroad and are kept by the bis register, not the National
Register). Units
(households, deceased, non-residents) are shuffled within a block, so every prefix has a fair mix.

Two passes per block: the *core* (who exists: household structure, sex, birth and death dates, municipality,
origin, nationality) and, only when full records are wanted, the *decoration* (names, addresses and address
history, card numbers). :func:`iter_identities` runs the core alone, which is what :func:`sample_inszs` uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kruispunt.simulate import names as _names
from kruispunt.simulate.geo import (
    AREA_BRUSSELS,
    AREA_FLEMISH,
    AREA_FRENCH,
    AREA_GERMAN,
    Geography,
    geography,
)
from kruispunt.simulate.insz import CounterState, counter_kind, format_numbers, insz_numbers, mod97_card

Array = npt.NDArray[Any]

GENERATOR_VERSION = 1
BLOCK_SIZE = 32_768
REFERENCE_DATE = date(2025, 1, 1)
"""The simulation's "today": ages, address periods and deaths are relative to it (never the wall clock)."""

BIS_SHARE = 0.025
DECEASED_SHARE = 0.03
BIS_SEX_UNKNOWN_SHARE = 0.05

RELATIONSHIPS = ("head", "spouse", "partner", "child", "other")
"""Relationship to the head of the household (reference person)."""

CIVIL_STATES: dict[int, str] = {
    10: "single",
    20: "married",
    30: "widowed",
    40: "divorced",
    50: "separated (judicial)",
    51: "separated (de facto)",
    60: "legal cohabitation",
}
"""The ``t_CivilStateCode`` values we draw (CommonDataTypes.xsd also lists 25, 26, 41; not used)."""

NATIONALITIES = ("BE", "NL", "FR", "DE", "LU", "IT", "ES", "PT", "PL", "RO", "MA", "TR")
"""ISO 3166-1 alpha-2 codes."""

_ROLE_HEAD, _ROLE_SPOUSE, _ROLE_PARTNER, _ROLE_CHILD, _ROLE_OTHER = 0, 1, 2, 3, 4
_UNIT_HOUSEHOLD, _UNIT_DECEASED, _UNIT_BIS = 0, 1, 2
_SLOTS = 7
_YEAR_DAYS = 365.2425
_EPOCH = np.datetime64("1970-01-01", "D")
_REF = int((np.datetime64(REFERENCE_DATE, "D") - _EPOCH).astype(np.int64))
_NONE = np.iinfo(np.int64).min  # "no date" in day-number arrays (same bits as NaT)
_SIS_CARD_END = int((np.datetime64("2014-01-01", "D") - _EPOCH).astype(np.int64))

# Belgium's population by five-year age group (thousands, about 2020), 0-4 … 100-104.
_AGE_GROUPS = np.array(
    [630, 660, 660, 630, 660, 720, 750, 750, 740, 780, 810, 820, 730, 640, 560, 390, 320, 210, 85, 20, 2],
    dtype=np.float64,
)
_PYRAMID = np.append(np.repeat(_AGE_GROUPS / 5.0, 5), 0.1)  # ages 0..105


def _age_cdf(points: list[tuple[float, float]]) -> Array:
    """Cumulative distribution over ages 0..105: the pyramid times a piecewise-linear weight."""
    ages = np.arange(len(_PYRAMID), dtype=np.float64)
    xs, ys = zip(*points, strict=True)
    weights = _PYRAMID * np.interp(ages, xs, ys, left=0.0, right=0.0)
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return cdf


# Age of the reference person by household type (weights relative to the pyramid, tuned so that the whole
# population is roughly 20 % under 18 and 19 % over 64, as in Belgium).
_CDF_SINGLE = _age_cdf(
    [(18, 0.3), (22, 0.9), (30, 1.1), (40, 0.7), (55, 0.8), (65, 1.3), (75, 2.0), (105, 2.4)]
)
_CDF_MARRIED = _age_cdf(
    [(22, 0.0), (30, 0.2), (45, 0.2), (55, 0.9), (65, 1.9), (75, 2.2), (85, 1.6), (100, 0.5)]
)
_CDF_COHABIT = _age_cdf([(19, 0.0), (25, 1.6), (35, 1.2), (50, 0.5), (70, 0.4), (90, 0.1)])
_CDF_MOTHER = _age_cdf([(22, 0.0), (30, 0.6), (38, 1.2), (46, 1.4), (52, 1.0), (58, 0.3), (62, 0.0)])
_CDF_MOTHER_COHAB = _age_cdf([(20, 0.0), (27, 1.0), (35, 1.4), (45, 0.7), (55, 0.0)])
_CDF_LONE = _age_cdf([(22, 0.0), (30, 0.6), (42, 1.3), (52, 1.2), (60, 0.3), (65, 0.0)])
_CDF_OTHER = _age_cdf([(18, 0.8), (30, 1.0), (60, 0.8), (80, 1.0), (95, 0.6)])
_CDF_BIS = _age_cdf([(19, 0.0), (25, 1.5), (40, 1.5), (55, 0.8), (66, 0.4), (85, 0.1)])

_P_KIDS_COUPLE = np.cumsum([0.45, 0.40, 0.11, 0.03, 0.01])
_P_KIDS_LONE = np.cumsum([0.55, 0.33, 0.10, 0.02])
_P_OTHER_ADULTS = np.cumsum([0.6, 0.3, 0.1])

_ORIGIN_INDEX = {o: i for i, o in enumerate(_names.ORIGINS)}
_NAT_INDEX = {n: i for i, n in enumerate(NATIONALITIES)}
# Origin of households by language area (weights over _names.ORIGINS: nl fr de it es pt pl ro ma tr).
_ORIGIN_P = np.array(
    [
        [0.905, 0.010, 0.000, 0.010, 0.003, 0.002, 0.015, 0.015, 0.025, 0.015],  # Flanders
        [0.010, 0.870, 0.002, 0.050, 0.010, 0.010, 0.010, 0.010, 0.020, 0.008],  # Wallonia
        [0.100, 0.500, 0.000, 0.030, 0.030, 0.030, 0.040, 0.060, 0.160, 0.050],  # Brussels
        [0.050, 0.100, 0.850, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000],  # German-speaking
    ]
)
_ORIGIN_CDF = np.cumsum(_ORIGIN_P / _ORIGIN_P.sum(axis=1, keepdims=True), axis=1)
# Country of each origin (nationality when the household is not Belgian).
_ORIGIN_COUNTRY = np.array(
    [_NAT_INDEX[c] for c in ("NL", "FR", "DE", "IT", "ES", "PT", "PL", "RO", "MA", "TR")]
)
_BIS_NAT = ("FR", "NL", "DE", "LU", "PL", "RO", "PT", "IT", "ES", "BE", "MA", "TR")
_BIS_NAT_CDF = np.cumsum([0.25, 0.20, 0.05, 0.03, 0.12, 0.12, 0.06, 0.05, 0.04, 0.03, 0.03, 0.02])


def _cdf_draw(rng: np.random.Generator, cdf: Array, size: int) -> Array:
    idx = np.searchsorted(cdf / cdf[-1], rng.random(size), side="right")
    return np.minimum(idx, len(cdf) - 1)


def _ages(rng: np.random.Generator, cdf: Array, size: int) -> Array:
    """Exact ages in years (integer age from the distribution plus a uniform fraction)."""
    return _cdf_draw(rng, cdf, size) + rng.random(size)


def _days(years: Array) -> Array:
    return np.rint(years * _YEAR_DAYS).astype(np.int64)


# --------------------------------------------------------------------------------------------- batches


@dataclass
class AddressBatch:
    """Address periods (the current one included, ``end`` NaT) sorted by person."""

    person_index: Array  # int64, global index of the person
    insz: Array  # <U11
    street: Array  # object
    house_number: Array  # object
    postal_code: Array  # object
    municipality: Array  # object
    nis_code: Array  # int32, -1 abroad
    country: Array  # <U2
    start: Array  # datetime64[D]
    end: Array  # datetime64[D], NaT = current

    def __len__(self) -> int:
        return len(self.person_index)


@dataclass
class PopulationBatch:
    """Column arrays of consecutive people (global indices ``index``) and their address periods.

    ``sex``: "M", "F" or "" (unknown, bis numbers only); ``birth_date``: ``YYYY-MM-DD`` with ``00`` for an
    unknown month/day; ``civil_state`` 0 = unknown; ``household_id``/-1 and ``relationship``/"" for people
    without a Belgian household (non-residents); ``nis_code`` -1 abroad; card numbers None when absent.
    """

    index: Array  # int64
    insz: Array  # <U11
    is_bis: Array  # bool
    last_name: Array  # object
    first_names: Array  # object
    sex: Array  # <U1
    birth_date: Array  # <U10
    birth_year: Array  # int16
    nationality: Array  # <U2
    civil_state: Array  # int16
    death_date: Array  # datetime64[D]
    household_id: Array  # int64
    relationship: Array  # object
    language: Array  # <U2 (nl, fr, de, or the origin of non-residents)
    street: Array  # object
    house_number: Array  # object
    postal_code: Array  # object
    municipality: Array  # object
    nis_code: Array  # int32
    country: Array  # <U2
    address_start: Array  # datetime64[D]
    sis_card_number: Array  # object
    identity_card_number: Array  # object
    addresses: AddressBatch

    def __len__(self) -> int:
        return len(self.index)

    def records(self) -> Iterator[dict[str, Any]]:
        """One plain dict per person (handy in tests and small tools; not for millions)."""
        names = [f.name for f in fields(self) if f.name != "addresses"]
        columns = [getattr(self, n).tolist() for n in names]
        for values in zip(*columns, strict=True):
            yield dict(zip(names, values, strict=True))

    def take(self, start: int, stop: int) -> PopulationBatch:
        """People ``start:stop`` (positions in this batch) with their addresses."""
        a = self.addresses
        a_lo = a_hi = 0
        if start < stop:
            bounds = [int(self.index[start]), int(self.index[stop - 1]) + 1]
            a_lo, a_hi = (int(x) for x in np.searchsorted(a.person_index, bounds))
        addresses = AddressBatch(**{f.name: getattr(a, f.name)[a_lo:a_hi] for f in fields(AddressBatch)})
        values = {f.name: getattr(self, f.name)[start:stop] for f in fields(self) if f.name != "addresses"}
        return PopulationBatch(**values, addresses=addresses)

    @staticmethod
    def concat(parts: list[PopulationBatch]) -> PopulationBatch:
        if len(parts) == 1:
            return parts[0]
        addresses = AddressBatch(
            **{
                f.name: np.concatenate([getattr(p.addresses, f.name) for p in parts])
                for f in fields(AddressBatch)
            }
        )
        values = {
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in fields(PopulationBatch)
            if f.name != "addresses"
        }
        return PopulationBatch(**values, addresses=addresses)


@dataclass
class IdentityBatch:
    """The cheap columns of consecutive people: what :func:`iter_identities` yields."""

    index: Array  # int64
    insz: Array  # <U11
    is_bis: Array  # bool
    deceased: Array  # bool
    sex: Array  # <U1
    birth_date: Array  # <U10

    def __len__(self) -> int:
        return len(self.index)


# ------------------------------------------------------------------------------------------------ core


@dataclass
class _Core:
    """One block after the core pass: units (households, deceased, non-residents) and their people."""

    # units, in block order
    unit_kind: Array
    unit_type: Array  # LIPRO 1..7 for households, 0 otherwise
    unit_muni: Array  # municipality index, -1 abroad
    unit_origin: Array
    unit_start: Array  # move-in day of the current address
    unit_death: Array  # day of death, _NONE
    unit_country: Array  # nationality index of the country of residence (bis), -1
    unit_first: Array  # position of the unit's first person in the block
    # people, in block order
    unit: Array
    role: Array  # -1 for non-residents
    sex: Array  # 0 unknown, 1 M, 2 F
    birth: Array  # day number (days since 1970-01-01)
    year: Array
    month: Array  # 0 = unknown
    day: Array  # 0 = unknown
    civil: Array
    nationality: Array  # index into NATIONALITIES
    is_bis: Array
    death: Array  # day number, _NONE alive
    insz: Array  # int64, filled by _number()


def _core(seed: int, block: int, geo: Geography) -> _Core:
    rng = np.random.default_rng(np.random.SeedSequence([seed, block, 1]))
    n_bis = round(BLOCK_SIZE * BIS_SHARE)
    n_dec = round(BLOCK_SIZE * DECEASED_SHARE)
    n_hh_people = BLOCK_SIZE - n_bis - n_dec

    # --- households: type and size, as many as fill the block exactly (the rest become one-person)
    muni0 = geo.draw_municipalities(rng, n_hh_people)
    type0 = geo.draw_household_types(rng, muni0)
    kids0 = np.where(
        (type0 == 3) | (type0 == 5),
        _cdf_draw(rng, _P_KIDS_COUPLE, n_hh_people) + 1,
        np.where(type0 == 6, _cdf_draw(rng, _P_KIDS_LONE, n_hh_people) + 1, 0),
    )
    others0 = np.where(type0 == 7, _cdf_draw(rng, _P_OTHER_ADULTS, n_hh_people) + 2, 0)
    size0 = np.select(
        [type0 == 1, (type0 == 2) | (type0 == 4), (type0 == 3) | (type0 == 5), type0 == 6],
        [1, 2, 2 + kids0, 1 + kids0],
        default=others0,
    )
    cum = np.cumsum(size0)
    kept = int(np.searchsorted(cum, n_hh_people, side="right"))
    rest = n_hh_people - (int(cum[kept - 1]) if kept else 0)
    h = kept + rest
    muni = muni0[:h]
    htype = type0[:h].copy()
    htype[kept:] = 1
    kids = np.where(htype == type0[:h], kids0[:h], 0)
    size = np.where(htype == type0[:h], size0[:h], 1)

    birth = np.zeros((h, _SLOTS), dtype=np.int64)
    sex = np.zeros((h, _SLOTS), dtype=np.int8)
    role = np.full((h, _SLOTS), -1, dtype=np.int8)
    civil = np.zeros((h, _SLOTS), dtype=np.int16)
    slot = np.arange(_SLOTS)[None, :]
    valid = slot < size[:, None]

    def born(age_years: Array) -> Array:
        return _REF - _days(age_years)

    single, married_nokids, cohab_nokids = htype == 1, htype == 2, htype == 4
    married_kids, cohab_kids, lone = htype == 3, htype == 5, htype == 6
    couple = married_nokids | cohab_nokids | married_kids | cohab_kids
    with_kids = married_kids | cohab_kids
    married = married_nokids | married_kids

    age_single = _ages(rng, _CDF_SINGLE, h)
    age_married = _ages(rng, _CDF_MARRIED, h)
    age_cohab = _ages(rng, _CDF_COHABIT, h)
    age_mother = np.where(married_kids, _ages(rng, _CDF_MOTHER, h), _ages(rng, _CDF_MOTHER_COHAB, h))
    age_lone = _ages(rng, _CDF_LONE, h)
    gap = np.clip(rng.normal(2.5, 3.5, h), -4.0, 15.0)
    # too young a partner is redrawn just above the bound (clipping would pile birth dates on one day)
    floor = rng.random(h) * 3.0
    age_father = np.minimum(age_mother + gap, 104.0)
    age_father = np.where(age_father < 19.0, 19.0 + floor, age_father)
    age_partner_nokids = np.where(married_nokids, age_married, age_cohab) - gap
    age_partner_nokids = np.where(age_partner_nokids < 18.0, 18.0 + floor, age_partner_nokids)
    age_others = _ages(rng, _CDF_OTHER, h * 4).reshape(h, 4)

    head_age = np.select(
        [single, married_nokids, cohab_nokids, with_kids, lone],
        [age_single, age_married, age_cohab, age_father, age_lone],
        default=age_others[:, 0],
    )
    u = rng.random((h, _SLOTS))
    p_female_single = np.interp(head_age, [0, 30, 60, 75, 90], [0.45, 0.42, 0.5, 0.65, 0.75])
    head_sex = np.where(
        single,
        np.where(u[:, 0] < p_female_single, 2, 1),
        np.where(couple, 1, np.where(lone, np.where(u[:, 0] < 0.8, 2, 1), np.where(u[:, 0] < 0.5, 2, 1))),
    )
    birth[:, 0] = born(head_age)
    sex[:, 0] = head_sex
    role[:, 0] = _ROLE_HEAD

    # partner (slot 1) of couples; first extra adult of "other" households
    partner_age = np.where(with_kids, age_mother, age_partner_nokids)
    birth[:, 1] = np.where(couple, born(partner_age), born(age_others[:, 1]))
    sex[:, 1] = np.where(couple, 2, np.where(u[:, 1] < 0.5, 2, 1))
    role[:, 1] = np.where(couple, np.where(married, _ROLE_SPOUSE, _ROLE_PARTNER), _ROLE_OTHER)
    for j in (2, 3):
        birth[:, j] = born(age_others[:, j])
        sex[:, j] = np.where(u[:, j] < 0.5, 2, 1)
        role[:, j] = _ROLE_OTHER

    # children: born when the younger parent (or the lone parent) was 18..44
    parent_birth = np.where(lone, birth[:, 0], np.maximum(birth[:, 0], birth[:, 1]))
    parent_age = np.where(lone, age_lone, np.minimum(age_mother, age_father))
    first_child = np.where(lone, 1, 2)
    is_child = (slot >= first_child[:, None]) & (slot < (first_child + kids)[:, None])
    lo = np.maximum(18.0, parent_age - 24.5)
    hi = np.minimum(44.5, parent_age - 0.05)
    at_birth = lo[:, None] + rng.random((h, _SLOTS)) * np.maximum(hi - lo, 0.0)[:, None]
    child_birth = np.minimum(parent_birth[:, None] + _days(at_birth), _REF - 1)
    birth = np.where(is_child, child_birth, birth)
    sex = np.where(is_child, np.where(rng.random((h, _SLOTS)) < 0.512, 1, 2), sex).astype(np.int8)
    role = np.where(is_child, _ROLE_CHILD, role).astype(np.int8)

    # civil state
    age = (_REF - birth) / _YEAR_DAYS
    cu = rng.random((h, _SLOTS))
    alone_state = np.select(
        [age < 35, age < 65],
        [np.where(cu < 0.9, 10, 40), np.select([cu < 0.5, cu < 0.88, cu < 0.92], [10, 40, 50], default=51)],
        default=np.select([cu < 0.55, cu < 0.7], [30, 10], default=40),
    )
    cohab_state = np.where(cu < 0.4, 60, np.where((age > 35) & (cu > 0.7), 40, 10))
    lone_state = np.select([cu < 0.4, cu < 0.85], [10, 40], default=51)
    is_partnered = (role == _ROLE_HEAD) & couple[:, None] | (role == _ROLE_SPOUSE) | (role == _ROLE_PARTNER)
    civil = np.select(
        [
            role == _ROLE_CHILD,
            is_partnered & married[:, None],
            is_partnered,
            (role == _ROLE_HEAD) & lone[:, None],
        ],
        [10, 20, cohab_state, lone_state],
        default=alone_state,
    ).astype(np.int16)

    # move-in day of the current address: not before the youngest adult turned 18
    adult = valid & (role != _ROLE_CHILD)
    youngest_adult = np.where(adult, age, np.inf).min(axis=1)
    years_ago = np.minimum(rng.exponential(8.0, h), np.maximum(youngest_adult - 18.0, 0.0))
    move_in = _REF - 1 - _days(years_ago)

    # --- deceased people (died in the last 15 years)
    dsex = np.where(rng.random(n_dec) < 0.5, 1, 2).astype(np.int8)
    age_at_death = np.clip(rng.normal(np.where(dsex == 2, 82.0, 77.0), 11.0), 0.5, 104.5)
    death = _REF - 1 - (rng.random(n_dec) * 15 * _YEAR_DAYS).astype(np.int64)
    dbirth = death - _days(age_at_death)
    dcu = rng.random(n_dec)
    dcivil = np.where(
        age_at_death < 18, 10, np.select([dcu < 0.4, dcu < 0.75, dcu < 0.85], [30, 20, 10], default=40)
    ).astype(np.int16)
    dmove = death - _days(np.minimum(rng.exponential(15.0, n_dec), np.maximum(age_at_death - 18.0, 0.0)))
    dmuni = geo.draw_municipalities(rng, n_dec)

    # --- non-residents (bis register)
    bu = rng.random(n_bis)
    bsex = np.where(bu < BIS_SEX_UNKNOWN_SHARE, 0, np.where(rng.random(n_bis) < 0.62, 1, 2)).astype(np.int8)
    bage = _ages(rng, _CDF_BIS, n_bis)
    bbirth = born(bage)
    bnat = np.array([_NAT_INDEX[c] for c in _BIS_NAT])[_cdf_draw(rng, _BIS_NAT_CDF, n_bis)]
    bcu = rng.random(n_bis)
    bcivil = np.select([bcu < 0.3, bcu < 0.6, bcu < 0.92], [0, 10, 20], default=40).astype(np.int16)
    bstart = _REF - 1 - _days(np.minimum(rng.exponential(6.0, n_bis), np.maximum(bage - 18.0, 0.0)))
    bincomplete = rng.random(n_bis)  # < 0.01: month and day unknown; < 0.03: day unknown

    # --- units: households, deceased, non-residents; shuffled within the block
    n_units = h + n_dec + n_bis
    area = geo.area[np.concatenate([muni, dmuni])]
    origin_hd = (
        (rng.random(h + n_dec)[:, None] >= _ORIGIN_CDF[area]).sum(axis=1).clip(0, len(_names.ORIGINS) - 1)
    )
    nat_name = np.array(NATIONALITIES)[bnat]
    bis_origin = np.array(
        [_ORIGIN_INDEX[_names.NATIONALITY_ORIGIN[c]] for c in nat_name.tolist()], dtype=np.int64
    )
    unit_origin = np.concatenate([origin_hd, bis_origin])
    local = origin_hd < 3  # nl, fr, de
    nu = rng.random(h + n_dec)
    unit_nat_hd = np.where(
        local,
        np.where(nu < 0.97, _NAT_INDEX["BE"], _ORIGIN_COUNTRY[origin_hd]),
        np.where(nu < 0.45, _NAT_INDEX["BE"], _ORIGIN_COUNTRY[origin_hd]),
    )
    residence = np.where(
        np.isin(nat_name, list(_names.FOREIGN_PLACES)),
        bnat,
        np.where(rng.random(n_bis) < 0.5, _NAT_INDEX["FR"], _NAT_INDEX["NL"]),
    )

    unit_kind = np.concatenate([np.zeros(h, np.int8), np.ones(n_dec, np.int8), np.full(n_bis, 2, np.int8)])
    unit_type = np.concatenate([htype, np.zeros(n_dec + n_bis, np.int64)])
    unit_muni = np.concatenate([muni, dmuni, np.full(n_bis, -1)])
    unit_start = np.concatenate([move_in, dmove, bstart])
    unit_death = np.concatenate([np.full(h, _NONE), death, np.full(n_bis, _NONE)])
    unit_incomplete = np.concatenate([np.ones(h + n_dec), bincomplete])
    unit_country = np.concatenate([np.full(h + n_dec, -1), residence])
    unit_nat = np.concatenate([unit_nat_hd, bnat])

    def pad(values: Array, dtype: Any, fill: Any) -> Array:
        out = np.full((len(values), _SLOTS), fill, dtype=dtype)
        out[:, 0] = values
        return out

    m_birth = np.concatenate([birth, pad(dbirth, np.int64, 0), pad(bbirth, np.int64, 0)])
    m_sex = np.concatenate([sex, pad(dsex, np.int8, 0), pad(bsex, np.int8, 0)])
    m_role = np.concatenate([role, pad(np.zeros(n_dec), np.int8, -1), pad(np.full(n_bis, -1), np.int8, -1)])
    m_civil = np.concatenate([civil, pad(dcivil, np.int16, 0), pad(bcivil, np.int16, 0)])
    m_valid = np.concatenate([valid, pad(np.ones(n_dec + n_bis, bool), bool, False)])
    # nationality: children of foreign households are Belgian half of the time
    m_nat = np.repeat(unit_nat[:, None], _SLOTS, axis=1)
    child_be = (np.concatenate([role, np.full((n_dec + n_bis, _SLOTS), -1)]) == _ROLE_CHILD) & (
        rng.random((n_units, _SLOTS)) < 0.5
    )
    m_nat = np.where(child_be, _NAT_INDEX["BE"], m_nat)

    order = rng.permutation(n_units)
    unit_kind, unit_type, unit_muni = unit_kind[order], unit_type[order], unit_muni[order]
    unit_origin, unit_start, unit_death = unit_origin[order], unit_start[order], unit_death[order]
    unit_country, unit_incomplete = unit_country[order], unit_incomplete[order]
    m_valid = m_valid[order]
    flat = m_valid.ravel()
    people_unit = np.repeat(np.arange(n_units), m_valid.sum(axis=1))
    unit_first = np.concatenate([[0], np.cumsum(m_valid.sum(axis=1))[:-1]]).astype(np.int64)

    p_birth = m_birth[order].ravel()[flat]
    p_sex = m_sex[order].ravel()[flat]
    p_is_bis = unit_kind[people_unit] == _UNIT_BIS
    dt = p_birth.astype("datetime64[D]")
    year = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    month = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (dt - dt.astype("datetime64[M]")).astype(np.int64) + 1
    incomplete = unit_incomplete[people_unit]
    month = np.where(incomplete < 0.01, 0, month)
    day = np.where(incomplete < 0.03, 0, day)

    return _Core(
        unit_kind=unit_kind,
        unit_type=unit_type,
        unit_muni=unit_muni,
        unit_origin=unit_origin,
        unit_start=unit_start,
        unit_death=unit_death,
        unit_country=unit_country,
        unit_first=unit_first,
        unit=people_unit,
        role=m_role[order].ravel()[flat],
        sex=p_sex,
        birth=p_birth,
        year=year,
        month=month,
        day=day,
        civil=m_civil[order].ravel()[flat],
        nationality=m_nat[order].ravel()[flat],
        is_bis=p_is_bis,
        death=unit_death[people_unit],
        insz=np.zeros(len(p_birth), dtype=np.int64),
    )


def _number(core: _Core, state: CounterState) -> None:
    kind = counter_kind(core.is_bis, core.sex)
    counter, month_enc, day_enc = state.assign(kind, core.year, core.month, core.day)
    core.insz = insz_numbers(core.year, month_enc, day_enc, counter)


def _date_strings(year: Array, month: Array, day: Array) -> Array:
    ys = year.astype("U4")
    ms = np.char.zfill(month.astype("U2"), 2)
    ds = np.char.zfill(day.astype("U2"), 2)
    return np.char.add(np.char.add(np.char.add(np.char.add(ys, "-"), ms), "-"), ds)


# ---------------------------------------------------------------------------------------- decoration


def _lookup_table(lists: dict[str, tuple[str, ...]]) -> tuple[Array, Array, Array]:
    """Concatenated values, start offset and length per origin (in _names.ORIGINS order)."""
    values = [lists[o] for o in _names.ORIGINS]
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return np.array([x for v in values for x in v], dtype=object), starts, lengths


_LAST = _lookup_table(_names.LAST_NAMES)
_FIRST_M = _lookup_table(_names.FIRST_NAMES_M)
_FIRST_F = _lookup_table(_names.FIRST_NAMES_F)
_STREET_LANGS = ("nl", "fr", "de")
_STREETS = tuple(np.array(_names.STREETS[lang], dtype=object) for lang in _STREET_LANGS)
_FOREIGN = {
    c: (np.array(p, dtype=object), np.array(_names.FOREIGN_STREETS[c], dtype=object))
    for c, p in _names.FOREIGN_PLACES.items()
}


def _pick(rng: np.random.Generator, table: tuple[Array, Array, Array], origin: Array) -> Array:
    _values, starts, lengths = table
    return starts[origin] + (rng.random(len(origin)) * lengths[origin]).astype(np.int64)


def _house_numbers(rng: np.random.Generator, city: Array) -> Array:
    n = len(city)
    number = np.floor(np.exp(rng.random(n) * math.log(300))).astype(np.int64)
    letter = rng.random(n)
    box = rng.random(n) < np.where(city, 0.35, 0.08)
    box_no = (rng.random(n) * 12).astype(np.int64) + 1
    text = number.astype("U3")
    text = np.where(letter < 0.05, np.char.add(text, np.where(letter < 0.03, "A", "B")), text)
    text = np.where(box, np.char.add(np.char.add(text, " bus "), box_no.astype("U2")), text)
    return text.astype(object)


@dataclass
class _Place:
    street: Array
    house_number: Array
    postal_code: Array
    municipality: Array
    nis_code: Array
    country: Array


def _belgian_places(rng: np.random.Generator, geo: Geography, muni: Array, lang: Array) -> _Place:
    """Street, number and postal code in the given municipalities; ``lang`` 0 nl, 1 fr, 2 de."""
    n = len(muni)
    street = np.empty(n, dtype=object)
    for i, streets in enumerate(_STREETS):
        sel = lang == i
        street[sel] = streets[(rng.random(int(sel.sum())) * len(streets)).astype(np.int64)]
    name = np.where(lang == 0, geo.name_nl[muni], np.where(lang == 1, geo.name_fr[muni], geo.name_de[muni]))
    return _Place(
        street=street,
        house_number=_house_numbers(rng, geo.city[muni]),
        postal_code=geo.draw_postcodes(rng, muni),
        municipality=name,
        nis_code=geo.nis_code[muni].astype(np.int32),
        country=np.full(n, "BE", dtype="U2"),
    )


def _address_language(geo: Geography, muni: Array, origin: Array) -> Array:
    area = geo.area[muni]
    return np.select(
        [area == AREA_FLEMISH, area == AREA_FRENCH, area == AREA_GERMAN, area == AREA_BRUSSELS],
        [0, 1, 2, np.where(origin == _ORIGIN_INDEX["nl"], 0, 1)],
        default=1,
    )


def _decorate(seed: int, block: int, core: _Core, geo: Geography, first_index: int) -> PopulationBatch:
    rng = np.random.default_rng(np.random.SeedSequence([seed, block, 2]))
    n, n_units = len(core.birth), len(core.unit_kind)
    unit = core.unit
    origin = core.unit_origin[unit]
    index = first_index + np.arange(n, dtype=np.int64)

    # names: children carry the head's (father's) name; partners keep their own
    own_last = _pick(rng, _LAST, origin)
    family = own_last[core.unit_first]
    nu = rng.random(n)
    lone_unit = core.unit_type == 6
    last_idx = np.select(
        [core.role == _ROLE_CHILD, core.role == _ROLE_OTHER],
        [
            np.where(lone_unit[unit] & (nu >= 0.75), own_last, family[unit]),
            np.where(nu < 0.5, family[unit], own_last),
        ],
        default=own_last,
    )
    last_name = _LAST[0][last_idx]
    female = (core.sex == 2) | ((core.sex == 0) & (rng.random(n) < 0.5))
    first = np.where(
        female, _FIRST_F[0][_pick(rng, _FIRST_F, origin)], _FIRST_M[0][_pick(rng, _FIRST_M, origin)]
    )
    second = np.where(
        female, _FIRST_F[0][_pick(rng, _FIRST_F, origin)], _FIRST_M[0][_pick(rng, _FIRST_M, origin)]
    )
    two = (rng.random(n) < 0.35) & (first != second)
    first_names = np.where(two, first + " " + second, first)

    # current address per unit
    resident = core.unit_kind != _UNIT_BIS
    muni = np.where(resident, core.unit_muni, 0)
    lang = _address_language(geo, muni, core.unit_origin)
    place = _belgian_places(rng, geo, muni, lang)
    abroad = np.flatnonzero(~resident)
    countries = np.array(NATIONALITIES)[core.unit_country[abroad]] if len(abroad) else np.zeros(0, dtype="U2")
    for country in np.unique(countries).tolist():
        units = abroad[countries == country]
        cities, streets = _FOREIGN[country]
        pick = (rng.random(len(units)) * len(cities)).astype(np.int64)
        place.street[units] = streets[(rng.random(len(units)) * len(streets)).astype(np.int64)]
        place.postal_code[units] = np.array([c[1] for c in cities], dtype=object)[pick]
        place.municipality[units] = np.array([c[0] for c in cities], dtype=object)[pick]
        place.nis_code[units] = -1
        place.country[units] = country
        place.house_number[units] = (
            (rng.random(len(units)) * 120 + 1).astype(np.int64).astype("U3").astype(object)
        )
    language = np.array(_STREET_LANGS)[lang]
    language = np.where(resident, language, np.array(_names.ORIGINS)[core.unit_origin])

    # address history: 0-3 earlier addresses per unit, the same for every member, cut at each birth
    n_prev = np.where(resident, _cdf_draw(rng, np.cumsum([0.35, 0.35, 0.2, 0.1]), n_units), 0)
    durations = _days(0.5 + rng.exponential(5.0, (n_units, 3)))
    prev_end = np.empty((n_units, 3), dtype=np.int64)
    prev_start = np.empty((n_units, 3), dtype=np.int64)
    boundary = core.unit_start.copy()
    for j in range(3):
        prev_end[:, j] = boundary - 1
        prev_start[:, j] = boundary - durations[:, j]
        boundary = prev_start[:, j]
    prev_muni = np.where(
        rng.random((n_units, 3)) < 0.5,
        muni[:, None],
        geo.draw_municipalities(rng, n_units * 3).reshape(n_units, 3),
    )
    prev_lang = _address_language(geo, prev_muni.ravel(), np.repeat(core.unit_origin, 3))
    prev_place = _belgian_places(rng, geo, prev_muni.ravel(), prev_lang)

    birth = core.birth
    start_now = np.maximum(core.unit_start[unit], birth)
    end_now = core.death
    rows_person = [np.arange(n)]
    rows_place = [unit]  # index into the current places (per unit)
    rows_prev = [np.full(n, -1)]
    rows_start = [start_now]
    rows_end = [end_now]
    for j in range(3):
        has = (j < n_prev[unit]) & (prev_end[unit, j] >= birth)
        people = np.flatnonzero(has)
        rows_person.append(people)
        rows_place.append(np.full(len(people), -1))
        rows_prev.append(unit[people] * 3 + j)
        rows_start.append(np.maximum(prev_start[unit[people], j], birth[people]))
        rows_end.append(prev_end[unit[people], j])
    a_person = np.concatenate(rows_person)
    a_place = np.concatenate(rows_place)
    a_prev = np.concatenate(rows_prev)
    a_start = np.concatenate(rows_start)
    a_end = np.concatenate(rows_end)
    srt = np.lexsort((a_start, a_person))
    a_person, a_place, a_prev, a_start, a_end = (
        a_person[srt],
        a_place[srt],
        a_prev[srt],
        a_start[srt],
        a_end[srt],
    )
    cur = a_place >= 0

    def merge(current: Array, previous: Array) -> Array:
        out = np.empty(len(a_person), dtype=current.dtype)
        out[cur] = current[a_place[cur]]
        out[~cur] = previous[a_prev[~cur]]
        return out

    insz_text = format_numbers(core.insz)
    addresses = AddressBatch(
        person_index=index[a_person],
        insz=insz_text[a_person],
        street=merge(place.street, prev_place.street),
        house_number=merge(place.house_number, prev_place.house_number),
        postal_code=merge(place.postal_code, prev_place.postal_code),
        municipality=merge(place.municipality, prev_place.municipality),
        nis_code=merge(place.nis_code, prev_place.nis_code),
        country=merge(place.country, prev_place.country),
        start=a_start.astype("datetime64[D]"),
        end=a_end.astype("datetime64[D]"),
    )

    # cards: identity card for living residents, SIS card (issued until 2014) for living people born before
    alive = core.death == _NONE
    id_card = mod97_card(5_900_000_000 + (index * 7_654_321 + 1_234_567) % 100_000_000, complement=False)
    sis_card = mod97_card(10_000_000 + (index * 3_141_593 + 2_718_281) % 90_000_000, complement=True)
    has_id = alive & ~core.is_bis
    has_sis = alive & np.where(core.is_bis, rng.random(n) < 0.6, birth < _SIS_CARD_END)
    identity_card_number = np.full(n, None, dtype=object)
    identity_card_number[has_id] = format_numbers(id_card[has_id], 12)
    sis_card_number = np.full(n, None, dtype=object)
    sis_card_number[has_sis] = format_numbers(sis_card[has_sis], 10)

    household = core.unit_kind[unit] != _UNIT_BIS
    return PopulationBatch(
        index=index,
        insz=insz_text,
        is_bis=core.is_bis,
        last_name=last_name,
        first_names=first_names,
        sex=np.array(["", "M", "F"])[core.sex],
        birth_date=_date_strings(core.year, core.month, core.day),
        birth_year=core.year.astype(np.int16),
        nationality=np.array(NATIONALITIES)[core.nationality],
        civil_state=core.civil,
        death_date=core.death.astype("datetime64[D]"),
        household_id=np.where(household, first_index + core.unit_first[unit] + 1, -1),
        relationship=np.where(household, np.array((*RELATIONSHIPS, ""), dtype=object)[core.role], ""),
        language=language[unit],
        street=place.street[unit],
        house_number=place.house_number[unit],
        postal_code=place.postal_code[unit],
        municipality=place.municipality[unit],
        nis_code=place.nis_code[unit],
        country=place.country[unit],
        address_start=start_now.astype("datetime64[D]"),
        sis_card_number=sis_card_number,
        identity_card_number=identity_card_number,
        addresses=addresses,
    )


# -------------------------------------------------------------------------------------------- public


def _check(n: int, seed: int, chunk_size: int) -> None:
    if n < 0:
        raise ValueError("n must be >= 0")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")


def iter_population(n: int, seed: int, *, chunk_size: int = 500_000) -> Iterator[PopulationBatch]:
    """Stream the ``n`` people of nation ``seed`` in batches of ``chunk_size`` (the last may be smaller)."""
    _check(n, seed, chunk_size)
    geo = geography()
    state = CounterState()
    pending: list[PopulationBatch] = []
    pending_size = 0
    for block in range(math.ceil(n / BLOCK_SIZE)):
        core = _core(seed, block, geo)
        _number(core, state)
        batch = _decorate(seed, block, core, geo, block * BLOCK_SIZE)
        keep = min(len(batch), n - block * BLOCK_SIZE)
        if keep < len(batch):
            batch = batch.take(0, keep)
        pending.append(batch)
        pending_size += len(batch)
        while pending_size >= chunk_size:
            merged = PopulationBatch.concat(pending)
            yield merged.take(0, chunk_size)
            rest = merged.take(chunk_size, len(merged))
            pending, pending_size = ([rest], len(rest)) if len(rest) else ([], 0)
    if pending_size:
        yield PopulationBatch.concat(pending)


def generate_population(n: int, seed: int) -> PopulationBatch:
    """All ``n`` people in one batch (small populations: tests, demos)."""
    batches = list(iter_population(n, seed, chunk_size=max(n, 1)))
    if not batches:
        return next(iter_population(1, seed)).take(0, 0)
    return PopulationBatch.concat(batches)


def iter_identities(n: int, seed: int, *, chunk_size: int = 1_000_000) -> Iterator[IdentityBatch]:
    """The INSZ, register, death flag, sex and birth date of the same people, without names or addresses
    (several times faster than :func:`iter_population`)."""
    _check(n, seed, chunk_size)
    geo = geography()
    state = CounterState()
    parts: list[IdentityBatch] = []
    size = 0
    for block in range(math.ceil(n / BLOCK_SIZE)):
        core = _core(seed, block, geo)
        _number(core, state)
        keep = min(len(core.birth), n - block * BLOCK_SIZE)
        parts.append(
            IdentityBatch(
                index=block * BLOCK_SIZE + np.arange(keep, dtype=np.int64),
                insz=format_numbers(core.insz[:keep]),
                is_bis=core.is_bis[:keep],
                deceased=core.death[:keep] != _NONE,
                sex=np.array(["", "M", "F"])[core.sex[:keep]],
                birth_date=_date_strings(core.year[:keep], core.month[:keep], core.day[:keep]),
            )
        )
        size += keep
        while size >= chunk_size:
            merged = IdentityBatch(
                *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(IdentityBatch))
            )
            yield IdentityBatch(*(getattr(merged, f.name)[:chunk_size] for f in fields(IdentityBatch)))
            rest = IdentityBatch(*(getattr(merged, f.name)[chunk_size:] for f in fields(IdentityBatch)))
            parts, size = ([rest], len(rest)) if len(rest) else ([], 0)
    if size:
        yield IdentityBatch(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(IdentityBatch))
        )


def sample_inszs(
    n: int,
    seed: int,
    k: int,
    *,
    register: Literal["national_register", "bis"] | None = None,
    alive: bool | None = None,
) -> list[str]:
    """``k`` distinct INSZ drawn uniformly from the people of ``(n, seed)`` (deterministic).

    ``register`` restricts to national-register or bis numbers, ``alive`` to living (True) or deceased
    (False) people. Fewer than ``k`` are returned when fewer people qualify.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    chosen: list[Array] = []
    for batch in iter_identities(n, seed):
        keep = np.ones(len(batch), dtype=bool)
        if register is not None:
            keep &= batch.is_bis == (register == "bis")
        if alive is not None:
            keep &= batch.deceased != alive
        chosen.append(batch.insz[keep].astype(np.int64))
    pool = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([seed, n, k, 3]))
    picked = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return [str(x) for x in format_numbers(pool[picked]).tolist()]
