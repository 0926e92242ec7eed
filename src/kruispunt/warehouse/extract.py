"""Raw quarterly extracts in the harmonised form the warehouse receives (:mod:`.schemas`).

The sources build their extract from their own database (``POST /warehouse/extract/{dataset}`` on each source,
through the hub under the warehouse's deliberation); the benchmark builds the same tables straight from the
synthetic nation. Both go through the functions here, so the harmonisation of a kind's attributes
(:data:`~.schemas.FILE_CATEGORY`) is written once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kruispunt.simulate import PopulationBatch, StatusBatch
from kruispunt.warehouse.schemas import FILE_CATEGORY, QUARTER_PATTERN, RAW_EMPLOYERS, RAW_FILES, RAW_PERSONS

DATASETS = ("persons", "files", "employers")
"""What a source can be asked for: the National Register and the bis register ``persons``, every social
source ``files``, the RSZ ``employers`` as well."""

_FRACTION_PERCENT = {"full": 100, "half": 50, "one_fifth": 20, "one_quarter": 25, "one_third": 33}

# Joint committee → NACE-BEL section of its main activity. The KBO (not a source here) is the authentic
# source of an enterprise's NACE code; until it is, the RSZ derives the section from the joint committee.
JOINT_COMMITTEE_NACE = {
    "100": "N",
    "200": "M",
    "124": "F",
    "302": "I",
    "118": "C",
    "111": "C",
    "140": "H",
    "330": "Q",
    "322.01": "N",
    "152": "P",
    "201": "G",
    "311": "G",
    "319": "Q",
    "209": "C",
    "220": "C",
    "116": "C",
    "207": "C",
    "149.04": "G",
}


class ExtractError(ValueError):
    """A request for an extract that cannot be answered (bad quarter, unknown dataset)."""


def quarter_bounds(quarter: str) -> tuple[dt.date, dt.date]:
    """First and last day of ``2024Q4``-style quarter."""
    m = QUARTER_PATTERN.match(quarter)
    if m is None:
        raise ExtractError(f"quarter {quarter!r} is not of the form 2024Q4")
    year, q = int(m.group(1)), int(m.group(2))
    if year < dt.MINYEAR:
        raise ExtractError(f"quarter {quarter!r}: there is no year 0")
    first = dt.date(year, 3 * q - 2, 1)
    if q == 4:
        return first, dt.date(year, 12, 31)
    return first, dt.date(year, 3 * q + 1, 1) - dt.timedelta(days=1)


def quarters_before(reference: dt.date, count: int) -> list[str]:
    """The ``count`` completed quarters before ``reference``, oldest first."""
    q = (reference.month - 1) // 3  # quarters completed this year
    index = reference.year * 4 + q - 1
    out = [f"{i // 4}Q{i % 4 + 1}" for i in range(index - count + 1, index + 1)]
    return out


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    return None


def _category(kind: str, attrs: Mapping[str, Any]) -> str | None:
    name = FILE_CATEGORY.get(kind, "")
    value = attrs.get(name) if name else None
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _percent(kind: str, attrs: Mapping[str, Any]) -> int | None:
    if kind == "career_break":
        return _FRACTION_PERCENT.get(str(attrs.get("fraction")))
    return _int(attrs.get("degree_percent", attrs.get("incapacity_percent")))


def _amount(attrs: Mapping[str, Any]) -> int | None:
    for name in ("gross_cents", "monthly_amount_cents", "daily_amount_cents"):
        if name in attrs:
            return _int(attrs[name])
    return None


def files_table(
    *,
    insz: Sequence[str],
    source: Sequence[str],
    kind: Sequence[str],
    start: Sequence[dt.date] | pa.Array,
    end: Sequence[dt.date | None] | pa.Array,
    attrs: Sequence[Mapping[str, Any]],
) -> pa.Table:
    """Files with their kind's attributes harmonised into the columns of :data:`RAW_FILES`."""
    pairs = list(zip(kind, attrs, strict=True))
    columns: dict[str, Any] = {
        "insz": pa.array(insz, pa.string()),
        "source": pa.array(source, pa.string()),
        "kind": pa.array(kind, pa.string()),
        "start": pa.array(start, pa.date32()),
        "end": pa.array(end, pa.date32()),
        "employer_kbo": pa.array([a.get("employer_kbo") for _, a in pairs], pa.string()),
        "joint_committee": pa.array([a.get("joint_committee") for _, a in pairs], pa.string()),
        "category": pa.array([_category(k, a) for k, a in pairs], pa.string()),
        "amount_cents": pa.array([_amount(a) for _, a in pairs], pa.int64()),
        "days": pa.array([_int(a.get("days")) for _, a in pairs], pa.int32()),
        "hours": pa.array([_int(a.get("hours")) for _, a in pairs], pa.int32()),
        "percent": pa.array([_percent(k, a) for k, a in pairs], pa.int16()),
    }
    return pa.Table.from_pydict(columns, schema=RAW_FILES)


