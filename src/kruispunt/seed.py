"""Seeding the demo network for ``kruispunt up``: the registers, the social sources, the reference directory.

1. The registers get their people (National Register and bis register,
   :func:`kruispunt.sources.seed.seed_sources`).
2. One pass over :func:`kruispunt.simulate.lives.iter_lives` (the people of the nation with the files each
   social-security source holds on them) loads, chunk by chunk:

   * every social source's database (:class:`kruispunt.sources.social.seed.SocialLoader`: RSZ, RVA, DG HAN,
     FPD, FEDRIS, the child-benefit funds, each mutuality and each OCMW in its own database) and the member
     directory of each managing institution (NIC, POD MI);
   * the hub's persons directory (:func:`kruispunt.network.directory.bulk_load`): one line per (person,
     institution, capacity) with the span of that person's files, PRIMARY for a type-0 institution,
     SECONDARY for a member of a secondary network;
   * the demo integrations of the requesting institutions, as before: each OCMW integrates a share of the
     residents of its own municipality (capacity 2), each mutuality a share of everyone (capacity 1) — a line
     a source's own files already give is not added twice.

   * the employers service's database (:class:`kruispunt.employers.seed.EmployersLoader`): the employer
     repertory and the Dimona periods already declared;
   * the rights database (:class:`kruispunt.rights.seed.RightsLoader`): households, the status files a
     harmonised status uses, the energy suppliers' customers, and the entitlements derived from them.

   The signing keys of the institutions that issue attestations are created first (``<data_dir>/keys``).
3. Ready-to-send example consultations go to ``<data_dir>/examples/``.

Seeding again with the same population is a no-op; an interrupted load is redone (the directory lines of the
loaded institutions are deleted first); a database holding another population is refused unless ``force``.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings
from kruispunt.employers import SERVICE as EMPLOYERS_SERVICE
from kruispunt.employers.seed import EmployersLoader
from kruispunt.network import directory
from kruispunt.network.directory import BulkRow
from kruispunt.network.models import person_line_table as person_line
from kruispunt.network.registry import Institution, Registry
from kruispunt.rights import SERVICE as RIGHTS_SERVICE
from kruispunt.rights.seed import RightsLoader
from kruispunt.simulate import PopulationBatch
from kruispunt.simulate.employers import generate_employers
from kruispunt.simulate.lives import employer_count
from kruispunt.simulate.population import iter_population
from kruispunt.sources.seed import population_meta
from kruispunt.sources.social.seed import (
    SocialLoader,
    SocialReport,
    Statuses,
    StatusRows,
    create_keys,
    directory_rows,
    social_urls,
)

INTEGRATION_START = date(2024, 3, 1)
OCMW_SHARE = 0.15  # share of an OCMW's residents with a file (generous, so the demo has examples)
MUTUALITY_SHARE = 0.10  # share of all people affiliated with each demo mutuality
# the municipality of each demo OCMW (NIS code), matched by name
OCMW_MUNICIPALITIES = {"Gent": 44021, "Antwerpen": 11002, "Charleroi": 52011}

LivesIterator = Callable[..., Iterator[tuple[PopulationBatch, StatusRows]]]


@dataclass
class Integrations:
    institution: Institution
    capacity: int
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class Example:
    """A person picked for the example consultations, with the sources that hold an open file on them."""

    insz: str
    sources: set[str]
    kinds: set[str]
    members: dict[str, str]


@dataclass
class SeedReport:
    persons: int
    seed: int
    sources: Any
    integrations: list[Integrations]
    examples_dir: Path | None
    skipped_directory: bool
    social: SocialReport | None = None
    directory_lines: int = 0
    lives: str = "kruispunt.simulate.lives"

    def summary_lines(self) -> list[str]:
        lines = [f"sources: {self.sources}"]
        if self.social is not None:
            s = self.social
            state = "already seeded, kept as it is" if s.skipped else f"loaded in {s.seconds:.1f} s"
            lines.append(
                f"social sources: {s.total_files} files in {len(s.files)} databases, "
                f"{sum(s.member_lines.values())} member-directory lines ({state}; statuses from {self.lives})"
            )
        if self.skipped_directory:
            lines.append("directory: already seeded, kept as it is")
            return lines
        lines.append(f"directory: {self.directory_lines} lines")
        for item in self.integrations:
            sample = ", ".join(item.examples[:3])
            lines.append(
                f"directory: {item.institution.name} ({item.institution.kbo}) integrated {item.count} "
                f"persons with capacity {item.capacity}; e.g. {sample}"
            )
        if self.examples_dir:
            lines.append(f"example consultations: {self.examples_dir}")
        return lines


def _demo_requesters(registry: Registry) -> tuple[list[tuple[Institution, int]], list[Institution]]:
    ocmws = []
    for institution in registry.institutions():
        if institution.sector == 17 and institution.institution_type == 1:
            for name, nis in OCMW_MUNICIPALITIES.items():
                if name.lower() in institution.name.lower():
                    ocmws.append((institution, nis))
    mutualities = [i for i in registry.institutions() if i.sector == 11 and i.institution_type != 0]
    return ocmws, mutualities


def _lines(plan: Integrations, inszs: list[str], skip: set[tuple[str, str, int]]) -> Iterator[BulkRow]:
    inst = plan.institution
    for insz in inszs:
        if (insz, inst.kbo, plan.capacity) in skip:
            continue
        plan.count += 1
        if len(plan.examples) < 5:
            plan.examples.append(insz)
        yield (
            insz,
            inst.kbo,
            inst.sector,
            inst.institution_type,
            plan.capacity,
            None,
            INTEGRATION_START,
            None,
            inst.register,
        )


def lives_iterator() -> tuple[LivesIterator, str]:
    """``iter_lives`` of :mod:`kruispunt.simulate.lives` and its version; without it, the population with no
    files (the social sources are then seeded empty)."""
    try:
        module = importlib.import_module("kruispunt.simulate.lives")
        iterate: LivesIterator = module.iter_lives
    except (ImportError, AttributeError):

        def no_lives(persons: int, seed: int) -> Iterator[tuple[PopulationBatch, StatusRows]]:
            for batch in iter_population(persons, seed):
                yield batch, Statuses.from_records([])

        return no_lives, "none"
    version = getattr(module, "LIVES_VERSION", getattr(module, "GENERATOR_VERSION", 1))
    return iterate, str(version)


def _pick_examples(population: PopulationBatch, statuses: StatusRows, found: dict[str, Example]) -> None:
    """Remember living residents with open files at many sources (among the first few thousand people)."""
    if len(found) >= 4 or len(statuses) == 0:
        return
    alive = population.insz[np.isnat(population.death_date) & ~population.is_bis][:5_000]
    rows = np.flatnonzero(np.isnat(statuses.end) & np.isin(statuses.insz, alive))
    by_person: dict[str, Example] = {}
    for insz, source, kind, member in zip(
        statuses.insz[rows].tolist(),
        statuses.source[rows].tolist(),
        statuses.kind[rows].tolist(),
        statuses.member[rows].tolist(),
        strict=True,
    ):
        entry = by_person.setdefault(insz, Example(insz, set(), set(), {}))
        entry.sources.add(source)
        entry.kinds.add(str(kind))
        entry.members.setdefault(source, member)
    ranked = sorted(by_person.values(), key=lambda e: (-len(e.sources), e.insz))
    unemployed = {"unemployment", "temporary_unemployment"}
    wants: dict[str, Callable[[Example], bool]] = {
        "inquiry": lambda e: {"rsz", "nic"} <= e.sources and bool(e.kinds & unemployed),
        "statuses": lambda e: len(e.sources) >= 3,
        "pension": lambda e: "fpd" in e.sources,
        "incapacity": lambda e: {"rsz", "nic"} <= e.sources,
    }
    for name, test in wants.items():
        if name not in found:
            pick = next((e for e in ranked if test(e)), None)
            if pick is not None:
                found[name] = pick


def seed_social_network(
    *,
    settings: Settings,
    persons: int,
    seed: int,
    force: bool = False,
    lives: tuple[LivesIterator, str] | None = None,
) -> tuple[SocialReport, list[Integrations], dict[str, Example], int, bool]:
    """Step 2 of the module docstring.

    Returns (social report, demo integrations, example people, directory lines written, skipped).
    """
    started = time.perf_counter()
    iterate, lives_version = lives or lives_iterator()
    hub_db = component_url(settings.db_url, settings.data_dir, "hub")
    create_keys(settings.data_dir / "keys")
    upgrade(hub_db, "hub")
    hub_engine = make_engine(hub_db)
    registry = Registry.load_default()
    loader = SocialLoader(social_urls(settings.db_url, settings.data_dir))
    employers = EmployersLoader(component_url(settings.db_url, settings.data_dir, EMPLOYERS_SERVICE))
    rights = RightsLoader(component_url(settings.db_url, settings.data_dir, RIGHTS_SERVICE))
    wanted = {**population_meta(persons, seed), "lives.version": lives_version}
    ocmws, mutualities = _demo_requesters(registry)
    plans = [Integrations(i, 2) for i, _ in ocmws] + [Integrations(m, 1) for m in mutualities]
    examples: dict[str, Example] = {}
    try:
        with hub_engine.begin() as conn:
            directory.seed_registry(conn, registry)
            has_lines = conn.execute(select(func.count()).select_from(person_line)).scalar_one() > 0
        loader.migrate()
        employers.migrate()
        rights.migrate()
        if (
            has_lines
            and loader.already_seeded(wanted)
            and employers.already_seeded(wanted)
            and rights.already_seeded()
        ):
            return loader.loaded_counts(), plans, examples, 0, True
        loader.reset(wanted, force=force)
        employers.reset(generate_employers(seed, employer_count(persons)), wanted)
        rights.reset()
        ours = sorted({*loader.institutions(), *(p.institution.kbo for p in plans)})
        with hub_engine.begin() as conn:
            conn.execute(delete(person_line).where(person_line.c.institution.in_(ours)))
        rng = np.random.default_rng(np.random.SeedSequence([seed, persons, 17]))
        social_institutions = loader.institutions()
        example_plan = next((p for p in plans if p.institution.sector == 17), None)
        integrated: set[str] = set()

        def rows() -> Iterator[BulkRow]:
            with loader:
                for population, statuses in iterate(persons, seed):
                    loaded = loader.load(statuses)
                    employers.load(statuses)
                    rights.load(population, statuses)
                    lines = directory_rows(loaded, registry, social_institutions)
                    yield from lines
                    have = {(line[0], line[1], line[4]) for line in lines}
                    _pick_examples(population, loaded, examples)
                    alive = np.isnat(population.death_date)
                    resident = ~population.is_bis
                    for plan, (_, nis) in zip(plans, ocmws, strict=False):
                        chosen = population.insz[
                            alive
                            & resident
                            & (population.nis_code == nis)
                            & (rng.random(len(population)) < OCMW_SHARE)
                        ].tolist()
                        if plan is example_plan:  # the example people are integrated by the first OCMW
                            extra = {e.insz for e in examples.values()} - integrated - set(chosen)
                            chosen = sorted(extra) + chosen
                            integrated.update(e.insz for e in examples.values())
                        yield from _lines(plan, chosen, have)
                    for plan in plans[len(ocmws) :]:
                        chosen = population.insz[alive & (rng.random(len(population)) < MUTUALITY_SHARE)]
                        yield from _lines(plan, chosen.tolist(), have)

        total = directory.bulk_load(hub_engine, rows())
        report = loader.finish(wanted)
        employers.finish()
        rights.finish()
        report.seconds = time.perf_counter() - started
        return report, plans, examples, total, False
    finally:
        loader.dispose()
        employers.dispose()
        rights.dispose()
        hub_engine.dispose()


def write_examples(
    folder: Path, plans: list[Integrations], examples: dict[str, Example] | None = None
) -> Path | None:
    """Example consultations (JSON bodies for ``POST /hub/messages``) built from the seeded directory."""
    ocmw = next((p for p in plans if p.institution.sector == 17 and p.examples), None)
    if ocmw is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    examples = examples or {}
    insz = ocmw.examples[0]
    now = datetime.now(UTC).isoformat(timespec="seconds")

    def envelope(
        ticket: str,
        context: str,
        name: str,
        person: str | None,
        body: dict[str, Any],
        cbe: str = ocmw.institution.kbo,
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "informationCustomer": {
                "ticket": ticket,
                "timestampSent": now,
                "customerIdentification": {"cbeNumber": cbe},
                "userId": "demo-social-worker",
            },
            "legalContext": context,
            "messageType": {"name": name, "version": "1"},
            "request": body,
        }
        if person:
            doc["ssin"] = person
        return doc

    docs = {
        "identify_person.json": envelope(
            "demo-1", "PCSA:SOCIAL_INQUIRY", "identify_person", insz, {"insz": insz}
        ),
        "family_composition.json": envelope("demo-2", "PCSA:SOCIAL_INQUIRY", "family_composition", insz, {}),
        "address_history.json": envelope("demo-3", "PCSA:SOCIAL_INQUIRY", "address_history", insz, {}),
    }
    social = "PCSA:SOCIAL_INQUIRY"
    if "inquiry" in examples:
        person = examples["inquiry"].insz
        docs["social_inquiry.json"] = envelope("demo-4", social, "social_inquiry", person, {})
        docs["attestation_unemployment.json"] = envelope(
            "demo-5", social, "attestation_unemployment", person, {}
        )
        docs["list_of_attestations.json"] = envelope("demo-6", social, "list_of_attestations", person, {})
    if "statuses" in examples:
        person = examples["statuses"].insz
        docs["social_statuses.json"] = envelope("demo-7", social, "social_statuses", person, {})
    if "pension" in examples:
        person = examples["pension"].insz
        docs["pension_register.json"] = envelope("demo-8", social, "pension_register", person, {})
    if "incapacity" in examples:
        chosen = examples["incapacity"]
        docs["employment_history.json"] = envelope(
            "demo-9",
            "NIC:INCAPACITY_BENEFITS",
            "employment_history",
            chosen.insz,
            {"period": {"start": "2024-01-01"}},
            cbe=chosen.members["nic"],
        )
    for name, doc in docs.items():
        (folder / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return folder


def seed_network(*, settings: Settings, persons: int, seed: int, force: bool = False) -> SeedReport:
    from kruispunt.sources.seed import seed_sources

    nr_url = component_url(settings.db_url, settings.data_dir, "national_register")
    bis_url = component_url(settings.db_url, settings.data_dir, "bis_register")
    sources = seed_sources(nr_url=nr_url, bis_url=bis_url, persons=persons, seed=seed, force=force)
    lives = lives_iterator()
    social, plans, examples, lines, skipped = seed_social_network(
        settings=settings, persons=persons, seed=seed, force=force, lives=lives
    )
    folder = write_examples(settings.data_dir / "examples", plans, examples) if not skipped else None
    return SeedReport(
        persons,
        seed,
        sources,
        plans,
        folder,
        skipped,
        social=social,
        directory_lines=lines,
        lives="kruispunt.simulate.lives" if lives[1] != "none" else "nowhere (no kruispunt.simulate.lives)",
    )


__all__ = [
    "Example",
    "Integrations",
    "SeedReport",
    "seed_network",
    "seed_social_network",
    "write_examples",
]
