"""The single writer of REST Dimona declarations (SQLite and PostgreSQL): a batch shares one transaction, yet
each declaration is kept or dropped on its own — a refused mandate takes back only its receipt, a fault in
one declaration leaves the others stored — and concurrent requests for one worker pass the overlap rule
once."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from kruispunt.employers import dimona
from kruispunt.employers.dimona import DimonaDeclaration, Outcome
from kruispunt.employers.errors import DeclarationRefused
from kruispunt.employers.models import (
    declaration_table,
    dimona_period_table,
    outbox_table,
    submission_table,
)
from kruispunt.employers.writer import DimonaWriter, _Job
from tests.employers.conftest import EmployersApp
from tests.employers.test_dimona import dimona_in, errors, status

START = dt.date(2024, 11, 10)


def hire(employer: dict[str, Any], insz: str) -> DimonaDeclaration:
    return DimonaDeclaration(
        kind="DimonaIn",
        channel="rest",
        employer_kbo=employer["kbo"],
        insz=insz,
        start=START,
        worker_type="OTH",
        joint_committee="XXX",
    )


def count(api: EmployersApp, table: Table) -> int:
    with api.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def tickets(api: EmployersApp) -> set[str]:
    with api.ctx.engine.connect() as conn:
        return {str(t) for t in conn.execute(select(submission_table.c.ticket)).scalars()}


def results(jobs: list[_Job]) -> list[Outcome | BaseException]:
    out: list[Outcome | BaseException] = []
    for job in jobs:
        error = job.future.exception(timeout=30)
        out.append(error if error is not None else job.future.result())
    return out


def test_one_batch_keeps_each_declaration_on_its_own(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, stranger = api.employers[0], api.employers[3]["kbo"]
    w0, w1 = api.workers[0], api.workers[1]
    jobs = [
        _Job(hire(boss, w0), boss["kbo"]),
        _Job(hire(boss, w1), stranger),  # no mandate from the employer
        _Job(hire(boss, w1), boss["kbo"]),
        _Job(hire(boss, w0), boss["kbo"]),  # the same period again, in the same transaction
    ]
    DimonaWriter(api.ctx)._write(jobs)
    first, refused, second, again = results(jobs)

    assert isinstance(first, Outcome)
    assert first.result == "A"
    assert isinstance(refused, DeclarationRefused)
    assert refused.code == "NO_MANDATE"
    assert isinstance(second, Outcome)
    assert second.result == "A"
    assert isinstance(again, Outcome)
    assert again.result == "B"
    assert [a.error_id for a in again.anomalies] == ["90373-006"]

    assert tickets(api) == {jobs[0].ticket, jobs[2].ticket, jobs[3].ticket}
    assert count(api, declaration_table) == 3
    assert count(api, dimona_period_table) == 2
    with api.ctx.engine.connect() as conn:
        queued = {r.declaration_id for r in conn.execute(select(outbox_table))}
    assert queued == {first.declaration_id, second.declaration_id}
    logged = [(e.outcome, e.reason_code, e.requester_kbo) for e in api.logged()]
    assert sorted(logged, key=str) == sorted(
        [
            ("ACCEPTED", None, boss["kbo"]),
            ("REFUSED", "NO_MANDATE", stranger),
            ("ACCEPTED", None, boss["kbo"]),
            ("REFUSED", "90373-006", boss["kbo"]),
        ],
        key=str,
    )


def test_a_fault_in_one_declaration_leaves_the_others_stored(
    employers_app: EmployersApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = employers_app
    boss = api.employers[0]
    faulty = api.workers[2]
    process = dimona.process

    def failing(conn: Any, **kw: Any) -> Outcome:
        out = process(conn, **kw)  # written, then the fault: all of it must go
        if kw["declaration"].insz == faulty:
            raise RuntimeError("disk on fire")
        return out

    monkeypatch.setattr(dimona, "process", failing)
    jobs = [_Job(hire(boss, w), boss["kbo"]) for w in (api.workers[0], faulty, api.workers[1])]
    DimonaWriter(api.ctx)._write(jobs)
    first, fault, last = results(jobs)

    assert isinstance(fault, RuntimeError)
    assert isinstance(first, Outcome)
    assert first.result == "A"
    assert isinstance(last, Outcome)
    assert last.result == "A"
    assert tickets(api) == {jobs[0].ticket, jobs[2].ticket}
    with api.ctx.engine.connect() as conn:
        periods = set(conn.execute(select(dimona_period_table.c.insz)).scalars())
    assert periods == {api.workers[0], api.workers[1]}
    assert count(api, outbox_table) == 2


def test_concurrent_requests_for_one_worker_pass_the_overlap_rule_once(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, insz = api.employers[0], api.workers[4]

    def post(_: int) -> Any:
        return api.client.post("/declarations", json=dimona_in(boss, insz), headers=api.headers())

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(16)))
    assert {a.status_code for a in answers} == {201}
    outcomes = sorted(status(a.json()) for a in answers)
    assert outcomes == ["A"] + ["B"] * 15
    assert all(errors(a.json()) == [("90373-006", "B")] for a in answers if status(a.json()) == "B")
    assert count(api, dimona_period_table) == 1


def test_a_closed_writer_refuses_new_work(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    writer = DimonaWriter(api.ctx)
    _, future = writer.submit(hire(boss, api.workers[5]), boss["kbo"])
    assert future.result(timeout=30).result == "A"
    writer.close()
    writer.close()
    with pytest.raises(RuntimeError):
        writer.submit(hire(boss, api.workers[6]), boss["kbo"])