def files_of_batch(batch: StatusBatch, quarter: str) -> pa.Table:
    """The synthetic nation's files that overlap ``quarter`` (the benchmark's source extract)."""
    first, last = (np.datetime64(d, "D") for d in quarter_bounds(quarter))
    keep = (batch.start <= last) & (np.isnat(batch.end) | (batch.end >= first))
    rows = np.flatnonzero(keep)
    end = batch.end[rows]
    return files_table(
        insz=batch.insz[rows].tolist(),
        source=batch.source[rows].tolist(),
        kind=batch.kind[rows].tolist(),
        start=pa.array(batch.start[rows]).cast(pa.date32()),
        end=pa.array(end, mask=np.isnat(end)).cast(pa.date32()),
        attrs=batch.attrs[rows].tolist(),
    )


def _age(birth_date: Sequence[str], last: dt.date) -> list[int | None]:
    out: list[int | None] = []
    for value in birth_date:
        year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
        if year == 0:
            out.append(None)
            continue
        before = (last.month, last.day) < (month or 1, day or 1)
        out.append(last.year - year - (1 if before else 0))
    return out


def persons_table(
    *,
    insz: Sequence[str],
    sex: Sequence[str | None],
    birth_date: Sequence[str],
    nationality: Sequence[str | None],
    nis_code: Sequence[int | None],
    household: Sequence[str | None],
    relationship: Sequence[str | None],
    quarter: str,
) -> pa.Table:
    """People as the registers hold them on the quarter's last day, in the columns of :data:`RAW_PERSONS`."""
    _, last = quarter_bounds(quarter)
    columns: dict[str, Any] = {
        "insz": pa.array(insz, pa.string()),
        "sex": pa.array([s or "" for s in sex], pa.string()),
        "age": pa.array(_age(birth_date, last), pa.int16()),
        "nationality": pa.array([n or "" for n in nationality], pa.string()),
        "nis_code": pa.array([c if c is not None and c >= 0 else None for c in nis_code], pa.int32()),
        "household": pa.array(household, pa.string()),
        "relationship": pa.array([r or "" for r in relationship], pa.string()),
    }
    return pa.Table.from_pydict(columns, schema=RAW_PERSONS)


def persons_of_batch(batch: PopulationBatch, quarter: str) -> pa.Table:
    """The synthetic nation's people alive and born on the quarter's last day, residence on that day."""
    _, last_day = quarter_bounds(quarter)
    last = np.datetime64(last_day, "D")
    born = np.array([b[:4] + "-" + (b[5:7] if b[5:7] != "00" else "01") + "-01" for b in batch.birth_date])
    born_day = born.astype("datetime64[D]")
    alive = (np.isnat(batch.death_date) | (batch.death_date > last)) & (born_day <= last)
    rows = np.flatnonzero(alive)
    a = batch.addresses
    on_day = (a.start <= last) & (np.isnat(a.end) | (a.end >= last))
    nis_by_person = dict(zip(a.person_index[on_day].tolist(), a.nis_code[on_day].tolist(), strict=True))
    household = batch.household_id[rows]
    return persons_table(
        insz=batch.insz[rows].tolist(),
        sex=batch.sex[rows].tolist(),
        birth_date=batch.birth_date[rows].tolist(),
        nationality=batch.nationality[rows].tolist(),
        nis_code=[nis_by_person.get(i) for i in batch.index[rows].tolist()],
        household=[str(h) if h >= 0 else None for h in household.tolist()],
        relationship=batch.relationship[rows].tolist(),
        quarter=quarter,
    )


def employers_of_files(files: pa.Table, quarter: str) -> pa.Table:
    """The employers with a Dimona period on the quarter's last day and their head count that day.

    What the RSZ knows of an employer from its own files: the workers declared and the joint committee.
    """
    _, last = quarter_bounds(quarter)
    active = files.filter(
        pc.and_kleene(
            pc.and_(pc.equal(files["kind"], "dimona_period"), pc.less_equal(files["start"], pa.scalar(last))),
            pc.or_kleene(pc.is_null(files["end"]), pc.greater_equal(files["end"], pa.scalar(last))),
        )
    )
    active = active.filter(pc.is_valid(active["employer_kbo"]))
    grouped = (
        active.select(["employer_kbo", "insz", "joint_committee"])
        .group_by("employer_kbo")
        .aggregate([("insz", "count_distinct"), ("joint_committee", "max")])
    )
    committees = grouped["joint_committee_max"].to_pylist()
    columns: dict[str, Any] = {
        "employer_kbo": grouped["employer_kbo"],
        "nace": pa.array([JOINT_COMMITTEE_NACE.get(c or "", "S") for c in committees], pa.string()),
        "joint_committee": pa.array([c or "" for c in committees], pa.string()),
        "nis_code": pa.nulls(grouped.num_rows, pa.int32()),
        "workers": grouped["insz_count_distinct"].cast(pa.int32()),
    }
    return pa.Table.from_pydict(columns, schema=RAW_EMPLOYERS).sort_by("employer_kbo")
