"""The operators' live view over the real hub and mutations apps, served over HTTP: figures from the log,
the change delivery and the deliberations; only for operators at level 450; no script, no meta refresh."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.settings import Settings
from kruispunt.hub.api import create_app as create_hub_app
from kruispunt.mutations.api import create_mutations_app
from kruispunt.mutations.models import dead_letter_table
from kruispunt.network import KSZ
from kruispunt.portal.areas import AreaContext, area_routers
from kruispunt.portal.catalogue import LANGUAGES
from kruispunt.portal.roles import PortalRoles
from kruispunt.portal.web import DevelopmentLoginStub, create_app
from kruispunt.trust.ca import Identity, NetworkCA
from kruispunt.trust.receiver import signed_callers
from tests.browser import accessibility_violations, browser, page, serving  # noqa: F401
from tests.hub.test_network_e2e import envelope
from tests.portal.test_web import check_page

REPO_ROOT = Path(__file__).resolve().parents[2]
OPERATOR = "85073003328"
CITIZEN = "75060898009"
OCMW_GENT = "0212140186"
REQUESTER = "0244640631"


@dataclass
class Network:
    hub: str
    mutations: str
    ksz: Identity
    """The KSZ's identity in the hub's trust folder: the portal signs with it (the figures require it)."""


def _record(
    outcome: str = "DATA_FOUND", reason: str | None = None, requester: str = REQUESTER
) -> AuditRecord:
    return AuditRecord(
        ticket=str(uuid.uuid4()),
        time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2),
        channel="rest",
        outcome=outcome,
        message_type="identify_person",
        version="1",
        requester=requester,
        destinations=() if outcome == "REFUSED" else ("0403019261",),
        person=CITIZEN,
        reason_code=reason,
    )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """The real hub (its log holds a few exchanges on another chain) and mutations service, over HTTP;
    one recipient of changes and one dead letter."""
    folder = tmp_path_factory.mktemp("operator")
    settings = Settings(data_dir=folder, db_url=None, deliberations_dir=REPO_ROOT / "deliberations")
    ca = NetworkCA.create(folder / "trust")
    ksz = ca.issue(KSZ, "KSZ")
    ca.save(ksz)
    mutations = create_mutations_app(
        url=component_url(None, folder, "mutations"),
        directory_url=component_url(None, folder, "hub"),
        log_url=None,
        push=False,
        operators=signed_callers(folder / "trust", {KSZ}, service="the changes service's operator views"),
    )
    with serving(create_hub_app(settings)) as hub, serving(mutations) as changes:
        audit = make_engine(component_url(None, folder, "audit"))
        with AuditWriter(audit, chain=7, flush_ms=1) as writer:
            for record in (
                _record(),
                _record(),
                _record("REFUSED", "NO_DELIBERATION"),
                _record("REFUSED", "NO_DELIBERATION", requester=OCMW_GENT),
                _record("ERROR", "PROVIDER_TIMEOUT"),
            ):
                writer.append_sync(record)
        audit.dispose()
        put = httpx.put(
            f"{changes}/mutations/recipients/{OCMW_GENT}",
            json={"mode": "pull"},
            headers={"X-Kruispunt-Institution": OCMW_GENT},
            timeout=10,
        )
        assert put.status_code == 200, put.text
        engine = make_engine(component_url(None, folder, "mutations"))
        with engine.begin() as conn:
            conn.execute(
                insert(dead_letter_table).values(
                    recipient_kbo=OCMW_GENT,
                    cursor=1,
                    key="k-1",
                    change_seq=1,
                    reason="callback answered 500 five times",
                    attempts=5,
                    at=dt.datetime.now(dt.UTC),
                )
            )
        engine.dispose()
        yield Network(hub, changes, ksz)


def _portal(urls: dict[str, str], signer: Identity | None = None) -> TestClient:
    ctx = AreaContext(
        service_urls=urls, data_dir=Path("."), roles=PortalRoles(operators=frozenset({OPERATOR}))
    )
    app = create_app(
        service_urls=urls,
        idp=DevelopmentLoginStub(),
        routers=area_routers(ctx, modules=("operator",)),
        signer=signer,
    )
    return TestClient(app)


@pytest.fixture
def portal(network: Network) -> Iterator[TestClient]:
    with _portal({"hub": network.hub, "mutations": network.mutations}, network.ksz) as client:
        yield client


def _log_in(client: TestClient, level: int, subject: str) -> None:
    client.get("/login/start", params={"level": level, "subject": subject, "next": "/"})


def test_an_operator_sees_the_live_figures_of_every_source(portal: TestClient, network: Network) -> None:
    consulted = httpx.post(f"{network.hub}/hub/messages", json=envelope(ssin=CITIZEN), timeout=30)
    assert consulted.status_code < 500
    _log_in(portal, 450, OPERATOR)
    answer = portal.get("/operator/network")
    assert answer.status_code == 200, answer.text
    html = answer.text
    check_page(html, "nl")
    assert "http-equiv" not in html.lower()  # no meta refresh
    assert 'href="/operator/network?minutes=60"' in html  # the refresh link instead, with the time read
    assert "UTC" in html
    assert "NO_DELIBERATION" in html
    assert "PROVIDER_TIMEOUT" in html
    assert REQUESTER in html
    assert OCMW_GENT in html
    assert "callback answered 500 five times" in html  # the dead letter
    in_force = re.search(r"Beraadslagingen die vandaag gelden \((\d+)\)", html)  # from the hub
    assert in_force
    assert int(in_force.group(1)) > 0
    assert "<caption>" in html
    assert 'scope="col"' in html
    assert 'scope="row"' in html
    assert CITIZEN not in html  # counts only: never a person of the log
    assert re.search(r"Laatste minuut, één hubproces: [1-9]\d* antwoorden, mediaan ≤ [\d.]+ ms", html)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_view_is_in_every_language(portal: TestClient, lang: str) -> None:
    _log_in(portal, 450, OPERATOR)
    answer = portal.get("/operator/network", params={"lang": lang, "minutes": 5})
    assert answer.status_code == 200
    check_page(answer.text, lang)


def test_only_operators_at_450_get_in(portal: TestClient) -> None:
    first = portal.get("/operator/network", follow_redirects=False)
    assert first.status_code == 303
    assert "upgrade=450" in first.headers["location"]
    _log_in(portal, 400, OPERATOR)
    assert portal.get("/operator/network", follow_redirects=False).status_code == 303
    _log_in(portal, 450, CITIZEN)
    refused = portal.get("/operator/network", follow_redirects=False)
    assert refused.status_code == 403
    assert "NO_DELIBERATION" not in refused.text


@pytest.mark.parametrize("minutes", ["0", "7", "abc", "99999999999999999999", "-5"])
def test_a_bad_window_is_a_400_page(portal: TestClient, minutes: str) -> None:
    _log_in(portal, 450, OPERATOR)
    answer = portal.get("/operator/network", params={"minutes": minutes})
    assert answer.status_code == 400
    assert "1440" in answer.text


def test_a_source_that_does_not_answer_blanks_only_its_section(network: Network) -> None:
    with _portal({"hub": network.hub, "mutations": "http://127.0.0.1:9"}, network.ksz) as client:
        _log_in(client, 450, OPERATOR)
        answer = client.get("/operator/network")
    assert answer.status_code == 200
    assert "NO_DELIBERATION" in answer.text
    assert "Deze bron antwoordde niet" in answer.text


def test_no_source_at_all_is_a_503_page() -> None:
    with _portal({"hub": "http://127.0.0.1:9", "mutations": "http://127.0.0.1:9"}) as client:
        _log_in(client, 450, OPERATOR)
        answer = client.get("/operator/network")
    assert answer.status_code == 503


def test_the_view_passes_axe_in_a_browser(network: Network, page: Any) -> None:  # noqa: F811
    urls = {"hub": network.hub, "mutations": network.mutations}
    ctx = AreaContext(
        service_urls=urls, data_dir=Path("."), roles=PortalRoles(operators=frozenset({OPERATOR}))
    )
    app = create_app(
        service_urls=urls,
        idp=DevelopmentLoginStub(),
        routers=area_routers(ctx, modules=("operator",)),
        signer=network.ksz,
    )
    with serving(app) as portal:
        page.goto(f"{portal}/login/start?level=450&subject={OPERATOR}&next=/operator/network")
        assert page.url.endswith("/operator/network")
        assert accessibility_violations(page) == []
        page.select_option("#minutes", "15")
        page.locator("main form button[type=submit]").click()
        assert "minutes=15" in page.url
        assert accessibility_violations(page) == []
