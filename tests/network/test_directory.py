from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import IntegrityError

from kruispunt.network.directory import (
    BulkRow,
    DirectoryError,
    bulk_load,
    institutions_knowing,
    integration,
    list_lines,
    register,
    unregister,
)
from kruispunt.network.models import person_line_table
from kruispunt.network.registry import Institution, Registry

from .conftest import BIS_PERSON, MUTUALITY, OCMW_ANTWERPEN, OCMW_GENT, PERSON_A, PERSON_B, PERSON_C, RVA

Inst = Callable[[str], Institution]
D = dt.date


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(person_line_table)).scalar_one())


def test_register_creates_a_line(hub_engine: Engine, registry: Registry, inst: Inst) -> None:
    with hub_engine.begin() as conn:
        result = register(
            conn,
            insz=PERSON_A,
            institution=inst(OCMW_GENT),
            capacity=2,
            start=D(2024, 1, 1),
            end=None,
            phase=1,
            registry=registry,
        )
    line = result.line
    assert result.created
    assert result.overlapping == []
    assert (line.insz, line.institution, line.sector, line.institution_type) == (PERSON_A, OCMW_GENT, 17, 1)
    assert (line.capacity, line.phase, line.start, line.end, line.register) == (
        2,
        1,
        D(2024, 1, 1),
        None,
        "SECONDARY",
    )
    assert line.last_change.tzinfo is not None
    with hub_engine.begin() as conn:
        rva = register(
            conn,
            insz="85.07.30-033.28",
            institution=inst(RVA),
            capacity=1,
            start=D(2023, 6, 1),
            end=D(2024, 3, 31),
            registry=registry,
        )
        [stored] = list_lines(conn, insz=PERSON_A, register="PRIMARY")
    assert rva.line.register == "PRIMARY"
    assert rva.line.insz == PERSON_A
    assert [o.id for o in rva.overlapping] == [line.id]  # ManageAccess: the overlapping inscriptions
    assert stored == rva.line
    assert stored.last_change == rva.line.last_change


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"insz": "85073003329"}, "INVALID_INSZ"),
        ({"insz": "hello"}, "INVALID_INSZ"),
        ({"capacity": 101}, "UNKNOWN_CAPACITY"),
        ({"end": D(2023, 12, 31)}, "INVALID_PERIOD"),
    ],
)
def test_register_refuses_bad_input(
    hub_engine: Engine, registry: Registry, inst: Inst, kwargs: dict[str, object], code: str
) -> None:
    args: dict[str, object] = {"insz": PERSON_A, "capacity": 2, "start": D(2024, 1, 1), "end": None}
    args.update(kwargs)
    with hub_engine.begin() as conn, pytest.raises(DirectoryError) as error:
        register(conn, institution=inst(OCMW_GENT), registry=registry, **args)  # type: ignore[arg-type]
    assert error.value.code == code
    assert _count(hub_engine) == 0


def test_network_wide_capacity_is_accepted(hub_engine: Engine, registry: Registry, inst: Inst) -> None:
    with hub_engine.begin() as conn:
        result = register(
            conn,
            insz=BIS_PERSON,
            institution=inst(OCMW_GENT),
            capacity=902,
            start=D(2024, 1, 1),
            end=None,
            registry=registry,
        )
    assert result.created
    assert result.line.capacity == 902


def test_register_is_idempotent_and_merges_periods(
    hub_engine: Engine, registry: Registry, inst: Inst
) -> None:
    gent = inst(OCMW_GENT)

    def reg(start: dt.date, end: dt.date | None, capacity: int = 2, phase: int | None = None):  # type: ignore[no-untyped-def]
        with hub_engine.begin() as conn:
            return register(
                conn,
                insz=PERSON_B,
                institution=gent,
                capacity=capacity,
                start=start,
                end=end,
                phase=phase,
                registry=registry,
            )

    first = reg(D(2024, 1, 1), D(2024, 3, 31))
    again = reg(D(2024, 1, 1), D(2024, 3, 31))
    assert not again.created
    assert again.line == first.line
    inside = reg(D(2024, 2, 1), D(2024, 2, 29))
    assert not inside.created
    assert inside.line.id == first.line.id
    assert inside.line.end == D(2024, 3, 31)
    assert _count(hub_engine) == 1
    later = reg(D(2024, 6, 1), D(2024, 6, 30))  # no overlap: a second line
    assert later.created
    assert later.overlapping == []
    other_capacity = reg(D(2024, 1, 1), None, capacity=1)
    assert other_capacity.created
    assert {o.id for o in other_capacity.overlapping} == {first.line.id, later.line.id}
    merged = reg(D(2024, 3, 1), D(2024, 7, 31), phase=3)  # bridges both capacity-2 lines
    assert not merged.created
    assert (merged.line.id, merged.line.start, merged.line.end, merged.line.phase) == (
        first.line.id,
        D(2024, 1, 1),
        D(2024, 7, 31),
        3,
    )
    assert [o.id for o in merged.overlapping] == [other_capacity.line.id]
    open_ended = reg(D(2024, 7, 1), None)
    assert open_ended.line.end is None
    assert open_ended.line.start == D(2024, 1, 1)
    with hub_engine.connect() as conn:
        lines = list_lines(conn, insz=PERSON_B)
    assert [(x.capacity, x.start, x.end) for x in lines] == [
        (2, D(2024, 1, 1), None),
        (1, D(2024, 1, 1), None),
    ]


