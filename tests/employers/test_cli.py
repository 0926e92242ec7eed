"""``kruispunt employers export-dimona`` / ``export-dmfa`` (SQLite and PostgreSQL): what is exported
validates against the official XSD and reads back; wrong options and a missing database are exit 2, an
employer with nothing to export exit 1 — never a file that does not validate."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kruispunt.employers import xmlsafe
from kruispunt.employers.cli import app
from tests.employers.conftest import EmployersApp
from tests.employers.test_dimona import declared, dimona_in, period_of

runner = CliRunner()
NS = "{*}"


def where(api: EmployersApp) -> list[str]:
    """The options that point the command at the test's employers database."""
    url = api.ctx.engine.url
    if url.get_backend_name() == "sqlite":
        return ["--data-dir", str(Path(url.database or "").parent)]
    base = url.set(database=(url.database or "").removesuffix("_employers"))
    return ["--db", base.render_as_string(hide_password=False)]


def test_export_dimona_validates_and_holds_the_periods(employers_app: EmployersApp, tmp_path: Path) -> None:
    api = employers_app
    boss = api.employers[0]
    periods = {period_of(declared(api, dimona_in(boss, w))) for w in api.workers[:3]}
    out = tmp_path / "dimona.xml"
    result = runner.invoke(app, ["export-dimona", "--employer", boss["kbo"], "-o", str(out), *where(api)])
    assert result.exit_code == 0, result.output
    root = xmlsafe.parse(out.read_bytes(), schema_name="dimona")
    assert {el.text for el in root.iter(f"{NS}ReferenceNbr")} == periods
    assert sorted(el.text or "" for el in root.iter(f"{NS}INSS")) == sorted(api.workers[:3])
    assert {el.text for el in root.iter(f"{NS}CompanyID")} == {boss["kbo"]}

    one = runner.invoke(
        app, ["export-dimona", "--employer", boss["kbo"], "--worker", api.workers[1], *where(api)]
    )
    assert one.exit_code == 0, one.output
    inss = [el.text for el in xmlsafe.parse(one.stdout_bytes, schema_name="dimona").iter(f"{NS}INSS")]
    assert inss == [api.workers[1]]


def test_export_refuses_bad_options_and_missing_data(employers_app: EmployersApp, tmp_path: Path) -> None:
    api = employers_app
    bad_kbo = runner.invoke(app, ["export-dimona", "--employer", "0123456789", *where(api)])
    assert bad_kbo.exit_code == 2
    assert "--employer" in bad_kbo.output
    bad_worker = runner.invoke(
        app, ["export-dimona", "--employer", api.employers[0]["kbo"], "--worker", "12345", *where(api)]
    )
    assert bad_worker.exit_code == 2
    bad_quarter = runner.invoke(
        app, ["export-dmfa", "--employer", api.employers[0]["kbo"], "--quarter", "2024-Q5", *where(api)]
    )
    assert bad_quarter.exit_code == 2
    nothing = runner.invoke(app, ["export-dimona", "--employer", api.employers[2]["kbo"], *where(api)])
    assert nothing.exit_code == 1
    assert nothing.stdout_bytes == b""
    no_quarter = runner.invoke(
        app, ["export-dmfa", "--employer", api.employers[0]["kbo"], "--quarter", "2024-Q3", *where(api)]
    )
    assert no_quarter.exit_code == 1
    missing = runner.invoke(
        app, ["export-dimona", "--employer", api.employers[0]["kbo"], "--data-dir", str(tmp_path / "none")]
    )
    assert missing.exit_code == 2
    assert "no employers database" in missing.output
