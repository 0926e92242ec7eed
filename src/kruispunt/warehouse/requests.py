"""Research requests for an extract of the warehouse: from filing to destruction, every step logged.

The workflow follows the CBSS procedure for scientific use (``WAREHOUSE-NOTES.md`` §1): a researcher files
a request (**submitted**); the CBSS reviews feasibility and minimisation (**reviewed** or **rejected**) and
passes it to the Information Security Committee (**at_committee**), whose deliberation authorises it until
an expiry date (**authorised**) or refuses it (**refused**); the warehouse then produces the extract
(**extracted**): the requested variables for the requested quarters and population, either **coded** (the
warehouse's person codes replaced by the research project's codes, obtained from the trusted third party
without any INSZ passing here) or **anonymous** (no identifier, generalised until k-anonymous). The researcher
downloads it once (**delivered**); after the expiry the file is destroyed (**destroyed**).

Why a state machine with explicit transitions: each step is a legal act (a review, a deliberation, a
communication of personal data); a step out of order is refused before anything is written, and every
accepted step is one transaction with its event. Non-coded (identifying) data are never delivered by the
warehouse: they need a direct exchange with the sources under their own deliberation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, Row, insert, select, update

from kruispunt.warehouse import disclosure
from kruispunt.warehouse.models import extract_delivery_table, request_event_table, research_request_table
from kruispunt.warehouse.schemas import PERSON_QUARTER, QUARTER_PATTERN

TIERS = ("anonymous", "coded")
IDENTIFIERS = ("person_id", "household_id")
"""Codes of the warehouse's own project: never requested, never delivered (a coded extract carries the
research project's person codes instead)."""
VARIABLES: tuple[str, ...] = tuple(f.name for f in PERSON_QUARTER if f.name not in IDENTIFIERS)
"""What may be requested: every column of the person-quarter snapshot but the identifiers."""
FILTERS: tuple[str, ...] = tuple(v for v in VARIABLES if v not in ("quarter", "age"))
"""Population filter keys that take a list of values (plus ``age_min`` / ``age_max``)."""
K_ANONYMITY = 5
"""The k an anonymous extract must reach before release."""
MAX_SUPPRESSED_FRACTION = 0.01

TRANSITIONS: dict[str, dict[str, str]] = {
    "file": {"": "submitted"},
    "accept": {"submitted": "reviewed"},
    "reject": {"submitted": "rejected"},
    "submit_to_committee": {"reviewed": "at_committee"},
    "authorise": {"at_committee": "authorised"},
    "refuse": {"at_committee": "refused"},
    "extract": {"authorised": "extracted"},
    "deliver": {"extracted": "delivered"},
    "destroy": {"authorised": "destroyed", "extracted": "destroyed", "delivered": "destroyed"},
}
"""action → {state it may start from → state it leads to}: the only moves there are."""


