"""The citizen area on the running network (``kruispunt up``), in a real headless Chromium.

A person of the synthetic nation who can log in, with a Dimona period and an open file for which a source
issues attestations (a pension at the FPD, unemployment at the RVA, a disability allowance at DG HAN) logs in
with itsme (the pages need 450) and sees, each page passing axe-core without serious or critical violations:
their file in the reference directory (that source among the institutions), their statuses and rights, their
attestations — a fresh one issued by that source through the hub under deliberation 24/020, shown as verified,
downloaded as the signed JWS and verified again offline with the network's keys — their career from the
employers service, and, in "who consulted my data", the portal's own consultation for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from kruispunt.attest.keys import KeySet
from kruispunt.attest.service import verify
from kruispunt.network.registry import Registry
from tests.browser import accessibility_violations, browser, page  # noqa: F401
from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_social_e2e import _candidates, lives  # noqa: F401

pytestmark = pytest.mark.slow

ATTESTING = (  # source service, kinds it attests, its KBO, the attestation's name on the (Dutch) page
    ("fpd", {"pension", "igo"}, "0206738078", "Pensioen en IGO"),
    ("rva", {"unemployment", "temporary_unemployment"}, "0206737484", "Werkloosheid"),
    (
        "han",
        {"income_replacement_allowance", "integration_allowance", "elderly_assistance_allowance"},
        "0367303366",
        "Tegemoetkoming personen met een handicap",
    ),
)


def _login_inszs(network: RunningNetwork) -> set[str]:
    lines = (network.data_dir / "examples" / "logins.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[2] for line in lines if line and not line.startswith("#")}


def _accessible(tab: Any) -> None:
    problems = accessibility_violations(tab)
    assert problems == [], f"{tab.url}: {problems}"


def test_a_citizen_sees_their_file_rights_attestations_and_career(
    network: RunningNetwork,
    lives: dict[str, dict[str, Any]],  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    portal = network.urls["portal"]
    can_log_in = _login_inszs(network)
    chosen = next(
        (
            (e, kbo, label)
            for source, kinds, kbo, label in ATTESTING
            for e in _candidates(lives, needs={source: kinds, "rsz": {"dimona_period"}})
            if e["person"]["insz"] in can_log_in
        ),
        None,
    )
    assert chosen is not None, "nobody who can log in has a Dimona period and an attested status"
    entry, source_kbo, attestation_name = chosen
    insz = entry["person"]["insz"]

    page.goto(f"{portal}/citizen/my-file")
    assert "upgrade=450" in page.url
    page.locator("main a[href*='level=450']").first.click()
    page.select_option("#insz-itsme", insz)
    page.locator("form:has(#insz-itsme) button[type=submit]").click()
    page.wait_for_url(f"{portal}/citizen/my-file**")
    _accessible(page)
    source = Registry.load_default().institution(source_kbo)
    assert source is not None
    assert source.name in page.locator("main table").inner_text()

    page.goto(f"{portal}/citizen/my-rights")
    _accessible(page)
    assert page.locator("main h2").count() == 2

    page.goto(f"{portal}/citizen/attestations")
    _accessible(page)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{portal}/citizen/attestations?issued=**")
    _accessible(page)
    table = page.locator("main table").inner_text()
    assert attestation_name in table
    assert "handtekening geldig" in table
    assert "NIET geldig" not in table
    with page.expect_download() as downloading:
        page.locator("main a[download]").first.click()
    download = downloading.value
    assert download.suggested_filename.endswith(".jwt")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    keys = KeySet.from_jwks(httpx.get(f"{network.hub}/hub/keys", timeout=30).json())
    checked = verify(saved.read_text(encoding="utf-8"), keys)
    assert checked.attestation.subject == insz

    page.goto(f"{portal}/citizen/career")
    _accessible(page)
    assert page.locator("main table").count() >= 1
    assert page.locator("main table").first.locator("tbody tr").count() >= 1

    page.goto(f"{portal}/citizen/who-consulted")
    _accessible(page)
    consulted = page.locator("main table").inner_text()
    assert "list_of_attestations" in consulted
    assert "24/020" in consulted
