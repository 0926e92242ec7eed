"""The data warehouse on the running network (``kruispunt up``): its quarters came through the hub under
deliberation 24/014, coded at the trusted third party; no INSZ reaches it; its tables are published and the
PxWeb API and the web applications give the same numbers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from kruispunt.simulate import REFERENCE_DATE
from kruispunt.sources.extracts import read_arrow
from kruispunt.warehouse.extract import quarters_before
from tests.hub.network_fixture import RunningNetwork

pytestmark = pytest.mark.slow

KSZ = "0244640631"
OCMW_GENT = "0212140186"
QUARTERS = quarters_before(REFERENCE_DATE, 4)


def _extract(network: RunningNetwork, **overrides: Any) -> httpx.Response:
    body = {
        "cbe_number": KSZ,
        "sector": 25,
        "institution_type": 0,
        "legal_context": "KSZ:DWH",
        "dataset": "persons",
        "quarter": QUARTERS[-1],
        **overrides,
    }
    return httpx.post(f"{network.hub}/hub/extracts", json=body, timeout=120)


def test_the_hub_gives_the_warehouse_coded_extracts_only(
    network: RunningNetwork, people: list[dict[str, Any]]
) -> None:
    response = _extract(network)
    assert response.status_code == 200, response.text
    table = read_arrow(response.content)
    assert "insz" not in table.schema.names
    assert "household" not in table.schema.names
    ids = table["person_id"].to_pylist()
    alive = [p for p in people if p["death_date"] is None or p["death_date"].isoformat() > "2024-12-31"]
    assert len(ids) == len(set(ids)) > 0.9 * len(alive)
    inszs = {p["insz"] for p in people}
    assert not inszs & set(ids)
    assert all(not re.fullmatch(r"[0-9]{11}", i) for i in ids)
    households = [h for h in table["household_id"].to_pylist() if h is not None]
    assert households
    assert all(h.startswith("h") and h[1:] in set(ids) for h in households)


def test_the_hub_refuses_an_extract_without_the_deliberation(network: RunningNetwork) -> None:
    ocmw = _extract(network, cbe_number=OCMW_GENT, sector=17, institution_type=1, legal_context="KSZ:DWH")
    assert ocmw.status_code == 403, ocmw.text
    assert "deliberation" in ocmw.json()["error"]["message"].lower()
    context = _extract(network, legal_context="KSZ:GSS_MATCHING")
    assert context.status_code == 403
    bad = _extract(network, quarter="2024Q5")
    assert bad.status_code == 422


def test_no_insz_is_stored_in_the_warehouse(network: RunningNetwork, people: list[dict[str, Any]]) -> None:
    folder = network.data_dir / "warehouse"
    files = sorted(folder.rglob("*.parquet"))
    assert len(files) >= 4 * 3 + 4  # three extracts and a snapshot per quarter, and the tables
    inszs = {p["insz"] for p in people}
    for path in files:
        table = pq.read_table(path)
        for column in table.schema.names:
            if table.schema.field(column).type == "string":
                assert not inszs & set(table[column].to_pylist()), f"{path}: {column}"


def test_the_five_applications_are_filled_and_agree_with_pxweb(network: RunningNetwork) -> None:
    warehouse = network.urls["warehouse"]
    loads = httpx.get(f"{warehouse}/warehouse/loads", timeout=30).json()
    assert loads["quarters"] == QUARTERS
    tables = httpx.get(f"{warehouse}/api/v2/tables", params={"pageSize": 100}, timeout=30).json()
    ids = [t["id"] for t in tables["tables"]]
    assert len(ids) >= 5
    apps = httpx.get(f"{warehouse}/apps", timeout=30)
    assert apps.status_code == 200
    for application in ("global", "local", "household", "mobility_short", "mobility_long"):
        page = httpx.get(f"{warehouse}/apps/{application}", timeout=30)
        assert page.status_code == 200, application
    data = httpx.get(
        f"{warehouse}/api/v2/tables/{ids[0]}/data", params={"outputFormat": "json-stat2"}, timeout=30
    ).json()
    assert data["class"] == "dataset"
    assert any(v is not None and v > 0 for v in data["value"])


def test_the_warehouse_folder_layout(network: RunningNetwork) -> None:
    folder: Path = network.data_dir / "warehouse"
    for quarter in QUARTERS:
        for name in ("persons", "files", "employers"):
            assert (folder / "extracts" / f"quarter={quarter}" / f"{name}.parquet").is_file()
        assert (folder / "snapshot" / f"quarter={quarter}").is_dir()