class RequestError(ValueError):
    """A step the warehouse refuses: ``code`` says why (for the API); nothing was written."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ResearchRequest:
    """A request as stored."""

    id: int
    researcher: str
    organisation: str
    purpose: str
    population: dict[str, Any]
    variables: list[str]
    quarters: list[str]
    tier: str
    state: str
    project: str
    deliberation: str | None
    conditions: str | None
    expires: dt.date | None

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["expires"] = self.expires.isoformat() if self.expires else None
        return body


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _text(value: object, what: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RequestError("INVALID_REQUEST", f"{what} is required")
    if len(value) > max_length:
        raise RequestError("INVALID_REQUEST", f"{what} is longer than {max_length} characters")
    return value.strip()


# ------------------------------------------------------------------------------------------ validation


def _check_variables(variables: object) -> list[str]:
    if not isinstance(variables, list | tuple) or not variables:
        raise RequestError("INVALID_REQUEST", "variables: a non-empty list of snapshot columns")
    checked: list[str] = []
    for v in variables:
        if v in IDENTIFIERS:
            raise RequestError(
                "IDENTIFIER_REQUESTED",
                f"{v} is an identifier of the warehouse, not a variable: a coded extract carries the "
                "research project's person codes",
            )
        if not isinstance(v, str) or v not in VARIABLES:
            raise RequestError("UNKNOWN_VARIABLE", f"unknown variable {v!r}; known: {', '.join(VARIABLES)}")
        if v in checked:
            raise RequestError("INVALID_REQUEST", f"variable {v} is asked twice")
        checked.append(v)
    return checked


def _check_quarters(quarters: object, available: Collection[str] | None) -> list[str]:
    if not isinstance(quarters, list | tuple) or not quarters:
        raise RequestError("INVALID_REQUEST", "quarters: a non-empty list such as ['2024Q4']")
    checked: list[str] = []
    for q in quarters:
        if not isinstance(q, str) or not QUARTER_PATTERN.match(q):
            raise RequestError("UNKNOWN_QUARTER", f"{q!r} is not a quarter (such as 2024Q4)")
        if available is not None and q not in available:
            known = ", ".join(sorted(available)) or "none"
            raise RequestError("UNKNOWN_QUARTER", f"no snapshot for quarter {q}; available: {known}")
        if q in checked:
            raise RequestError("INVALID_REQUEST", f"quarter {q} is asked twice")
        checked.append(q)
    return sorted(checked)


def _check_population(population: object) -> dict[str, Any]:
    if population is None:
        return {}
    if not isinstance(population, Mapping):
        raise RequestError("INVALID_POPULATION", "population: an object such as {'region': ['BRU']}")
    types = {f.name: f.type for f in PERSON_QUARTER}
    checked: dict[str, Any] = {}
    for key, value in population.items():
        if key in ("age_min", "age_max"):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 130:
                raise RequestError("INVALID_POPULATION", f"{key}: a whole number of years, 0 to 130")
            checked[key] = value
            continue
        if key not in FILTERS:
            raise RequestError(
                "INVALID_POPULATION",
                f"cannot filter on {key!r}; use age_min, age_max or {', '.join(FILTERS)}",
            )
        if not isinstance(value, list) or not value or len(value) > 1000:
            raise RequestError("INVALID_POPULATION", f"{key}: a non-empty list of values")
        kind = types[key]
        for item in value:
            ok = (
                isinstance(item, bool)
                if pa.types.is_boolean(kind)
                else isinstance(item, int)
                and not isinstance(item, bool)
                and abs(item) < 2 ** (kind.bit_width - 1)
                if pa.types.is_integer(kind)
                else isinstance(item, str) and len(item) <= 64
            )
            if not ok:
                raise RequestError("INVALID_POPULATION", f"{key}: {item!r} is not a value of type {kind}")
        checked[key] = list(value)
    if checked.get("age_min", 0) > checked.get("age_max", 130):
        raise RequestError("INVALID_POPULATION", "age_min is above age_max")
    return checked


# ------------------------------------------------------------------------------------------ the steps


def _row(conn: Connection, request_id: int, *, lock: bool = False) -> Row[Any]:
    query = select(research_request_table).where(research_request_table.c.id == request_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise RequestError("NOT_FOUND", f"no research request {request_id}")
    return row


def _as_request(row: Row[Any]) -> ResearchRequest:
    return ResearchRequest(
        id=int(row.id),
        researcher=row.researcher,
        organisation=row.organisation,
        purpose=row.purpose,
        population=json.loads(row.population),
        variables=json.loads(row.variables),
        quarters=json.loads(row.quarters),
        tier=row.tier,
        state=row.state,
        project=row.project,
        deliberation=row.deliberation,
        conditions=row.conditions,
        expires=row.expires,
    )


def _allowed(row: Row[Any], action: str) -> str:
    """The state ``action`` leads to from the request's state, or a refusal naming both."""
    moves = TRANSITIONS[action]
    if row.state not in moves:
        raise RequestError(
            "WRONG_STATE",
            f"request {row.id} is {row.state}: cannot {action.replace('_', ' ')} "
            f"(only from {', '.join(sorted(moves))})",
        )
    return moves[row.state]


