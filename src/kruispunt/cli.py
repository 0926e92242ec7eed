"""The ``kruispunt`` command: start the network, run one service, check identifiers, verify the log, bench.

Each domain package keeps its own sub-commands in its ``cli.py``; this module only mounts them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from kruispunt.attest.cli import app as attest_app
from kruispunt.audit.cli import app as audit_app
from kruispunt.employers.cli import app as employers_app
from kruispunt.hub.batch_cli import app as batch_app
from kruispunt.ids.cli import app as id_app
from kruispunt.mutations.cli import app as mutations_app
from kruispunt.network.cli import app as network_app
from kruispunt.sources.social import SERVICES as SOCIAL_SERVICES

app = typer.Typer(
    name="kruispunt",
    help="kruispunt — an open-source crossroads bank for social security.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(id_app, name="id", help="Check identifiers (INSZ, KBO, RSZ, Dimona period).")
app.add_typer(audit_app, name="audit", help="The tamper-evident log.")
app.add_typer(network_app, name="network", help="Registry, deliberations and reference directory.")
app.add_typer(attest_app, name="attest", help="Signed electronic attestations (verify offline).")
app.add_typer(
    batch_app, name="batch", help="Batches: submit a file of consultations, follow it, fetch results."
)

app.add_typer(
    employers_app, name="employers", help="Employer declarations (Dimona, DmfA, DRS): exports, deliveries."
)

bench_app = typer.Typer(help="Benchmarks (code in bench/ at the repository root).", no_args_is_help=True)
app.add_typer(
    mutations_app, name="mutations", help="Change notifications: delivery state, dead letters, replay."
)
app.add_typer(bench_app, name="bench")

SERVICES = (
    "hub",
    "national_register",
    "bis_register",
    *SOCIAL_SERVICES,
    "employers",
    "mutations",
    "rights",
    "coding",
    "warehouse",
    "idp",
    "portal",
)


def _apply_common(data_dir: Path | None, db: str | None) -> None:
    """Pass --data-dir/--db to this process and every child through the environment."""
    if data_dir is not None:
        os.environ["KRUISPUNT_DATA_DIR"] = str(data_dir.resolve())
    if db is not None:
        os.environ["KRUISPUNT_DB_URL"] = db
    from kruispunt.core.settings import get_settings

    get_settings.cache_clear()


DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Folder for the SQLite files (default ./data).")
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="Base database URL, e.g. postgresql://127.0.0.1/kruispunt (default: SQLite files)."
    ),
]


@app.command("doctor")
def doctor_command(
    no_services: Annotated[
        bool, typer.Option("--no-services", help="Skip the reachability of the services.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as one JSON object.")] = False,
) -> None:
    """Check this deployment: certificates, keys, migrations, the log and its checkpoints, services."""
    from dataclasses import asdict

    from kruispunt.core.settings import get_settings
    from kruispunt.doctor import run_checks

    checks = run_checks(get_settings(), services=not no_services)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        typer.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}))
    else:
        for c in checks:
            typer.echo(f"{c.status:4}  {c.area:10}  {c.name}: {c.detail}")
        typer.echo(f"{len(checks)} checks, {len(failed)} failed")
    raise typer.Exit(1 if failed else 0)


@app.command()
def up(
    persons: Annotated[
        int, typer.Option("--persons", min=100, help="Size of the synthetic population.")
    ] = 5_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic nation.")] = 20261128,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port of the hub; the sources take the next ones.")
    ] = 8000,
    hub_workers: Annotated[
        int, typer.Option("--hub-workers", min=1, max=64, help="Hub worker processes (one per core).")
    ] = 1,
) -> None:
    """Start the whole network: seed it, start every service, print `NAME URL` lines, then `ready`."""
    _apply_common(data_dir, db)
    from kruispunt.up import run_network

    raise typer.Exit(run_network(persons=persons, seed=seed, host=host, port=port, hub_workers=hub_workers))


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")],
    port: Annotated[int, typer.Option("--port")] = 8000,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Hub only: worker processes sharing the port.")
    ] = 1,
    worker_index: Annotated[
        int | None, typer.Option("--worker-index", hidden=True, help="Set by the hub's supervisor.")
    ] = None,
) -> None:
    """Run one service in the foreground (what `up` starts, one process each)."""
    if service not in SERVICES:
        typer.echo(f"unknown service {service!r}; choose one of: {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    _apply_common(data_dir, db)
    from kruispunt.up import serve_service

    raise typer.Exit(serve_service(service, host=host, port=port, workers=workers, worker_index=worker_index))


def _bench_module(name: str) -> object:
    from kruispunt.core.settings import REPO_ROOT

    bench_dir = REPO_ROOT / "bench"
    if not bench_dir.is_dir():
        typer.echo(f"benchmarks live in {bench_dir}, which is missing (run from a source checkout)", err=True)
        raise typer.Exit(2)
    sys.path.insert(0, str(bench_dir))
    import importlib

    return importlib.import_module(name)


@bench_app.command("hub")
def bench_hub(
    seconds: Annotated[
        float, typer.Option("--seconds", min=1.0, help="Duration of each measured phase.")
    ] = 10.0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=1024)] = 64,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Processes of the hub and of the baseline proxy (one per core)."
        ),
    ] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on one line.")] = False,
) -> None:
    """Hub pipeline vs a bare pass-through proxy to the same provider stub, same load, same run."""
    module = _bench_module("bench_hub")
    result = module.run(seconds=seconds, concurrency=concurrency, workers=workers)  # type: ignore[attr-defined]
    module.report(result, as_json=as_json)  # type: ignore[attr-defined]


@bench_app.command("warehouse")
def bench_warehouse(
    persons: Annotated[int, typer.Option("--persons", min=1000, help="Synthetic population.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic nation.")] = 20261128,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Folder for the generated raw extracts (reused).")
    ] = None,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Work in this folder and keep it."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on one line.")] = False,
) -> None:
    """Coding + snapshot + the five applications' tables for N people and 4 quarters vs a plain group-by."""
    module = _bench_module("bench_warehouse")
    result = module.run(persons=persons, seed=seed, cache=cache, keep=keep)  # type: ignore[attr-defined]
    module.report(result, as_json=as_json)  # type: ignore[attr-defined]


