"""Seeding both registers from one simulated nation, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from kruispunt.core.db import make_engine
from kruispunt.simulate import generate_population
from kruispunt.sources.bis_register import service as bis
from kruispunt.sources.national_register import service as nr
from kruispunt.sources.seed import SeedConflict, seed_sources


def test_seed_sources(fresh_db: Callable[[str], str]) -> None:
    nr_url, bis_url = fresh_db("national_register"), fresh_db("bis_register")
    report = seed_sources(nr_url=nr_url, bis_url=bis_url, persons=1_500, seed=77, chunk_size=400)
    population = generate_population(1_500, 77)
    assert not report.skipped
    assert report.rate > 0
    assert report.national_register == int((~population.is_bis).sum())
    assert report.bis_register == int(population.is_bis.sum()) > 0
    nr_engine, bis_engine = make_engine(nr_url), make_engine(bis_url)
    try:
        with nr_engine.connect() as conn:
            assert nr.count_persons(conn) == report.national_register
            assert nr.get_meta(conn)["population.status"] == "complete"
            for number in population.insz[population.is_bis][:5].tolist():
                assert nr.identify_by_insz(conn, insz=number) is None
        with bis_engine.connect() as conn:
            assert bis.count_persons(conn) == report.bis_register
            for number in population.insz[population.is_bis][:5].tolist():
                assert bis.identify_by_insz(conn, insz=number) is not None
    finally:
        nr_engine.dispose()
        bis_engine.dispose()

    again = seed_sources(nr_url=nr_url, bis_url=bis_url, persons=1_500, seed=77)
    assert again.skipped
    assert again.national_register == report.national_register

    with pytest.raises(SeedConflict):
        seed_sources(nr_url=nr_url, bis_url=bis_url, persons=1_500, seed=78)
    other = seed_sources(nr_url=nr_url, bis_url=bis_url, persons=800, seed=78, force=True)
    other_population = generate_population(800, 78)
    assert not other.skipped
    assert other.national_register == int((~other_population.is_bis).sum())
    engine = make_engine(nr_url)
    with engine.connect() as conn:
        assert nr.count_persons(conn) == other.national_register
        assert nr.get_meta(conn)["population.seed"] == "78"
    engine.dispose()
    assert np.isnat(other_population.death_date).any()


def test_interrupted_seed_is_redone(fresh_db: Callable[[str], str]) -> None:
    nr_url, bis_url = fresh_db("national_register"), fresh_db("bis_register")
    seed_sources(nr_url=nr_url, bis_url=bis_url, persons=600, seed=5)
    engine = make_engine(nr_url)
    with engine.begin() as conn:
        nr.set_meta(conn, {"population.status": "loading"})
    engine.dispose()
    report = seed_sources(nr_url=nr_url, bis_url=bis_url, persons=600, seed=5)
    assert not report.skipped
    engine = make_engine(nr_url)
    with engine.connect() as conn:
        assert nr.count_persons(conn) == report.national_register
    engine.dispose()