def _move(
    conn: Connection,
    row: Row[Any],
    action: str,
    *,
    actor: str,
    detail: Mapping[str, Any],
    now: dt.datetime | None,
    **changes: Any,
) -> str:
    """Move the request and log the event; the update holds only if nobody moved it meanwhile."""
    to_state = _allowed(row, action)
    t = research_request_table.c
    moved = conn.execute(
        update(research_request_table)
        .where(t.id == row.id, t.state == row.state)
        .values(state=to_state, **changes)
    )
    if moved.rowcount != 1:
        raise RequestError("WRONG_STATE", f"request {row.id} was moved by another step meanwhile; try again")
    _event(
        conn,
        int(row.id),
        action,
        actor=actor,
        from_state=row.state,
        to_state=to_state,
        detail=detail,
        now=now,
    )
    return to_state


def _event(
    conn: Connection,
    request_id: int,
    action: str,
    *,
    actor: str,
    from_state: str | None,
    to_state: str,
    detail: Mapping[str, Any],
    now: dt.datetime | None,
) -> None:
    conn.execute(
        insert(request_event_table).values(
            request_id=request_id,
            at=now or _now(),
            actor=actor[:64],
            action=action,
            from_state=from_state,
            to_state=to_state,
            detail=json.dumps(detail, sort_keys=True, default=str),
        )
    )


