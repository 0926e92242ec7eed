"""The trusted third party: codes link within a project and not across projects; decoding only under an
approval in force, every request logged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from kruispunt.coding import service
from kruispunt.coding.models import metadata
from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import make_insz

PEOPLE = [make_insz(dt.date(1960, 1, 1) + dt.timedelta(days=i), 7) for i in range(50)]


@pytest.fixture
def engine(fresh_db: Callable[[str], str]) -> Iterator[Engine]:
    url = fresh_db("coding")
    upgrade(url, "coding")
    eng = make_engine(url)
    with eng.begin() as conn:
        service.create_project(conn, project="labour-2026", purpose="transitions to work")
        service.create_project(conn, project="health-2026", purpose="incapacity and care")
    yield eng
    eng.dispose()


def test_the_migration_builds_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []


def test_codes_are_stable_within_a_project_and_differ_across_projects(engine: Engine) -> None:
    with engine.begin() as conn:
        labour = service.code(conn, project="labour-2026", inszs=PEOPLE)
        again = service.code(conn, project="labour-2026", inszs=list(reversed(PEOPLE)))
        health = service.code(conn, project="health-2026", inszs=PEOPLE)
    assert again == list(reversed(labour))
    assert len(set(labour)) == len(PEOPLE)
    assert not set(labour) & set(health)


def test_a_project_keeps_its_key(engine: Engine) -> None:
    with engine.begin() as conn:
        first = service.code(conn, project="labour-2026", inszs=PEOPLE[:1])
    with pytest.raises(service.CodingError) as refused, engine.begin() as conn:
        service.create_project(conn, project="labour-2026", purpose="again")
    assert refused.value.code == "PROJECT_EXISTS"
    with engine.begin() as conn:
        assert service.code(conn, project="labour-2026", inszs=PEOPLE[:1]) == first


def test_bad_input_is_refused_and_nothing_is_kept(engine: Engine) -> None:
    with pytest.raises(service.CodingError) as refused, engine.begin() as conn:
        service.code(conn, project="labour-2026", inszs=[PEOPLE[0], "12345678901"])
    assert refused.value.code == "INVALID_INSZ"
    assert "item 1" in str(refused.value)
    with pytest.raises(service.CodingError) as unknown, engine.begin() as conn:
        service.code(conn, project="nope", inszs=PEOPLE[:1])
    assert unknown.value.code == "UNKNOWN_PROJECT"


def _decode(engine: Engine, code: str, approval: str | None, *, project: str = "labour-2026") -> str:
    """As a caller does: the log entry is committed whether the decoding is granted or refused."""
    with engine.connect() as conn:
        try:
            insz = service.decode_logged(
                conn,
                project=project,
                code_value=code,
                requested_by="researcher-7",
                reason="a person to be contacted for consent",
                approval=approval,
                today=dt.date(2027, 3, 1),
            )
        finally:
            conn.commit()
    return insz


def test_decoding_needs_an_approval_in_force_for_the_project_and_is_logged(engine: Engine) -> None:
    with engine.begin() as conn:
        code = service.code(conn, project="labour-2026", inszs=PEOPLE[:1])[0]
        service.approve_decoding(
            conn, reference="27/001", project="labour-2026", purpose="consent", expires=dt.date(2027, 12, 31)
        )
        service.approve_decoding(
            conn, reference="26/099", project="labour-2026", purpose="old", expires=dt.date(2026, 12, 31)
        )
        service.approve_decoding(
            conn, reference="27/002", project="health-2026", purpose="other", expires=dt.date(2027, 12, 31)
        )
    for approval, why in (
        (None, "NO_APPROVAL"),
        ("26/099", "APPROVAL_EXPIRED"),
        ("27/002", "APPROVAL_NOT_FOR_PROJECT"),
    ):
        with pytest.raises(service.CodingError) as refused:
            _decode(engine, code, approval)
        assert refused.value.code == why
    assert _decode(engine, code, "27/001") == PEOPLE[0]
    with pytest.raises(service.CodingError) as unknown:
        _decode(engine, "a" * 20, "27/001")
    assert unknown.value.code == "UNKNOWN_CODE"
    with engine.connect() as conn:
        log = service.decodings(conn, project="labour-2026")
    assert [e["outcome"] for e in log] == [
        "NO_APPROVAL",
        "APPROVAL_EXPIRED",
        "APPROVAL_NOT_FOR_PROJECT",
        "granted",
        "UNKNOWN_CODE",
    ]
    assert {e["requested_by"] for e in log} == {"researcher-7"}