def test_unregister(hub_engine: Engine, registry: Registry, inst: Inst) -> None:
    gent = inst(OCMW_GENT)
    with hub_engine.begin() as conn:
        register(
            conn,
            insz=PERSON_A,
            institution=gent,
            capacity=2,
            start=D(2024, 1, 1),
            end=None,
            registry=registry,
        )
        register(
            conn,
            insz=PERSON_A,
            institution=gent,
            capacity=4,
            start=D(2024, 1, 1),
            end=None,
            registry=registry,
        )
    with hub_engine.begin() as conn:
        closed = unregister(
            conn, insz=PERSON_A, institution=gent, capacity=2, start=D(2024, 1, 1), end=D(2024, 5, 31)
        )
    assert [(c.capacity, c.end) for c in closed] == [(2, D(2024, 5, 31))]
    with hub_engine.begin() as conn, pytest.raises(DirectoryError) as none_left:
        unregister(conn, insz=PERSON_A, institution=gent, capacity=2, start=D(2024, 1, 1), end=D(2024, 5, 31))
    assert none_left.value.code == "NO_INSCRIPTION"
    with hub_engine.begin() as conn, pytest.raises(DirectoryError) as other_institution:
        unregister(conn, insz=PERSON_A, institution=inst(OCMW_ANTWERPEN), capacity=4, start=D(2024, 1, 1))
    assert other_institution.value.code == "NO_INSCRIPTION"
    with hub_engine.begin() as conn:
        closed = unregister(conn, insz=PERSON_A, institution=gent, capacity=4, start=D(2024, 9, 30))
    assert [(c.capacity, c.end) for c in closed] == [(4, D(2024, 9, 30))]  # no end: the last day is start
    with hub_engine.begin() as conn, pytest.raises(DirectoryError) as bad_period:
        unregister(conn, insz=PERSON_A, institution=gent, capacity=4, start=D(2024, 9, 30), end=D(2024, 1, 1))
    assert bad_period.value.code == "INVALID_PERIOD"
    with hub_engine.connect() as conn:
        assert list_lines(conn, insz=PERSON_A, on=D(2024, 10, 1)) == []
        assert len(list_lines(conn, insz=PERSON_A, on=D(2024, 9, 30))) == 1


def test_list_lines_filters(hub_engine: Engine, registry: Registry, inst: Inst) -> None:
    with hub_engine.begin() as conn:
        for kbo, capacity, start, end in (
            (OCMW_GENT, 2, D(2024, 1, 1), None),
            (RVA, 1, D(2020, 1, 1), D(2021, 12, 31)),
            (MUTUALITY, 1, D(2000, 1, 1), None),
        ):
            register(
                conn,
                insz=PERSON_C,
                institution=inst(kbo),
                capacity=capacity,
                start=start,
                end=end,
                registry=registry,
            )
        assert [x.sector for x in list_lines(conn, insz=PERSON_C)] == [11, 18, 17]  # by start date
        assert [x.sector for x in list_lines(conn, insz=PERSON_C, sector=17)] == [17]
        assert [x.sector for x in list_lines(conn, insz=PERSON_C, register="PRIMARY")] == [18]
        assert [x.sector for x in list_lines(conn, insz=PERSON_C, register="SECONDARY")] == [11, 17]
        assert [x.sector for x in list_lines(conn, insz=PERSON_C, on=D(2021, 12, 31))] == [11, 18]
        assert list_lines(conn, insz=PERSON_A) == []
        with pytest.raises(DirectoryError):
            list_lines(conn, insz="1")


