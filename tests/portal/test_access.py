"""Access management of the enterprises (portal/access.py): the chain legal representative → main access
manager → access managers → roles, every change and refusal logged, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import current_revision, head_revision, upgrade
from kruispunt.ids import make_insz
from kruispunt.portal.access import AccessRefused, AccessStore
from kruispunt.portal.models import access_event_table, access_manager_table, metadata, user_role_table

ENTERPRISE = "0870000027"
OTHER = "0870000126"
LEGAL, MAIN, MANAGER, USER, STRANGER = (make_insz(dt.date(1970, 1, 1 + i), 11 + i) for i in range(5))


@pytest.fixture
def store(fresh_db: Callable[[str], str]) -> Iterator[AccessStore]:
    s = AccessStore.open(fresh_db("portal"), {ENTERPRISE: frozenset({LEGAL})})
    yield s
    s.engine.dispose()


def _events(store: AccessStore) -> list[tuple[str, str, str | None, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(access_event_table).order_by(access_event_table.c.id)).all()
    return [(r.actor, r.action, r.subject_insz, r.outcome) for r in rows]


def test_the_migration_builds_exactly_the_models(fresh_db: Callable[[str], str]) -> None:
    url = fresh_db("portal")
    upgrade(url, "portal")
    upgrade(url, "portal")
    engine = make_engine(url)
    try:
        assert current_revision(engine, "portal") == head_revision("portal") == "portal_0001"
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_the_chain_from_legal_representative_to_a_role(store: AccessStore) -> None:
    assert [p.enterprise for p in store.enterprises_of(LEGAL)] == [ENTERPRISE]
    assert store.enterprises_of(MAIN) == []
    store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MAIN, main=True)
    store.appoint_manager(actor=MAIN, kbo=ENTERPRISE, insz=MANAGER, main=False)
    store.grant_role(actor=MANAGER, kbo=ENTERPRISE, insz=USER, role="dimona", start=None, end=None)
    main, user = store.positions(MAIN, ENTERPRISE), store.positions(USER, ENTERPRISE)
    assert main.main_manager
    assert main.manages
    assert not main.may_use("dimona")
    assert user.roles == {"dimona"}
    assert user.may_use("dimona")
    assert not user.may_use("dmfa")
    assert not user.manages
    assert [p.enterprise for p in store.enterprises_of(USER)] == [ENTERPRISE]
    assert store.positions(LEGAL, ENTERPRISE).may_use("mandates")  # legal representatives give mandates
    assert [(m.insz, m.main) for m in store.managers(ENTERPRISE)] == [(MAIN, True), (MANAGER, False)]
    assert _events(store) == [
        (LEGAL, "appoint_main_manager", MAIN, "done"),
        (MAIN, "appoint_manager", MANAGER, "done"),
        (MANAGER, "grant_role", USER, "done"),
    ]
    [grant] = store.roles(ENTERPRISE)
    store.revoke_role(actor=MAIN, kbo=ENTERPRISE, grant_id=grant.id)
    assert store.positions(USER, ENTERPRISE).roles == frozenset()
    assert store.enterprises_of(USER) == []
    store.end_manager(actor=MAIN, kbo=ENTERPRISE, insz=MANAGER)
    store.end_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MAIN)
    assert store.managers(ENTERPRISE) == []


@pytest.mark.parametrize(
    ("actor", "action", "code"),
    [
        (MAIN, "main", "not_legal_representative"),  # only a legal representative appoints the main one
        (LEGAL, "manager", "not_main_manager"),  # access managers come from the main access manager
        (USER, "role", "not_manager"),  # a user does not grant roles
        (STRANGER, "role", "not_manager"),
    ],
)
def test_each_step_is_refused_to_the_wrong_person_and_logged(
    store: AccessStore, actor: str, action: str, code: str
) -> None:
    store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MAIN, main=True)
    store.grant_role(actor=MAIN, kbo=ENTERPRISE, insz=USER, role="dimona", start=None, end=None)
    before = store.managers(ENTERPRISE), store.roles(ENTERPRISE)

    def attempt() -> None:
        if action == "role":
            store.grant_role(actor=actor, kbo=ENTERPRISE, insz=STRANGER, role="dmfa", start=None, end=None)
        else:
            store.appoint_manager(actor=actor, kbo=ENTERPRISE, insz=STRANGER, main=action == "main")

    with pytest.raises(AccessRefused) as refused:
        attempt()
    assert refused.value.status == 403
    assert refused.value.code == code
    assert (store.managers(ENTERPRISE), store.roles(ENTERPRISE)) == before  # nothing written
    actor_logged, _, subject, outcome = _events(store)[-1]
    assert (actor_logged, subject, outcome) == (actor, STRANGER, "refused")
    with store.engine.connect() as conn:
        detail = conn.scalars(
            select(access_event_table.c.detail).order_by(access_event_table.c.id.desc())
        ).first()
    assert json.loads(str(detail)) == {"code": code}


def test_a_main_manager_cannot_be_removed_but_by_a_legal_representative(store: AccessStore) -> None:
    store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MAIN, main=True)
    store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MANAGER, main=True)  # a co-HTB
    with pytest.raises(AccessRefused) as refused:
        store.end_manager(actor=MAIN, kbo=ENTERPRISE, insz=MANAGER)
    assert refused.value.code == "not_legal_representative"
    assert len(store.managers(ENTERPRISE)) == 2


def test_bad_input_is_refused_without_a_write(store: AccessStore) -> None:
    store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MAIN, main=True)
    cases: list[tuple[Callable[[], None], int]] = [
        (lambda: store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz="12345678901", main=True), 400),
        (lambda: store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz="", main=True), 400),
        (lambda: store.appoint_manager(actor=LEGAL, kbo="0123", insz=USER, main=True), 400),
        (lambda: store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MAIN, main=True), 409),
        (
            lambda: store.grant_role(
                actor=MAIN, kbo=ENTERPRISE, insz=USER, role="root", start=None, end=None
            ),
            400,
        ),
        (
            lambda: store.grant_role(
                actor=MAIN,
                kbo=ENTERPRISE,
                insz=USER,
                role="dmfa",
                start=dt.date(2030, 1, 2),
                end=dt.date(2030, 1, 1),
            ),
            400,
        ),
        (lambda: store.revoke_role(actor=MAIN, kbo=ENTERPRISE, grant_id=999), 404),
        (lambda: store.end_manager(actor=LEGAL, kbo=ENTERPRISE, insz=USER), 404),
    ]
    for call, status in cases:
        with pytest.raises(AccessRefused) as refused:
            call()
        assert refused.value.status == status
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(access_manager_table)) == 1
        assert conn.scalar(select(func.count()).select_from(user_role_table)) == 0


def test_a_role_twice_in_the_same_period_is_refused_and_a_future_role_is_not_yet_held(
    store: AccessStore,
) -> None:
    store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MAIN, main=True)
    store.grant_role(actor=MAIN, kbo=ENTERPRISE, insz=USER, role="dmfa", start=None, end=None)
    with pytest.raises(AccessRefused) as refused:
        store.grant_role(actor=MAIN, kbo=ENTERPRISE, insz=USER, role="dmfa", start=None, end=None)
    assert refused.value.code == "already_has_role"
    later = dt.date.today() + dt.timedelta(days=10)
    store.grant_role(actor=MAIN, kbo=ENTERPRISE, insz=USER, role="drs", start=later, end=None)
    assert store.positions(USER, ENTERPRISE).roles == {"dmfa"}
    assert store.positions(USER, OTHER).roles == frozenset()


def test_an_access_manager_promoted_to_main_keeps_one_line(store: AccessStore) -> None:
    store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MAIN, main=True)
    store.appoint_manager(actor=MAIN, kbo=ENTERPRISE, insz=MANAGER, main=False)
    store.appoint_manager(actor=LEGAL, kbo=ENTERPRISE, insz=MANAGER, main=True)
    assert [(m.insz, m.main) for m in store.managers(ENTERPRISE)] == [(MAIN, True), (MANAGER, True)]
