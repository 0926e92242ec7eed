"""Seeding the employers service for ``kruispunt up``: the employer repertory of the synthetic nation and the
Dimona periods the RSZ already holds, so that a Dimona Out or a DmfA about a seeded worker finds its period.

The same periods are in the RSZ source (``dimona_period`` files keyed by their id): the employers service is
where they are declared, the RSZ source is where institutions consult them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, insert

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.employers import SERVICE, service
from kruispunt.employers.models import (
    declaration_table,
    dimona_period_table,
    dmfa_declaration_table,
    dmfa_worker_record_table,
    employer_table,
    mandate_table,
    outbox_table,
    submission_table,
)
from kruispunt.simulate.employers import EmployerTable
from kruispunt.sources.social.seed import StatusRows

GENERAL_CATEGORY = "000"
"""Employer category (annex 27) of every synthetic employer: the general category."""
SEEDED_SINCE = dt.date(2000, 1, 1)


class EmployersLoader:
    """Loads the employers database chunk by chunk alongside the social sources (one pass over the lives)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine | None = None
        self.periods = 0
        self.employers = 0

    def migrate(self) -> None:
        upgrade(self.url, SERVICE)
        self.engine = make_engine(self.url)

    def _engine(self) -> Engine:
        if self.engine is None:
            self.migrate()
        assert self.engine is not None
        return self.engine

    def already_seeded(self, wanted: Mapping[str, str]) -> bool:
        with self._engine().connect() as conn:
            meta = service.get_meta(conn)
        return all(meta.get(k) == v for k, v in wanted.items()) and meta.get("seed.complete") == "1"

    def reset(self, employers: EmployerTable, wanted: Mapping[str, str]) -> None:
        """Empty every table and load the repertory."""
        with self._engine().begin() as conn:
            for table in (
                outbox_table,
                dmfa_worker_record_table,
                dmfa_declaration_table,
                declaration_table,
                submission_table,
                dimona_period_table,
                mandate_table,
                employer_table,
            ):
                conn.execute(delete(table))
            service.set_meta(conn, {**wanted, "seed.complete": "0"})
            rows = [
                {
                    "kbo": e["kbo"],
                    "rsz": e["rsz"],
                    "name": e["name"],
                    "category": GENERAL_CATEGORY,
                    "joint_committee": e["joint_committee"],
                    "nace": None,
                    "since": SEEDED_SINCE,
                }
                for e in employers.records()
            ]
            self.employers = service.add_employers(conn, rows)

    def load(self, statuses: StatusRows) -> int:
        """The Dimona periods of one chunk of lives."""
        chosen = np.flatnonzero((statuses.source == "rsz") & (statuses.kind == "dimona_period"))
        now = service.utc_now()
        rows: list[dict[str, Any]] = []
        starts = statuses.start[chosen].astype("datetime64[D]").tolist()
        ends = statuses.end[chosen].astype("datetime64[D]").tolist()
        for i, start, end in zip(chosen.tolist(), starts, ends, strict=True):
            a = statuses.attrs[i]
            rows.append(
                {
                    "id": a["dimona_id"],
                    "employer_kbo": a["employer_kbo"],
                    "insz": str(statuses.insz[i]),
                    "worker_type": a["worker_type"],
                    "joint_committee": a["joint_committee"],
                    "start": start,
                    "end": end,
                    "start_hour": None,
                    "end_hour": None,
                    "planned_hours": None,
                    "cancelled": False,
                    "locked": False,
                    "version": 1,
                    "updated_at": now,
                }
            )
        if rows:
            with self._engine().begin() as conn:
                conn.execute(insert(dimona_period_table), rows)
        self.periods += len(rows)
        return len(rows)

    def finish(self) -> None:
        with self._engine().begin() as conn:
            service.set_meta(conn, {"seed.complete": "1", "seed.dimona_periods": str(self.periods)})

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
