"""Belgian geography for the simulation, loaded once from the package data (no run-time dependency on
``reference/``): the 581 municipalities of 2020 with inhabitants, their postal codes and the private
households per LIPRO household type.

LIPRO household types in ``household_types_2019.csv`` (Statbel): 1 one person, 2 married couple without
children, 3 married couple with children, 4 unmarried couple without children, 5 unmarried couple with
children, 6 single parent, 7 other household, 8 unknown (merged into 7 here).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

REGION_FLANDERS, REGION_WALLONIA, REGION_BRUSSELS = 0, 1, 2
_REGIONS = {
    "Vlaams Gewest": REGION_FLANDERS,
    "Waals Gewest": REGION_WALLONIA,
    "Brussels Hoofdstedelijk Gewest": REGION_BRUSSELS,
}

# The nine municipalities of the German-speaking Community, with their German names (REFNIS).
GERMAN_NAMES = {
    63001: "Amel",
    63012: "Büllingen",
    63013: "Bütgenbach",
    63023: "Eupen",
    63040: "Kelmis",
    63048: "Lontzen",
    63061: "Raeren",
    63067: "Sankt Vith",
    63087: "Burg-Reuland",
}

# Language areas used for names and street names.
AREA_FLEMISH, AREA_FRENCH, AREA_BRUSSELS, AREA_GERMAN = 0, 1, 2, 3

HOUSEHOLD_TYPES = 7  # LIPRO 1..7 (8 "unknown" merged into 7 "other")


@dataclass(frozen=True)
class Geography:
    nis_code: Array  # int32 [M]
    name_nl: Array  # object [M]
    name_fr: Array  # object [M]
    name_de: Array  # object [M]
    region: Array  # int8 [M]
    area: Array  # int8 [M] language area (AREA_*)
    inhabitants: Array  # int64 [M]
    city: Array  # bool [M] more than 50,000 inhabitants (more flats)
    cum_weight: Array  # float64 [M] cumulative share of inhabitants, last = 1.0
    postcode: Array  # object [P] all postal codes, grouped by municipality
    postcode_start: Array  # int64 [M]
    postcode_count: Array  # int64 [M]
    household_cdf: Array  # float64 [M, 7] cumulative distribution of LIPRO types per municipality

    def __len__(self) -> int:
        return len(self.nis_code)

    def draw_municipalities(self, rng: np.random.Generator, size: int) -> Array:
        """Municipality indices drawn in proportion to inhabitants."""
        idx = np.searchsorted(self.cum_weight, rng.random(size), side="right")
        return np.asarray(np.minimum(idx, len(self.nis_code) - 1))

    def draw_postcodes(self, rng: np.random.Generator, municipality: Array) -> Array:
        """One of the postal codes of each municipality, uniformly."""
        count = self.postcode_count[municipality]
        pick = self.postcode_start[municipality] + (rng.random(len(municipality)) * count).astype(np.int64)
        return np.asarray(self.postcode[pick])

    def draw_household_types(self, rng: np.random.Generator, municipality: Array) -> Array:
        """LIPRO household type (1..7) for households in the given municipalities."""
        u = rng.random(len(municipality))
        types = (u[:, None] >= self.household_cdf[municipality]).sum(axis=1).clip(0, HOUSEHOLD_TYPES - 1) + 1
        return np.asarray(types)


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("kruispunt.simulate").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@lru_cache(maxsize=1)
def geography() -> Geography:
    """The municipality tables as numpy arrays (cached)."""
    rows = sorted(_read("municipalities_2020.csv"), key=lambda r: int(r["NIS_code"]))
    codes = np.array([int(r["NIS_code"]) for r in rows], dtype=np.int32)
    index = {int(c): i for i, c in enumerate(codes)}
    region = np.array([_REGIONS[r["region_NL"]] for r in rows], dtype=np.int8)
    area = np.where(
        region == REGION_FLANDERS,
        AREA_FLEMISH,
        np.where(region == REGION_BRUSSELS, AREA_BRUSSELS, AREA_FRENCH),
    ).astype(np.int8)
    for code in GERMAN_NAMES:
        area[index[code]] = AREA_GERMAN
    inhabitants = np.array([int(r["inhabitants"]) for r in rows], dtype=np.int64)
    weights = inhabitants / inhabitants.sum()
    cum = np.cumsum(weights)
    cum[-1] = 1.0

    by_muni: list[list[str]] = [[] for _ in rows]
    for r in _read("postcodes_2020.csv"):
        by_muni[index[int(r["nis_code"])]].append(r["postal_code"])
    counts = np.array([len(p) for p in by_muni], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    postcodes = np.array([p for ps in by_muni for p in ps], dtype=object)

    hh = np.zeros((len(rows), HOUSEHOLD_TYPES), dtype=np.float64)
    for r in _read("household_types_2019.csv"):
        values = [float(r[f"lipro_{i}"]) for i in range(1, 9)]
        values[6] += values[7]
        hh[index[int(r["nis_code"])]] = values[:7]
    hh /= hh.sum(axis=1, keepdims=True)
    hh_cdf = np.cumsum(hh, axis=1)
    hh_cdf[:, -1] = 1.0 + 1e-9  # u < 1 never passes the last bound

    return Geography(
        nis_code=codes,
        name_nl=np.array([r["municipality_NL"] for r in rows], dtype=object),
        name_fr=np.array([r["municipality_FR"] for r in rows], dtype=object),
        name_de=np.array(
            [GERMAN_NAMES.get(int(r["NIS_code"]), r["municipality_FR"]) for r in rows], dtype=object
        ),
        region=region,
        area=area,
        inhabitants=inhabitants,
        city=inhabitants > 50_000,
        cum_weight=cum,
        postcode=postcodes,
        postcode_start=starts,
        postcode_count=counts,
        household_cdf=hh_cdf,
    )