@bench_app.command("batch")
def bench_batch(
    lines: Annotated[int, typer.Option("--lines", min=10, help="Request lines in the batch file.")] = 100_000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Hub worker processes.")] = 2,
    persons: Annotated[
        int, typer.Option("--persons", min=10_000, help="Synthetic population seeded.")
    ] = 100_000,
    baseline_lines: Annotated[
        int, typer.Option("--baseline-lines", min=100, help="Lines of the one-by-one baseline sample.")
    ] = 20_000,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Run in this folder and keep it (logs, databases, files).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on one line.")] = False,
) -> None:
    """A batch of N lines through the real hub and registers vs the same lines sent one by one."""
    module = _bench_module("bench_batch")
    result = module.run(  # type: ignore[attr-defined]
        lines=lines, workers=workers, persons=persons, baseline_lines=baseline_lines, keep=keep
    )
    module.report(result, as_json=as_json)  # type: ignore[attr-defined]


@bench_app.command("declarations")
def bench_declarations(
    seconds: Annotated[float, typer.Option("--seconds", min=1.0, help="Duration of the Dimona load.")] = 10.0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=1024)] = 32,
    dmfa_records: Annotated[
        int, typer.Option("--dmfa-records", min=100, help="Worker records in the DmfA file.")
    ] = 100_000,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Run in this folder and keep it (databases, files).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on one line.")] = False,
) -> None:
    """Dimona declarations/s over REST; a large DmfA file validated and stored vs XSD-only validation."""
    module = _bench_module("bench_declarations")
    result = module.run(  # type: ignore[attr-defined]
        seconds=seconds, concurrency=concurrency, dmfa_records=dmfa_records, keep=keep
    )
    module.report(result, as_json=as_json)  # type: ignore[attr-defined]


@bench_app.command("mutations")
def bench_mutations(
    changes: Annotated[int, typer.Option("--changes", min=100, help="Status changes published.")] = 1_000_000,
    persons: Annotated[
        int, typer.Option("--persons", min=10, help="People in the persons directory.")
    ] = 100_000,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="Changes per POST.")] = 5_000,
    transport: Annotated[
        list[str] | None, typer.Option("--transport", help="database and/or nats (default: both).")
    ] = None,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Run in this folder and keep it (logs, databases).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per transport, one line each.")
    ] = False,
) -> None:
    """Fan-out of N status changes (three recipients each) per transport, against the raw transport."""
    chosen = transport or ["database", "nats"]
    unknown = sorted(set(chosen) - {"database", "nats"})
    if unknown:
        typer.echo(f"--transport: unknown {unknown}; give database or nats", err=True)
        raise typer.Exit(2)
    module = _bench_module("bench_mutations")
    results = module.run(  # type: ignore[attr-defined]
        changes=changes, persons=min(persons, changes), batch=batch, transports=chosen, keep=keep
    )
    module.report(results, as_json=as_json)  # type: ignore[attr-defined]


@bench_app.command("directory")
def bench_directory(
    persons: Annotated[int, typer.Option("--persons", min=1000)] = 200_000,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on one line.")] = False,
) -> None:
    """Bulk-load N people with ~5 directory lines each, then measure lookup latency."""
    module = _bench_module("bench_directory")
    result = module.run(persons=persons, db=db)  # type: ignore[attr-defined]
    module.report(result, as_json=as_json)  # type: ignore[attr-defined]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
