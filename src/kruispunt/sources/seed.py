"""Seed the National Register and the bis register with one simulated nation.

One pass over :func:`kruispunt.simulate.iter_population`: national-register numbers go to the National
Register, bis numbers to the bis register. Each database records what it was seeded with in its ``meta``
table (``population.*`` keys, ``population.status`` loading → complete), so seeding again with the same
``persons``/``seed`` is a no-op, an interrupted load of the same population is redone from scratch, and a
database holding anything else is left alone unless ``force=True``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, Table, literal, select

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.simulate import BLOCK_SIZE, GENERATOR_VERSION, REFERENCE_DATE, iter_population
from kruispunt.sources.bis_register import service as bis
from kruispunt.sources.national_register import service as nr


class SeedConflict(RuntimeError):
    """A register already holds other data; seeding would mix populations."""


@dataclass(frozen=True)
class SeedReport:
    persons: int
    seed: int
    national_register: int
    """People loaded into (or, when skipped, already in) the National Register."""
    bis_register: int
    """People loaded into (or already in) the bis register."""
    skipped: bool
    seconds: float

    @property
    def rate(self) -> float:
        """People generated and loaded per second (0 when skipped)."""
        return 0.0 if self.skipped or self.seconds <= 0 else self.persons / self.seconds


def population_meta(persons: int, seed: int) -> dict[str, str]:
    """The ``population.*`` meta of a database seeded with ``persons`` people of nation ``seed`` (and this
    generator): what a later seeding compares with to tell whether it is the same population."""
    return {
        "population.persons": str(persons),
        "population.seed": str(seed),
        "population.generator": str(GENERATOR_VERSION),
        "population.block_size": str(BLOCK_SIZE),
        "population.reference_date": REFERENCE_DATE.isoformat(),
    }


def _has_people(conn: Connection, table: Table) -> bool:
    return conn.execute(select(literal(1)).select_from(table).limit(1)).first() is not None


def seed_sources(
    *, nr_url: str, bis_url: str, persons: int, seed: int, chunk_size: int = 250_000, force: bool = False
) -> SeedReport:
    """Migrate both databases and load ``persons`` simulated people of nation ``seed`` into them.

    Skips when both are already seeded with the same population. Raises :class:`SeedConflict` when one holds
    other data (another population, or bis numbers issued by hand), unless ``force`` (which deletes it).
    """
    started = time.perf_counter()
    upgrade(nr_url, "national_register")
    upgrade(bis_url, "bis_register")
    nr_engine, bis_engine = make_engine(nr_url), make_engine(bis_url)
    wanted = population_meta(persons, seed)
    try:
        registers = ((nr, nr_engine), (bis, bis_engine))
        states = []
        for module, engine in registers:
            with engine.connect() as conn:
                states.append((module.get_meta(conn), _has_people(conn, module.TABLES.person)))
        same = [all(meta.get(k) == v for k, v in wanted.items()) for meta, _ in states]
        if all(same) and all(meta.get("population.status") == "complete" for meta, _ in states):
            return SeedReport(
                persons=persons,
                seed=seed,
                national_register=int(states[0][0]["population.loaded"]),
                bis_register=int(states[1][0]["population.loaded"]),
                skipped=True,
                seconds=time.perf_counter() - started,
            )
        for (module, engine), (meta, has_people), is_same in zip(registers, states, same, strict=True):
            if (meta or has_people) and not is_same and not force:
                raise SeedConflict(
                    f"{engine.url.render_as_string(hide_password=True)} already holds other data "
                    f"(seeded with {meta or 'nothing recorded'}); use force=True to replace it"
                )
            with engine.begin() as conn:
                if meta or has_people:
                    module.clear_population(conn)
                module.set_meta(conn, {**wanted, "population.status": "loading"})

        loaded = {"nr": 0, "bis": 0}
        with nr.bulk_session(nr_engine) as nr_conn, bis.bulk_session(bis_engine) as bis_conn:
            for batch in iter_population(persons, seed, chunk_size=chunk_size):
                with nr_conn.begin():
                    loaded["nr"] += nr.load_batch(nr_conn, batch)
                with bis_conn.begin():
                    loaded["bis"] += bis.load_batch(bis_conn, batch)
        for (module, engine), count in zip(registers, (loaded["nr"], loaded["bis"]), strict=True):
            with engine.begin() as conn:
                module.set_meta(
                    conn, {**wanted, "population.status": "complete", "population.loaded": str(count)}
                )
        return SeedReport(
            persons=persons,
            seed=seed,
            national_register=loaded["nr"],
            bis_register=loaded["bis"],
            skipped=False,
            seconds=time.perf_counter() - started,
        )
    finally:
        nr_engine.dispose()
        bis_engine.dispose()
