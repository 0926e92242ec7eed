"""The engine end to end on a real database: changes in, entitlements, events and lists out."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from kruispunt.ids import make_insz
from kruispunt.rights import service
from tests.rights.conftest import (
    ADULT,
    CHILD,
    FOD_ECONOMIE,
    HAN,
    NATIONAL_REGISTER,
    NEIGHBOUR,
    NMBS,
    OCMW_GENT,
    OTHER_SUPPLIER,
    PARTNER,
    RVA,
    SUPPLIER,
    TODAY,
    change,
)

ENERGY = "social_energy_tariff"
MOVED_IN = dt.date(2020, 1, 1)
LEEFLOON_START = dt.date(2026, 11, 15)


def _seed_household(engine: Engine) -> None:
    with engine.begin() as conn:
        service.load_households(
            conn,
            [
                {"household_id": 7, "insz": ADULT, "head": True, "since": MOVED_IN},
                {"household_id": 7, "insz": PARTNER, "since": MOVED_IN},
                {"household_id": 7, "insz": CHILD, "since": MOVED_IN},
                {"household_id": 8, "insz": NEIGHBOUR, "head": True, "since": MOVED_IN},
            ],
        )
        service.load_energy_customers(
            conn,
            [
                {
                    "customer_id": "541448820000000017",
                    "insz": PARTNER,
                    "supplier_kbo": SUPPLIER,
                    "since": MOVED_IN,
                },
                {
                    "customer_id": "541448820000000024",
                    "insz": NEIGHBOUR,
                    "supplier_kbo": OTHER_SUPPLIER,
                    "since": MOVED_IN,
                },
            ],
        )


def _open_leefloon(engine: Engine, *, key: str = "k1", seq: int = 1) -> service.ApplyResult:
    opened = change(
        "status.opened",
        ADULT,
        LEEFLOON_START,
        {"kind": "leefloon", "file_key": "GENT-1", "start": LEEFLOON_START.isoformat(), "attrs": {}},
    )
    with engine.begin() as conn:
        return service.apply_change(conn, change=opened, key=key, seq=seq, today=TODAY)


def _energy(engine: Engine, insz: str) -> list[service.EntitlementView]:
    with engine.connect() as conn:
        return [e for e in service.entitlements_of(conn, insz=insz) if e.right == ENERGY]


def test_leefloon_opens_energy_tariff_from_the_quarter_start_for_the_household(engine: Engine) -> None:
    _seed_household(engine)
    result = _open_leefloon(engine)
    assert result.outcome == "applied"
    assert set(result.affected) == {ADULT, PARTNER, CHILD}
    for person in (ADULT, PARTNER, CHILD):
        (right,) = _energy(engine, person)
        assert (right.start, right.end, right.via_insz) == (dt.date(2026, 10, 1), None, ADULT)
    assert _energy(engine, NEIGHBOUR) == []
    with engine.connect() as conn:
        transport = [e for e in service.entitlements_of(conn, insz=PARTNER) if e.right != ENERGY]
        # the transport reduction is for the holder only; the telecom and tax rights extend to the household
        assert {e.right for e in transport} == {"telecom_social_tariff", "municipal_tax_reduction"}
        events = service.events_for(conn, body_kbo=FOD_ECONOMIE, after=0, limit=100)
        assert sorted((e.insz, e.event, e.start) for e in events) == sorted(
            (p, "granted", dt.date(2026, 10, 1)) for p in (ADULT, PARTNER, CHILD)
        )
        assert all(e.caused_by_seq == 1 for e in events)
        assert service.events_for(conn, body_kbo=FOD_ECONOMIE, after=events[-1].id, limit=100) == []
        (nmbs,) = service.events_for(conn, body_kbo=NMBS, after=0, limit=10)
        assert (nmbs.insz, nmbs.start) == (ADULT, LEEFLOON_START)


def test_quarterly_list_per_supplier(engine: Engine) -> None:
    _seed_household(engine)
    _open_leefloon(engine)
    with engine.connect() as conn:
        listed = service.quarterly_list(conn, right=ENERGY, quarter=20264)
        assert listed.body_kbo == FOD_ECONOMIE
        assert {e.insz for e in listed.entries} == {ADULT, PARTNER, CHILD}
        assert set(listed.suppliers) == {SUPPLIER}
        (customer,) = listed.suppliers[SUPPLIER]
        assert (customer.customer_id, customer.insz, customer.start, customer.end) == (
            "541448820000000017",
            PARTNER,
            dt.date(2026, 10, 1),
            dt.date(2026, 12, 31),
        )
        assert customer.via_insz == ADULT
        assert service.quarterly_list(conn, right=ENERGY, quarter=20263).entries == ()
        later = service.quarterly_list(conn, right=ENERGY, quarter=20271)
        assert {e.start for e in later.entries} == {dt.date(2027, 1, 1)}


def test_closing_the_status_ends_the_rights_of_the_household(engine: Engine) -> None:
    _seed_household(engine)
    _open_leefloon(engine)
    end = dt.date(2027, 2, 28)
    closed = change(
        "status.closed",
        ADULT,
        end,
        {
            "kind": "leefloon",
            "file_key": "GENT-1",
            "start": LEEFLOON_START.isoformat(),
            "end": end.isoformat(),
        },
    )
    with engine.begin() as conn:
        result = service.apply_change(conn, change=closed, key="k2", seq=2, today=TODAY)
        events = [e for e in service.events_for(conn, body_kbo=FOD_ECONOMIE, after=0) if e.caused_by_seq == 2]
    assert result.outcome == "applied"
    assert sorted((e.insz, e.event, e.end) for e in events) == sorted(
        (p, "ended", end) for p in (ADULT, PARTNER, CHILD)
    )
    for person in (ADULT, PARTNER, CHILD):
        (right,) = _energy(engine, person)
        assert (right.start, right.end) == (dt.date(2026, 10, 1), end)
    with engine.connect() as conn:
        assert service.quarterly_list(conn, right=ENERGY, quarter=20272).entries == ()


def test_the_same_key_twice_changes_nothing(engine: Engine) -> None:
    _seed_household(engine)
    _open_leefloon(engine)
    again = _open_leefloon(engine)
    assert again.outcome == "duplicate"
    assert again.events == 0
    assert "already applied" in again.detail
    with engine.connect() as conn:
        assert len(service.events_for(conn, body_kbo=FOD_ECONOMIE)) == 3


def test_an_older_change_arriving_late_is_stale(engine: Engine) -> None:
    _open_leefloon(engine, key="k5", seq=5)
    older = change(
        "status.amended",
        ADULT,
        LEEFLOON_START,
        {"kind": "leefloon", "file_key": "GENT-1", "start": "2026-01-01", "attrs": {}},
    )
    with engine.begin() as conn:
        result = service.apply_change(conn, change=older, key="k4", seq=4, today=TODAY)
    assert result.outcome == "stale"
    (right,) = _energy(engine, ADULT)
    assert right.start == dt.date(2026, 10, 1)


def test_a_cancelled_status_removes_the_entitlement(engine: Engine) -> None:
    _seed_household(engine)
    _open_leefloon(engine)
    cancelled = change("status.cancelled", ADULT, LEEFLOON_START, {"kind": "leefloon", "file_key": "GENT-1"})
    with engine.begin() as conn:
        service.apply_change(conn, change=cancelled, key="k2", seq=2, today=TODAY)
        events = [e for e in service.events_for(conn, body_kbo=FOD_ECONOMIE) if e.caused_by_seq == 2]
        assert service.quarterly_list(conn, right=ENERGY, quarter=20264).entries == ()
    for person in (ADULT, PARTNER, CHILD):
        assert _energy(engine, person) == []
    assert len(events) == 3
    assert all(e.event == "ended" and e.end is not None and e.end < e.start for e in events)


def test_a_household_move_gives_and_removes_the_derived_right(engine: Engine) -> None:
    _seed_household(engine)
    _open_leefloon(engine)
    move = dt.date(2027, 3, 1)
    moved = change(
        "household.changed",
        PARTNER,
        move,
        {"household_id": 8, "members": [NEIGHBOUR, PARTNER], "head": NEIGHBOUR},
        source=NATIONAL_REGISTER,
    )
    with engine.begin() as conn:
        result = service.apply_change(conn, change=moved, key="k2", seq=2, today=TODAY)
    assert PARTNER in result.affected
    assert ADULT in result.affected
    (right,) = _energy(engine, PARTNER)
    assert (right.start, right.end) == (dt.date(2026, 10, 1), move - dt.timedelta(days=1))
    (child_right,) = _energy(engine, CHILD)
    assert child_right.end is None

    # the neighbour gets the right once the leefloon holder moves in with them
    joined = change(
        "household.changed",
        ADULT,
        move,
        {"household_id": 8, "members": [NEIGHBOUR, PARTNER, ADULT]},
        source=NATIONAL_REGISTER,
    )
    with engine.begin() as conn:
        service.apply_change(conn, change=joined, key="k3", seq=3, today=TODAY)
    (neighbour,) = _energy(engine, NEIGHBOUR)
    assert (neighbour.start, neighbour.end, neighbour.via_insz) == (move, None, ADULT)
    (partner,) = _energy(engine, PARTNER)  # back with the holder: one period again
    assert (partner.start, partner.end) == (dt.date(2026, 10, 1), None)
    (child_after,) = _energy(engine, CHILD)  # left behind in household 7
    assert child_after.end == move - dt.timedelta(days=1)


def test_death_ends_the_rights(engine: Engine) -> None:
    _seed_household(engine)
    _open_leefloon(engine)
    died_on = dt.date(2027, 1, 10)
    died = change(
        "person.died", ADULT, died_on, {"death_date": died_on.isoformat()}, source=NATIONAL_REGISTER
    )
    with engine.begin() as conn:
        service.apply_change(conn, change=died, key="k2", seq=2, today=TODAY)
        ended = [e for e in service.events_for(conn, body_kbo=FOD_ECONOMIE) if e.caused_by_seq == 2]
    assert {(e.insz, e.event, e.end) for e in ended} == {
        (p, "ended", died_on) for p in (ADULT, PARTNER, CHILD)
    }


def test_a_replaced_insz_moves_the_rights(engine: Engine) -> None:
    _seed_household(engine)
    _open_leefloon(engine)
    new = make_insz(dt.date(1985, 3, 14), 19)
    replaced = change("insz.replaced", ADULT, TODAY, {"replaced_by": new}, source=NATIONAL_REGISTER)
    with engine.begin() as conn:
        service.apply_change(conn, change=replaced, key="k2", seq=2, today=TODAY)
        assert [e.right for e in service.entitlements_of(conn, insz=new) if e.right == ENERGY] == [ENERGY]
        # the old number leads to the new one
        assert service.entitlements_of(conn, insz=ADULT)[0].insz == new
        events = [e for e in service.events_for(conn, body_kbo=FOD_ECONOMIE) if e.caused_by_seq == 2]
    assert {(e.insz, e.event) for e in events} == {(ADULT, "ended"), (new, "granted")}
    (partner,) = _energy(engine, PARTNER)
    assert partner.via_insz == new


def test_kinds_no_status_uses_are_recorded_and_ignored(engine: Engine) -> None:
    career = change(
        "status.opened",
        ADULT,
        TODAY,
        {"kind": "temporary_unemployment", "file_key": "T1", "start": TODAY.isoformat()},
        source=RVA,
    )
    address = change(
        "address.changed",
        ADULT,
        TODAY,
        {"street": "Veldstraat", "house_number": "1", "postal_code": "9000", "municipality": "Gent"},
        source=NATIONAL_REGISTER,
    )
    with engine.begin() as conn:
        first = service.apply_change(conn, change=career, key="k1", seq=1, today=TODAY)
        second = service.apply_change(conn, change=address, key="k2", seq=2, today=TODAY)
        again = service.apply_change(conn, change=career, key="k1", seq=1, today=TODAY)
        assert service.entitlements_of(conn, insz=ADULT) == []
    assert (first.outcome, second.outcome, again.outcome) == ("ignored", "ignored", "duplicate")


def test_explanation_says_why(engine: Engine) -> None:
    _seed_household(engine)
    _open_leefloon(engine)
    with engine.connect() as conn:
        told = service.explain(conn, insz=CHILD)
    (energy,) = [r for r in told["rights"] if r["right"] == ENERGY]
    assert energy["granted_by"]["kbo"] == FOD_ECONOMIE
    assert energy["start"] == "2026-10-01"
    assert energy["end"] is None
    (why,) = energy["because"]
    assert why["status"] == "leefloon_or_equivalent"
    assert why["source_kbo"] == OCMW_GENT
    assert why["source_name"] == "OCMW Gent"
    assert why["kind"] == "leefloon"
    assert why["rule"] == "quarter_start/status_end"
    assert why["via_insz"] == ADULT
    assert why["via_household"] is True
    assert why["status_start"] == "2026-11-15"
    assert f"household member {ADULT}" in why["text"]
    assert told["statuses"] == []


def test_two_statuses_merge_into_one_period(engine: Engine) -> None:
    with engine.begin() as conn:
        service.load_statuses(
            conn,
            [
                {
                    "insz": NEIGHBOUR,
                    "source_kbo": HAN,
                    "kind": "integration_allowance",
                    "file_key": "H1",
                    "start": dt.date(2025, 2, 1),
                    "end": dt.date(2025, 12, 31),
                },
                {
                    "insz": NEIGHBOUR,
                    "source_kbo": OCMW_GENT,
                    "kind": "leefloon",
                    "file_key": "G9",
                    "start": dt.date(2025, 11, 1),
                    "end": None,
                },
                {
                    "insz": NEIGHBOUR,
                    "source_kbo": RVA,
                    "kind": "career_break",
                    "file_key": "X",
                    "start": TODAY,
                },
            ],
        )
        assert service.recompute_all(conn, today=TODAY, emit_events=False) == 0
    (energy,) = _energy(engine, NEIGHBOUR)
    assert (energy.start, energy.end, energy.status) == (dt.date(2025, 1, 1), None, "disability_allowance")
    assert [g["status"] for g in energy.grounds] == ["disability_allowance", "leefloon_or_equivalent"]


def test_a_rolled_back_transaction_leaves_no_half_write(engine: Engine) -> None:
    _seed_household(engine)

    class Boom(Exception):
        pass

    try:
        with engine.begin() as conn:
            opened = change(
                "status.opened",
                ADULT,
                LEEFLOON_START,
                {"kind": "leefloon", "file_key": "GENT-1", "start": LEEFLOON_START.isoformat()},
            )
            service.apply_change(conn, change=opened, key="k1", seq=1, today=TODAY)
            raise Boom
    except Boom:
        pass
    assert _energy(engine, ADULT) == []
    with engine.connect() as conn:
        assert service.events_for(conn, body_kbo=FOD_ECONOMIE) == []
    assert _open_leefloon(engine).outcome == "applied"  # the key was not consumed by the failed attempt
