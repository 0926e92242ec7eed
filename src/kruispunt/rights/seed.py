"""Seeding the rights database for ``kruispunt up``: the state the changes then move.

Alongside the social sources, one pass over the synthetic lives loads the households (from the National
Register's population: people sharing a ``household_id``), the status files of the sources (the files a
harmonised status uses) and the energy suppliers' customer files (one customer — the head — per household,
the supplier drawn from the household id); :meth:`RightsLoader.finish` derives every entitlement once,
without events: the initial state is not news to the granting bodies, changes from now on are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, func, select

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.rights import SERVICE, service
from kruispunt.rights.definitions import load_definitions
from kruispunt.rights.models import metadata
from kruispunt.simulate import PopulationBatch
from kruispunt.sources.social.seed import StatusRows

HOUSEHOLD_SINCE = dt.date(2020, 1, 1)
"""When the seeded households and customer contracts are taken to start."""


class RightsLoader:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine | None = None
        self.definitions = load_definitions()
        self.counts = {"households": 0, "statuses": 0, "customers": 0, "entitlements": 0}

    def migrate(self) -> None:
        upgrade(self.url, SERVICE)
        self.engine = make_engine(self.url)

    def _engine(self) -> Engine:
        if self.engine is None:
            self.migrate()
        assert self.engine is not None
        return self.engine

    def already_seeded(self) -> bool:
        from kruispunt.rights.models import household_member_table

        with self._engine().connect() as conn:
            count = conn.execute(select(func.count()).select_from(household_member_table)).scalar_one()
        return int(count) > 0

    def reset(self) -> None:
        with self._engine().begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(delete(table))

    def load(self, population: PopulationBatch, statuses: StatusRows) -> None:
        """One chunk of the nation: its households, its status files, its energy customers."""
        suppliers = sorted(self.definitions.suppliers)
        alive = np.isnat(population.death_date) & (population.household_id >= 0)
        households: list[dict[str, Any]] = []
        customers: list[dict[str, Any]] = []
        for insz, household, relationship in zip(
            population.insz[alive].tolist(),
            population.household_id[alive].tolist(),
            population.relationship[alive].tolist(),
            strict=True,
        ):
            head = relationship == "head"
            households.append(
                {"household_id": int(household), "insz": insz, "head": head, "since": HOUSEHOLD_SINCE}
            )
            if head and suppliers:
                customers.append(
                    {
                        "customer_id": f"EAN{int(household):016d}",
                        "insz": insz,
                        "supplier_kbo": suppliers[int(household) % len(suppliers)],
                        "since": HOUSEHOLD_SINCE,
                    }
                )
        starts = statuses.start.astype("datetime64[D]").tolist()
        ends = statuses.end.astype("datetime64[D]").tolist()
        rows = [
            {
                "insz": str(statuses.insz[i]),
                "source_kbo": str(statuses.member[i]),
                "kind": str(statuses.kind[i]),
                "file_key": f"seed-{statuses.kind[i]}-{statuses.insz[i]}-{i}",
                "start": starts[i],
                "end": ends[i],
            }
            for i in range(len(statuses))
            if self.definitions.status_for(source=str(statuses.member[i]), kind=str(statuses.kind[i]))
        ]
        with self._engine().begin() as conn:
            self.counts["households"] += service.load_households(conn, households)
            self.counts["customers"] += service.load_energy_customers(conn, customers)
            self.counts["statuses"] += service.load_statuses(conn, rows, definitions=self.definitions)

    def finish(self, today: dt.date | None = None) -> dict[str, int]:
        with self._engine().begin() as conn:
            self.counts["entitlements"] = service.recompute_all(
                conn, today=today or dt.date.today(), emit_events=False, definitions=self.definitions
            )
        return dict(self.counts)

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