def test_integration_and_institutions_knowing(hub_engine: Engine, registry: Registry, inst: Inst) -> None:
    with hub_engine.begin() as conn:
        register(
            conn,
            insz=PERSON_A,
            institution=inst(OCMW_GENT),
            capacity=1,
            start=D(2024, 1, 1),
            end=D(2024, 1, 31),
            registry=registry,
        )
        register(
            conn,
            insz=PERSON_A,
            institution=inst(OCMW_GENT),
            capacity=2,
            start=D(2024, 1, 15),
            end=D(2024, 12, 31),
            registry=registry,
        )
        register(
            conn,
            insz=PERSON_A,
            institution=inst(RVA),
            capacity=1,
            start=D(2024, 6, 1),
            end=None,
            registry=registry,
        )
    with hub_engine.connect() as conn:

        def found(on: dt.date, capacities: set[int], kbo: str = OCMW_GENT) -> tuple[int, dt.date] | None:
            line = integration(conn, insz=PERSON_A, institution_kbo=kbo, capacities=capacities, on=on)
            return None if line is None else (line.capacity, line.start)

        assert found(D(2023, 12, 31), {1, 2, 3, 4}) is None
        assert found(D(2024, 1, 1), {1, 2, 3, 4}) == (1, D(2024, 1, 1))
        assert found(D(2024, 1, 20), {1, 2, 3, 4}) == (2, D(2024, 1, 15))  # the line that started last
        assert found(D(2024, 1, 20), {1}) == (1, D(2024, 1, 1))
        assert found(D(2024, 12, 31), {1, 2}) == (2, D(2024, 1, 15))  # end date inclusive
        assert found(D(2025, 1, 1), {1, 2}) is None
        assert found(D(2024, 3, 1), {3, 4}) is None
        assert found(D(2024, 3, 1), set()) is None
        assert found(D(2030, 1, 1), {1}, RVA) == (1, D(2024, 6, 1))
        assert (
            integration(conn, insz=PERSON_B, institution_kbo=OCMW_GENT, capacities={2}, on=D(2024, 3, 1))
            is None
        )

        everyone = [OCMW_GENT, RVA, MUTUALITY]
        assert institutions_knowing(conn, insz=PERSON_A, institutions=everyone, on=D(2024, 3, 1)) == {
            OCMW_GENT
        }
        assert institutions_knowing(conn, insz=PERSON_A, institutions=everyone, on=D(2024, 6, 1)) == {
            OCMW_GENT,
            RVA,
        }
        assert institutions_knowing(conn, insz=PERSON_A, institutions={RVA}, on=D(2025, 6, 1)) == {RVA}
        assert institutions_knowing(conn, insz=PERSON_A, institutions=[], on=D(2024, 6, 1)) == set()
        assert institutions_knowing(conn, insz=PERSON_A, institutions=everyone, on=D(2023, 1, 1)) == set()


def _rows(n: int) -> list[BulkRow]:
    rows: list[BulkRow] = []
    for i in range(n):
        base = f"{500101001 + 2 * (i // 2):09d}"
        insz = base + f"{97 - int(base) % 97:02d}"
        if i % 2:
            rows.append((insz, RVA, 18, 0, 1, None, D(2020, 1, 1), D(2024, 12, 31), "PRIMARY"))
        else:
            rows.append((insz, OCMW_GENT, 17, 1, 2, 1, D(2021, 1, 1), None, "SECONDARY"))
    return rows


def _indexes(engine: Engine) -> set[str]:
    return {str(ix["name"]) for ix in inspect(engine).get_indexes("person_line")}


@pytest.mark.parametrize("drop_indexes", [None, False, True])
def test_bulk_load(hub_engine: Engine, drop_indexes: bool | None) -> None:
    rows = _rows(10_000)
    assert bulk_load(hub_engine, iter(rows), chunk=3_000, drop_indexes=drop_indexes) == 10_000
    assert bulk_load(hub_engine, rows[:5], chunk=3_000) == 5
    assert bulk_load(hub_engine, [], chunk=3_000) == 0
    assert _count(hub_engine) == 10_005
    assert _indexes(hub_engine) == {"ix_person_line_insz_institution", "ix_person_line_insz_sector"}
    insz = rows[4][0]
    with hub_engine.connect() as conn:
        line = integration(conn, insz=insz, institution_kbo=OCMW_GENT, capacities={2}, on=D(2024, 1, 1))
        assert line is not None
        assert (line.sector, line.phase, line.start, line.end, line.register) == (
            17,
            1,
            D(2021, 1, 1),
            None,
            "SECONDARY",
        )
        assert line.last_change.tzinfo is not None
        assert abs(line.last_change - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
        assert institutions_knowing(conn, insz=insz, institutions=[RVA, OCMW_GENT], on=D(2024, 12, 31)) == {
            RVA,
            OCMW_GENT,
        }
        assert institutions_knowing(conn, insz=insz, institutions=[RVA, OCMW_GENT], on=D(2025, 1, 1)) == {
            OCMW_GENT
        }
        assert len(list_lines(conn, insz=rows[0][0])) == 4  # loaded twice (rows[:5] again)


def test_bulk_load_restores_indexes_after_a_failure(hub_engine: Engine) -> None:
    rows = _rows(100)
    rows[50] = (*rows[50][:8], "TERTIARY")  # violates the register check constraint
    with pytest.raises(IntegrityError):
        bulk_load(hub_engine, rows, chunk=10, drop_indexes=True)
    assert _indexes(hub_engine) == {"ix_person_line_insz_institution", "ix_person_line_insz_sector"}
    assert _count(hub_engine) == 50  # the chunks before the failing one were committed
    with pytest.raises(ValueError, match="chunk"):
        bulk_load(hub_engine, rows, chunk=0)
