"""Seeding the demo network for ``kruispunt up``: sources from the synthetic nation, then the directory.

The sources get their people (National Register, bis register). Then the demo institutions integrate
some of them in the reference directory, as they would when they open a file: each OCMW integrates a
share of the residents of its own municipality (social-integration files), the mutualities a share of
everyone (health-insurance files). Ready-to-send example consultations are written to
``<data_dir>/examples/`` so a person can try the hub at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings
from kruispunt.network import directory
from kruispunt.network.models import person_line_table as person_line
from kruispunt.network.registry import Institution, Registry
from kruispunt.simulate.population import iter_population

INTEGRATION_START = date(2024, 3, 1)
OCMW_SHARE = 0.15  # share of an OCMW's residents with a file (generous, so the demo has examples)
MUTUALITY_SHARE = 0.10  # share of all people affiliated with each demo mutuality
# the municipality of each demo OCMW (NIS code), matched by name
OCMW_MUNICIPALITIES = {"Gent": 44021, "Antwerpen": 11002, "Charleroi": 52011}


@dataclass
class Integrations:
    institution: Institution
    capacity: int
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class SeedReport:
    persons: int
    seed: int
    sources: Any
    integrations: list[Integrations]
    examples_dir: Path | None
    skipped_directory: bool

    def summary_lines(self) -> list[str]:
        lines = [f"sources: {self.sources}"]
        if self.skipped_directory:
            lines.append("directory: already seeded, kept as it is")
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


def seed_directory(*, hub_url: str, persons: int, seed: int) -> tuple[list[Integrations], bool]:
    """Integrate demo persons for the demo institutions; skipped when the directory already has lines."""
    upgrade(hub_url, "hub")
    engine = make_engine(hub_url)
    registry = Registry.load_default()
    with engine.begin() as conn:
        directory.seed_registry(conn, registry)
        already = conn.execute(select(func.count()).select_from(person_line)).scalar_one()
    ocmws, mutualities = _demo_requesters(registry)
    plans = [Integrations(i, 2) for i, _ in ocmws] + [Integrations(m, 1) for m in mutualities]
    if already:
        engine.dispose()
        return plans, True
    rng = np.random.default_rng(np.random.SeedSequence([seed, persons, 17]))

    def rows() -> Any:
        for batch in iter_population(persons, seed):
            alive = np.isnat(batch.death_date)
            resident = ~batch.is_bis
            for plan, (_, nis) in zip(plans, ocmws, strict=False):
                chosen = batch.insz[
                    alive & resident & (batch.nis_code == nis) & (rng.random(len(batch)) < OCMW_SHARE)
                ]
                yield from _lines(plan, chosen.tolist())
            for plan in plans[len(ocmws) :]:
                chosen = batch.insz[alive & (rng.random(len(batch)) < MUTUALITY_SHARE)]
                yield from _lines(plan, chosen.tolist())

    directory.bulk_load(engine, rows())
    engine.dispose()
    return plans, False


def _lines(plan: Integrations, inszs: list[str]) -> Any:
    inst = plan.institution
    register = "PRIMARY" if inst.institution_type == 0 else "SECONDARY"
    plan.count += len(inszs)
    if len(plan.examples) < 5:
        plan.examples.extend(inszs[: 5 - len(plan.examples)])
    for insz in inszs:
        yield (
            insz,
            inst.kbo,
            inst.sector,
            inst.institution_type,
            plan.capacity,
            None,
            INTEGRATION_START,
            None,
            register,
        )


def write_examples(folder: Path, plans: list[Integrations]) -> Path | None:
    """Example consultations (JSON bodies for ``POST /hub/messages``) built from the seeded directory."""
    ocmw = next((p for p in plans if p.institution.sector == 17 and p.examples), None)
    if ocmw is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    insz = ocmw.examples[0]
    now = datetime.now(UTC).isoformat(timespec="seconds")

    def envelope(
        ticket: str, context: str, name: str, person: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "informationCustomer": {
                "ticket": ticket,
                "timestampSent": now,
                "customerIdentification": {"cbeNumber": ocmw.institution.kbo},
                "userId": "demo-social-worker",
            },
            "legalContext": context,
            "messageType": {"name": name, "version": "1"},
            "request": body,
        }
        if person:
            doc["ssin"] = person
        return doc

    examples = {
        "identify_person.json": envelope(
            "demo-1", "PCSA:SOCIAL_INQUIRY", "identify_person", insz, {"insz": insz}
        ),
        "family_composition.json": envelope("demo-2", "PCSA:SOCIAL_INQUIRY", "family_composition", insz, {}),
        "address_history.json": envelope("demo-3", "PCSA:SOCIAL_INQUIRY", "address_history", insz, {}),
    }
    for name, doc in examples.items():
        (folder / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return folder


def seed_network(*, settings: Settings, persons: int, seed: int) -> SeedReport:
    from kruispunt.sources.seed import seed_sources

    nr_url = component_url(settings.db_url, settings.data_dir, "national_register")
    bis_url = component_url(settings.db_url, settings.data_dir, "bis_register")
    hub_url = component_url(settings.db_url, settings.data_dir, "hub")
    sources = seed_sources(nr_url=nr_url, bis_url=bis_url, persons=persons, seed=seed)
    plans, skipped = seed_directory(hub_url=hub_url, persons=persons, seed=seed)
    examples = write_examples(settings.data_dir / "examples", plans) if not skipped else None
    return SeedReport(persons, seed, sources, plans, examples, skipped)