def file_request(
    conn: Connection,
    *,
    researcher: str,
    organisation: str,
    purpose: str,
    population: Mapping[str, Any] | None,
    variables: Sequence[str],
    quarters: Sequence[str],
    tier: str,
    available_quarters: Collection[str] | None = None,
    now: dt.datetime | None = None,
) -> ResearchRequest:
    """File a request (state ``submitted``). ``available_quarters``: the snapshot's quarters, when known."""
    researcher = _text(researcher, "researcher", 64)
    organisation = _text(organisation, "organisation", 200)
    purpose = _text(purpose, "purpose", 10_000)
    if tier not in TIERS:
        extra = (
            " (non-coded data are not delivered by the warehouse)"
            if tier in ("non-coded", "non_coded")
            else ""
        )
        raise RequestError("INVALID_TIER", f"tier {tier!r} is not one of {', '.join(TIERS)}{extra}")
    checked_variables = _check_variables(variables)
    checked_quarters = _check_quarters(quarters, available_quarters)
    checked_population = _check_population(population)
    at = now or _now()
    result = conn.execute(
        insert(research_request_table).values(
            researcher=researcher,
            organisation=organisation,
            purpose=purpose,
            population=json.dumps(checked_population, sort_keys=True),
            variables=json.dumps(checked_variables),
            quarters=json.dumps(checked_quarters),
            tier=tier,
            state="submitted",
            project="",
            filed_at=at,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    request_id = int(key[0])
    # the coding project at the TTP: not the id alone, which a new warehouse database would hand out again,
    # and the TTP would then give its codes (the earlier extract's) to another researcher
    conn.execute(
        update(research_request_table)
        .where(research_request_table.c.id == request_id)
        .values(project=f"req-{request_id}-{secrets.token_hex(6)}")
    )
    _event(
        conn,
        request_id,
        "file",
        actor=researcher,
        from_state=None,
        to_state="submitted",
        detail={"tier": tier, "variables": checked_variables, "quarters": checked_quarters},
        now=at,
    )
    return _as_request(_row(conn, request_id))


def get_request(conn: Connection, *, request_id: int) -> ResearchRequest:
    """A request as stored (for the CBSS and the committee)."""
    return _as_request(_row(conn, request_id))


def review(
    conn: Connection,
    *,
    request_id: int,
    reviewer: str,
    accepted: bool,
    notes: str,
    now: dt.datetime | None = None,
) -> ResearchRequest:
    """The CBSS review (feasibility, minimisation, small-cell risk): ``reviewed`` or ``rejected``."""
    reviewer = _text(reviewer, "reviewer", 64)
    row = _row(conn, request_id, lock=True)
    _allowed(row, "accept" if accepted else "reject")
    if reviewer == row.researcher:
        raise RequestError("SELF_REVIEW", "a researcher does not review their own request")
    _move(conn, row, "accept" if accepted else "reject", actor=reviewer, detail={"notes": notes}, now=now)
    return get_request(conn, request_id=request_id)


def submit_to_committee(
    conn: Connection, *, request_id: int, reviewer: str, notes: str = "", now: dt.datetime | None = None
) -> ResearchRequest:
    """Pass a reviewed request to the Information Security Committee."""
    reviewer = _text(reviewer, "reviewer", 64)
    row = _row(conn, request_id, lock=True)
    _move(conn, row, "submit_to_committee", actor=reviewer, detail={"notes": notes}, now=now)
    return get_request(conn, request_id=request_id)


def decide(
    conn: Connection,
    *,
    request_id: int,
    approved: bool,
    deliberation: str,
    conditions: str,
    expires: dt.date,
    decided_by: str,
    today: dt.date,
    now: dt.datetime | None = None,
) -> ResearchRequest:
    """Record the committee's deliberation: ``authorised`` until ``expires`` (inclusive), or ``refused``."""
    decided_by = _text(decided_by, "decided_by", 64)
    deliberation = _text(deliberation, "deliberation", 32)
    row = _row(conn, request_id, lock=True)
    action = "authorise" if approved else "refuse"
    _allowed(row, action)
    if approved and expires <= today:
        raise RequestError(
            "INVALID_DECISION", f"an authorisation must expire after today ({today.isoformat()})"
        )
    detail = {"deliberation": deliberation, "conditions": conditions, "expires": expires.isoformat()}
    _move(
        conn,
        row,
        action,
        actor=decided_by,
        detail=detail,
        now=now,
        deliberation=deliberation,
        conditions=conditions,
        expires=expires if approved else None,
    )
    return get_request(conn, request_id=request_id)


def snapshot_quarters(snapshot_dir: Path) -> set[str]:
    """The quarters the snapshot holds (``quarter=…`` folders with at least one Parquet file)."""
    if not snapshot_dir.is_dir():
        return set()
    return {
        d.name.removeprefix("quarter=")
        for d in snapshot_dir.glob("quarter=*")
        if QUARTER_PATTERN.match(d.name.removeprefix("quarter=")) and any(d.glob("*.parquet"))
    }


def _read_snapshot(snapshot_dir: Path, quarters: Sequence[str], columns: list[str]) -> pa.Table:
    schema = pa.schema([PERSON_QUARTER.field(c) for c in columns])
    parts: list[pa.Table] = []
    for q in quarters:
        files = sorted((snapshot_dir / f"quarter={q}").glob("*.parquet"))
        if not files:
            raise RequestError("NO_SNAPSHOT", f"the snapshot holds no quarter {q}")
        for f in files:
            part = pq.ParquetFile(f).read(columns=columns)
            parts.append(part.select(columns).cast(schema))
    return pa.concat_tables(parts)


def _population_mask(table: pa.Table, population: Mapping[str, Any]) -> pa.Array | None:
    masks: list[Any] = []
    if "age_min" in population:
        masks.append(pc.greater_equal(table.column("age"), population["age_min"]))
    if "age_max" in population:
        masks.append(pc.less_equal(table.column("age"), population["age_max"]))
    for key, values in population.items():
        if key in ("age_min", "age_max"):
            continue
        column = table.column(key)
        masks.append(pc.is_in(column, value_set=pa.array(values, type=column.type)))
    if not masks:
        return None
    combined = masks[0]
    for m in masks[1:]:
        combined = pc.and_kleene(combined, m)
    return pc.fill_null(combined, False)


def _hierarchy(column: str) -> disclosure.Hierarchy:
    if column == "quarter":
        # never generalised: a person has one row per quarter, so only within one quarter does a class of
        # k rows hold k persons (with the quarter starred, one person's k quarters would make a class)
        return disclosure.keep_hierarchy()
    return disclosure.age_hierarchy() if column == "age" else disclosure.suppress_hierarchy()


def anonymise(table: pa.Table, *, k: int) -> disclosure.Generalised:
    """The anonymous release of ``table``: every column is a quasi-identifier (an extract has nothing else),
    ``age`` generalised by bands, ``quarter`` kept, the others by suppression; refused when k cannot be
    reached. The rows come sorted by their values: the snapshot's order (the sources' INSZ order, that is
    birth dates) would tell more than the generalised values, and link one person's rows across quarters."""
    quasi = list(table.column_names)
    hierarchies = {q: _hierarchy(q) for q in quasi}
    try:
        released = disclosure.generalise(
            table,
            quasi_identifiers=quasi,
            hierarchies=hierarchies,
            k=k,
            max_suppressed_fraction=MAX_SUPPRESSED_FRACTION,
        )
    except disclosure.NotAnonymisable as exc:
        raise RequestError("NOT_ANONYMISABLE", f"the extract cannot be made {k}-anonymous: {exc}") from exc
    if released.table.num_rows and disclosure.k_anonymity(released.table, quasi) < k:
        raise RequestError("NOT_ANONYMISABLE", f"the extract is not {k}-anonymous after generalisation")
    return replace(released, table=released.table.sort_by([(q, "ascending") for q in quasi]))


def produce_extract(
    conn: Connection,
    *,
    request_id: int,
    snapshot_dir: Path,
    extracts_dir: Path,
    recode: Callable[[list[str]], list[str]] | None,
    today: dt.date,
    operator: str = "warehouse",
    k: int = K_ANONYMITY,
    now: dt.datetime | None = None,
) -> Path:
    """Write the extract of an authorised request (Parquet) and record it: ``extracted``.

    ``recode`` (coded tier) asks the trusted third party for the research project's codes of the
    warehouse's person codes, in order. The anonymous tier drops the person code and must pass k-anonymity.
    """
    row = _row(conn, request_id, lock=True)
    _allowed(row, "extract")
    request = _as_request(row)
    if request.expires is None or request.expires < today:
        raise RequestError("APPROVAL_EXPIRED", f"the authorisation of request {request_id} has expired")
    if request.tier == "coded" and recode is None:
        raise RequestError("NO_TTP", "a coded extract needs the trusted third party (recode)")
    wanted = ["quarter", *[v for v in request.variables if v != "quarter"]]
    filters = [c for c in request.population if c in FILTERS] + (
        ["age"] if {"age_min", "age_max"} & set(request.population) else []
    )
    columns = list(dict.fromkeys(["person_id", *wanted, *filters]))
    table = _read_snapshot(snapshot_dir, request.quarters, columns)
    mask = _population_mask(table, request.population)
    if mask is not None:
        table = table.filter(mask)
    if table.num_rows == 0:
        raise RequestError("EMPTY_EXTRACT", f"no person of the snapshot matches request {request_id}")
    detail: dict[str, Any]
    if request.tier == "coded":
        assert recode is not None
        own = table.column("person_id").to_pylist()
        unique = list(dict.fromkeys(own))
        codes = recode(unique)
        if len(codes) != len(unique) or set(codes) & set(unique):
            raise RequestError("TTP_FAILED", "the trusted third party did not return one new code per person")
        mapping = dict(zip(unique, codes, strict=True))
        person = pa.array([mapping[p] for p in own], type=pa.string())
        extract = pa.Table.from_arrays([person, *table.select(wanted).columns], names=["person_id", *wanted])
        # sorted by the project's codes: the snapshot's order is the sources' INSZ order (birth dates)
        extract = extract.sort_by([("person_id", "ascending"), ("quarter", "ascending")])
        detail = {"project": request.project, "persons": len(unique)}
        event = "coded"
    else:
        released = anonymise(table.select(wanted), k=k)
        extract = released.table
        detail = {"k": released.k, "levels": released.levels, "suppressed_rows": released.suppressed_rows}
        event = "anonymised"
    extracts_dir.mkdir(parents=True, exist_ok=True)
    # a name of its own per attempt: an attempt that fails (here, or its commit in the caller: see
    # :func:`extract_file_removed_on_failure`) removes its own file, never the one another attempt recorded
    path = (extracts_dir / f"request-{request_id}-{secrets.token_hex(8)}.parquet").resolve()
    partial = path.with_suffix(".partial")
    try:
        pq.write_table(extract, partial)
        digest = hashlib.sha256(partial.read_bytes()).hexdigest()
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    try:
        at = now or _now()
        conn.execute(
            insert(extract_delivery_table).values(
                request_id=request_id,
                path=str(path),
                sha256=digest,
                rows=extract.num_rows,
                produced_at=at,
                expires=request.expires,
            )
        )
        _move(
            conn, row, "extract", actor=operator, detail={"rows": extract.num_rows, "sha256": digest}, now=at
        )
        _event(
            conn,
            request_id,
            event,
            actor=operator,
            from_state="extracted",
            to_state="extracted",
            detail=detail,
            now=at,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def extract_name(request_id: int) -> str:
    """The file name an extract is delivered under (the stored file's name also carries an attempt tag)."""
    return f"request-{request_id}.parquet"


@contextmanager
def extract_file_removed_on_failure() -> Iterator[list[Path]]:
    """Around the transaction of :func:`produce_extract`: append the path it returns to the list; if the
    block fails afterwards (the commit included), the file is removed, so that no extract of personal data
    stays on disk without the record that lets :func:`expire` destroy it."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _own(row: Row[Any], researcher: str) -> None:
    if row.researcher != researcher:
        raise RequestError("NOT_FOUND", f"no research request {row.id} filed by {researcher}")


def deliver(
    conn: Connection, *, request_id: int, researcher: str, today: dt.date, now: dt.datetime | None = None
) -> Path:
    """The extract file, to the researcher who filed the request, once, while the authorisation holds."""
    row = _row(conn, request_id, lock=True)
    _own(row, researcher)
    if row.state == "delivered":
        raise RequestError("ALREADY_DELIVERED", f"the extract of request {request_id} was delivered already")
    _allowed(row, "deliver")
    if row.expires is None or row.expires < today:
        raise RequestError(
            "APPROVAL_EXPIRED", f"the authorisation of request {request_id} expired on {row.expires}"
        )
    d = extract_delivery_table.c
    path = Path(conn.execute(select(d.path).where(d.request_id == request_id)).scalar_one())
    if not path.is_file():
        raise RequestError("EXTRACT_MISSING", f"the extract file of request {request_id} is gone")
    at = now or _now()
    conn.execute(
        update(extract_delivery_table)
        .where(d.request_id == request_id)
        .values(delivered_at=at, delivered_to=researcher)
    )
    _move(conn, row, "deliver", actor=researcher, detail={"file": path.name}, now=at)
    return path


def expire(conn: Connection, *, today: dt.date, now: dt.datetime | None = None) -> list[int]:
    """Destroy what is past its expiry (delivered or not): delete the file, log it. The request ids."""
    t = research_request_table.c
    rows = conn.execute(
        select(research_request_table)
        .where(t.state.in_(sorted(TRANSITIONS["destroy"])), t.expires < today)
        .order_by(t.id)
    ).all()
    d = extract_delivery_table.c
    at = now or _now()
    done: list[int] = []
    for row in rows:
        path = conn.execute(select(d.path).where(d.request_id == row.id)).scalar()
        deleted = False
        if path is not None:
            file = Path(path)
            deleted = file.exists()
            file.unlink(missing_ok=True)
            conn.execute(update(extract_delivery_table).where(d.request_id == row.id).values(destroyed_at=at))
        detail = {
            "expired": row.expires.isoformat(),
            "file_deleted": deleted,
            "extract_produced": path is not None,
        }
        _move(conn, row, "destroy", actor="warehouse", detail=detail, now=at)
        done.append(int(row.id))
    return done


def list_requests(
    conn: Connection, *, researcher: str | None, state: str | None = None, limit: int = 200
) -> list[ResearchRequest]:
    """The newest requests first: the researcher's own, or (``researcher`` None: a reviewer) all."""
    t = research_request_table.c
    query = select(research_request_table).order_by(t.id.desc()).limit(limit)
    if researcher is not None:
        query = query.where(t.researcher == researcher)
    if state is not None:
        query = query.where(t.state == state)
    return [_as_request(row) for row in conn.execute(query)]


def history(conn: Connection, *, request_id: int, researcher: str | None) -> list[dict[str, Any]]:
    """Every step of a request, oldest first, for the researcher who filed it or (``researcher`` None) a
    reviewer."""
    row = _row(conn, request_id)
    if researcher is not None:
        _own(row, researcher)
    e = request_event_table.c
    rows = conn.execute(select(request_event_table).where(e.request_id == request_id).order_by(e.id))
    return [
        {
            "at": r.at.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "from_state": r.from_state,
            "to_state": r.to_state,
            "detail": json.loads(r.detail),
        }
        for r in rows
    ]
