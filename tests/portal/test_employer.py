"""The employer area of the portal over the real employers service (real HTTP, SQLite): acting for an
enterprise, access management, Dimona, DmfA, DRS, notifications, refusals, hostile input; and the two
flows of the issue in a real headless Chromium with axe-core."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from kruispunt.core.db import component_url, make_engine
from kruispunt.employers import dmfa, dmfa_xml, service
from kruispunt.employers.api import create_employers_app
from kruispunt.ids import make_insz
from kruispunt.portal.areas import AreaContext
from kruispunt.portal.employer import create_router
from kruispunt.portal.models import access_event_table
from kruispunt.portal.roles import PortalRoles
from kruispunt.portal.web import DevelopmentLoginStub, create_app
from kruispunt.simulate.employers import generate_employers
from tests.browser import accessibility_violations, browser, page, serving  # noqa: F401

LEGAL, MAIN, MANAGER, CLERK, SECRETARIAT_REP, SECRETARIAT_CLERK, STRANGER = (
    make_insz(dt.date(1975, 2, 1 + i), 21 + i) for i in range(7)
)
WORKER = make_insz(dt.date(1990, 6, 15), 33)
TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


@dataclass
class Network:
    employers_url: str
    employer: dict[str, Any]
    secretariat: dict[str, Any]
    tmp: Path

    def portal(self) -> FastAPI:
        roles = PortalRoles(
            legal_representatives={
                self.employer["kbo"]: frozenset({LEGAL}),
                self.secretariat["kbo"]: frozenset({SECRETARIAT_REP}),
            }
        )
        urls = {"employers": self.employers_url}
        ctx = AreaContext(service_urls=urls, data_dir=self.tmp, roles=roles)
        router = create_router(ctx, database_url=component_url(None, self.tmp, "portal"))
        return create_app(service_urls=urls, idp=DevelopmentLoginStub(), routers=[router])


@pytest.fixture(scope="module")
def employers_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("employers")
    url = component_url(None, tmp, "employers")
    app = create_employers_app(url=url, log_url=None, hub_url=None, rsz_url=None, deliver=False)
    rows = [
        {
            "kbo": e["kbo"],
            "rsz": e["rsz"],
            "name": e["name"],
            "category": "000",
            "joint_committee": e["joint_committee"],
            "nace": None,
            "since": dt.date(2000, 1, 1),
        }
        for e in generate_employers(7, 3).records()
    ]
    engine = make_engine(url)
    with engine.begin() as conn:
        service.add_employers(conn, rows)
    engine.dispose()
    with serving(app) as base:
        yield base, rows


@pytest.fixture
def network(employers_service: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> Network:
    """A fresh portal database per test over the module's employers service."""
    base, rows = employers_service
    return Network(base, rows[0], rows[1], tmp_path)


@contextmanager
def login(app: FastAPI, subject: str, level: int = 450) -> Iterator[TestClient]:
    """A client logged in as ``subject`` (its own event loop for the whole block: the portal's HTTP
    clients live in it)."""
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/login/start", params={"level": level, "subject": subject})
        yield client


def csrf(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert match
    return match.group(1)


def post(client: TestClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": csrf(client), **data})


def events(network: Network) -> list[Any]:
    engine = make_engine(component_url(None, network.tmp, "portal"))
    with engine.connect() as conn:
        rows = conn.execute(select(access_event_table).order_by(access_event_table.c.id)).all()
    engine.dispose()
    return list(rows)


def set_up_chain(
    app: FastAPI, kbo: str, clerk: str = CLERK, role: str = "dimona", legal: str = LEGAL
) -> None:
    """The legal representative appoints MAIN; MAIN appoints MANAGER; MANAGER grants ``role`` to ``clerk``."""
    with login(app, legal) as rep:
        assert post(rep, "/employer/access/managers", insz=MAIN, main="1").status_code == 200
    with login(app, MAIN) as main:
        post(main, "/employer/enterprise", enterprise=kbo)
        assert post(main, "/employer/access/managers", insz=MANAGER, main="0").status_code == 200
    with login(app, MANAGER) as manager:
        post(manager, "/employer/enterprise", enterprise=kbo)
        assert post(manager, "/employer/access/roles", insz=clerk, role=role).status_code == 200


def dimona_in(client: TestClient, employer: str, insz: str = WORKER, **extra: str) -> Any:
    fields = {
        "kind": "in",
        "employer": employer,
        "insz": insz,
        "worker_type": "OTH",
        "joint_committee": "XXX",
        "start": TOMORROW,
        **extra,
    }
    return post(client, "/employer/dimona", **fields)


# ------------------------------------------------------------------------------------------- HTTP tests


def test_the_chain_down_to_a_clerk_who_declares_a_dimona_and_finds_its_notification(network: Network) -> None:
    app = network.portal()
    kbo = network.employer["kbo"]
    set_up_chain(app, kbo)
    with login(app, MAIN) as main:
        page_ = main.get("/employer/access")
        assert page_.status_code == 200
        assert MANAGER in page_.text
        assert CLERK in page_.text
        assert "rol toegekend" in page_.text  # the log of changes
    with login(app, CLERK, 400) as clerk:
        form = clerk.get("/employer/dimona")
        assert form.status_code == 200
        assert f'value="{kbo}"' in form.text
        answer = dimona_in(clerk, kbo)
        assert answer.status_code == 200, answer.text
        assert "Aanvaard" in answer.text
        period = re.search(r'id="period-id">(\d{12})<', answer.text)
        assert period, answer.text
        ticket = re.search(r"/employer/notifications/([0-9a-f-]{36})", answer.text)
        assert ticket
        listed = clerk.get("/employer/notifications")
        assert ticket.group(1) in listed.text
        shown = clerk.get(f"/employer/notifications/{ticket.group(1)}")
        assert shown.status_code == 200
        assert period.group(1) in shown.text
        noti = clerk.get(f"/employer/notifications/{ticket.group(1)}/noti001.xml")
        assert noti.status_code == 200
        assert noti.headers["content-type"].startswith("application/xml")
        assert b"Notification" in noti.content or b"NOTI001" in noti.content
        # the end of the employment, by its period id
        out = post(clerk, "/employer/dimona", kind="out", employer=kbo, period=period.group(1), end=TOMORROW)
        assert out.status_code == 200
        assert "Aanvaard" in out.text
        # the clerk holds only the Dimona role
        assert clerk.get("/employer/dmfa").status_code == 403
    refused = [e for e in events(network) if e.outcome == "refused"]
    assert [(e.actor, e.action) for e in refused] == [(CLERK, "use_dmfa")]


def test_no_position_or_the_wrong_position_is_refused_clearly_and_logged(network: Network) -> None:
    app = network.portal()
    kbo = network.employer["kbo"]
    set_up_chain(app, kbo)
    with login(app, STRANGER) as stranger:
        answer = stranger.get("/employer/dimona")
        assert answer.status_code == 403
        assert "geen enkele onderneming" in answer.text
        # acting for an enterprise where one holds nothing
        acted = post(stranger, "/employer/enterprise", enterprise=kbo)
        assert acted.status_code == 403
        assert kbo in acted.text
        assert "gelogd" in acted.text
        assert post(stranger, "/employer/enterprise", enterprise="<b>x</b>").status_code == 400
    with login(app, CLERK) as clerk:
        refused = post(clerk, "/employer/access/roles", insz=STRANGER, role="dmfa")
        assert refused.status_code == 403
        assert "toegangsbeheerder" in refused.text
        assert post(clerk, "/employer/access/managers", insz=STRANGER, main="1").status_code == 403
    with login(app, MAIN) as main:
        refused = post(main, "/employer/access/managers", insz=STRANGER, main="1")
        assert refused.status_code == 403
        assert "wettelijke vertegenwoordiger" in refused.text
        assert post(main, "/employer/access/roles", insz="123", role="dmfa").status_code == 400
        assert (
            post(main, "/employer/access/roles", insz=CLERK, role="dmfa", start="2024-02-30").status_code
            == 400
        )
    logged = [(e.actor, e.action, e.outcome) for e in events(network) if e.outcome == "refused"]
    assert (STRANGER, "act_for", "refused") in logged
    assert (CLERK, "grant_role", "refused") in logged
    assert (MAIN, "appoint_main_manager", "refused") in logged


def test_a_secretariat_without_a_mandate_is_refused_then_declares_once_mandated(network: Network) -> None:
    app = network.portal()
    client_kbo, secretariat = network.employer["kbo"], network.secretariat["kbo"]
    set_up_chain(app, secretariat, clerk=SECRETARIAT_CLERK, legal=SECRETARIAT_REP)
    with login(app, SECRETARIAT_CLERK, 400) as clerk:
        refused = dimona_in(clerk, client_kbo)
        assert refused.status_code == 403
        assert "geen mandaat" in refused.text
        assert secretariat in refused.text
        assert client_kbo in refused.text
        assert network.employer["name"] not in refused.text  # nothing of the other enterprise is shown
        assert WORKER not in refused.text
    assert [(e.actor, e.action) for e in events(network) if e.outcome == "refused"] == [
        (SECRETARIAT_CLERK, "dimona")
    ]
    # the client's legal representative gives the mandate (Mahis)
    with login(app, LEGAL) as rep:
        given = post(
            rep,
            "/employer/access/mandates",
            declarant=secretariat,
            role="11",
            start=dt.date.today().isoformat(),
        )
        assert given.status_code == 200, given.text
        assert secretariat in given.text
        mandate = re.search(r'name="mandate" value="(\d+)"', given.text)
        assert mandate
    with login(app, SECRETARIAT_CLERK, 400) as clerk:
        accepted = dimona_in(clerk, client_kbo, insz=make_insz(dt.date(1991, 3, 3), 45))
        assert accepted.status_code == 200
        assert "Aanvaard" in accepted.text
    with login(app, LEGAL) as rep:
        ended = post(
            rep, "/employer/access/mandates/end", mandate=mandate.group(1), end=dt.date.today().isoformat()
        )
        assert ended.status_code == 200
        # a mandate for oneself is refused by the employers service, with its reason
        self_mandate = post(rep, "/employer/access/mandates", declarant=client_kbo, role="11", start=TOMORROW)
        assert self_mandate.status_code == 400


def test_a_dmfa_upload_shows_the_anomaly_report_and_a_bad_file_is_refused_whole(network: Network) -> None:
    app = network.portal()
    kbo = network.employer["kbo"]
    set_up_chain(app, kbo, role="dmfa")
    quarter = dmfa.last_closed_quarter(dt.date.today())
    buffer = io.BytesIO()
    dmfa_xml.write_sample(buffer, employer=network.employer, workers=[WORKER], quarter=quarter)
    with login(app, CLERK, 400) as clerk:
        token = csrf(clerk)
        answer = clerk.post(
            "/employer/dmfa",
            data={"csrf_token": token},
            files={"file": ("dmfa.xml", buffer.getvalue(), "application/xml")},
        )
        assert answer.status_code in (201, 400), answer.text
        assert "dmfa.xml" in answer.text
        assert re.search(r"\d{5}-\d{3}", answer.text), answer.text  # anomalies ZZZZZ-EEE (no Dimona period)
        assert "<table>" in answer.text
        assert "<caption>" in answer.text
        bad = clerk.post(
            "/employer/dmfa",
            data={"csrf_token": token},
            files={"file": ("bad.xml", b"<DmfAOriginal><oops>", "application/xml")},
        )
        assert bad.status_code == 400
        assert "geweigerd" in bad.text
        empty = clerk.post(
            "/employer/dmfa", data={"csrf_token": token}, files={"file": ("e.xml", b"", "text/xml")}
        )
        assert empty.status_code == 400
        no_token = clerk.post("/employer/dmfa", files={"file": ("dmfa.xml", b"<x/>", "application/xml")})
        assert no_token.status_code == 403


def test_a_drs_is_declared_with_only_the_risk_data(network: Network) -> None:
    app = network.portal()
    kbo = network.employer["kbo"]
    set_up_chain(app, kbo, role="drs")
    with login(app, CLERK, 400) as clerk:
        assert clerk.get("/employer/drs").status_code == 200
        answer = post(
            clerk,
            "/employer/drs",
            scenario="WECH001",
            employer=kbo,
            insz=WORKER,
            end_of_contract_date=(dt.date.today() - dt.timedelta(days=2)).isoformat(),
            reason="dismissal",
        )
        assert answer.status_code == 200, answer.text
        assert "WECH001" in answer.text
        assert re.search(r"\d{5}-\d{3}", answer.text)  # no Dimona period of this employer: an anomaly
        zima = post(
            clerk,
            "/employer/drs",
            scenario="ZIMA001",
            employer=kbo,
            insz=WORKER,
            incapacity_start=dt.date.today().isoformat(),
            last_day_worked=(dt.date.today() - dt.timedelta(days=1)).isoformat(),
            kind="sickness",
        )
        assert zima.status_code == 200
        bad = post(clerk, "/employer/drs", scenario="AOAT999", employer=kbo, insz=WORKER)
        assert bad.status_code == 400


def test_hostile_input_is_shown_escaped_and_bad_input_is_a_clear_400(network: Network) -> None:
    app = network.portal()
    kbo = network.employer["kbo"]
    set_up_chain(app, kbo)
    hostile = '"><script>alert(1)</script>'
    with login(app, CLERK, 400) as clerk:
        for fields in (
            {"insz": hostile},
            {"start_hour": hostile},
            {"start": hostile},
            {"employer": hostile},
            {"worker_type": hostile},
            {"planned_hours": "0"},
        ):
            answer = dimona_in(clerk, **{"employer": kbo, **fields})
            assert answer.status_code == 400, fields
            assert "<script>alert(1)</script>" not in answer.text
            assert 'role="alert"' in answer.text
        escaped = dimona_in(clerk, kbo, insz=hostile)
        assert "&lt;script&gt;" in escaped.text
        assert clerk.get("/employer/notifications/" + "x" * 80).status_code in (400, 404)
        assert clerk.get("/employer/notifications/not-a-ticket").status_code == 404
        assert clerk.get("/employer/notifications?ticket=%3Cscript%3E").status_code == 400
        assert clerk.post("/employer/dimona", data={"kind": "in"}).status_code == 403  # no CSRF token


def test_the_pages_speak_three_languages(network: Network) -> None:
    app = network.portal()
    with login(app, LEGAL) as rep:
        assert "Toegangsbeheer" in rep.get("/employer/access?lang=nl").text
        assert "Gestion des accès" in rep.get("/employer/access?lang=fr").text
        english = rep.get("/employer/access?lang=en").text
        assert "Access management" in english
        assert "main access manager" in english


def test_a_person_in_two_enterprises_chooses_which_one_to_act_for(network: Network) -> None:
    app = network.portal()
    kbo, other = network.employer["kbo"], network.secretariat["kbo"]
    set_up_chain(app, kbo)
    with login(app, SECRETARIAT_REP) as rep:
        post(rep, "/employer/access/managers", insz=CLERK, main="1")
    with login(app, CLERK) as clerk:
        chooser = clerk.get("/employer/dimona", follow_redirects=False)
        assert chooser.status_code == 303
        assert chooser.headers["location"].startswith("/employer/enterprise")
        listed = clerk.get(chooser.headers["location"])
        assert kbo in listed.text
        assert other in listed.text
        chosen = post(clerk, "/employer/enterprise", enterprise=other, next="/employer/access")
        assert chosen.status_code == 200
        assert f"onderneming {other}" in chosen.text
        assert clerk.get("/employer/dimona").status_code == 403  # no Dimona role in the other one
        post(clerk, "/employer/enterprise", enterprise=kbo)
        assert clerk.get("/employer/dimona").status_code == 200


# ---------------------------------------------------------------------------------------- in a browser


def _accessible(tab: Any) -> None:
    problems = accessibility_violations(tab)
    assert problems == [], f"{tab.url}: {problems}"


def test_in_a_browser_an_access_manager_grants_a_role_and_the_employer_sees_its_dimona_accepted(
    network: Network,
    page: Any,  # noqa: F811
) -> None:
    app = network.portal()
    kbo = network.employer["kbo"]
    with serving(app) as portal:
        # the legal representative appoints the main access manager
        page.goto(f"{portal}/login/start?level=450&subject={LEGAL}&next=/employer/access")
        _accessible(page)
        page.fill("#main-insz", MAIN)
        page.locator("form:has(#main-insz) button[type=submit]").click()
        page.wait_for_url("**/employer/access?done=manager")
        assert page.locator("[role=status]").count() == 1
        _accessible(page)
        page.locator("form[action='/logout'] button").click()
        page.wait_for_url(f"{portal}/")
        # the main access manager grants the Dimona role to a clerk
        page.goto(f"{portal}/login/start?level=450&subject={MAIN}&next=/employer/access")
        page.fill("#role-insz", CLERK)
        page.select_option("#role-role", "dimona")
        page.locator("form:has(#role-insz) button[type=submit]").click()
        page.wait_for_url("**/employer/access?done=role")
        table = page.locator("main table").nth(1).inner_text()
        assert CLERK in table
        assert "Dimona" in table
        _accessible(page)
        page.locator("form[action='/logout'] button").click()
        page.wait_for_url(f"{portal}/")
        # the clerk declares a Dimona and sees it accepted
        page.goto(f"{portal}/login/start?level=400&subject={CLERK}&next=/employer/dimona")
        _accessible(page)
        assert page.locator("#in-employer").input_value() == kbo
        page.fill("#in-insz", make_insz(dt.date(1988, 8, 8), 57))
        page.select_option("#in-type", "OTH")
        page.fill("#in-start", TOMORROW)
        page.locator("form:has(#in-insz) button[type=submit]").click()
        status = page.locator("[role=status]").inner_text()
        assert "Aanvaard" in status
        assert re.fullmatch(r"\d{12}", page.locator("#period-id").inner_text())
        _accessible(page)
        page.goto(f"{portal}/employer/notifications")
        _accessible(page)
        page.goto(f"{portal}/employer/dmfa")
        assert "Geen toegang" in page.locator("h1").inner_text()


def test_in_a_browser_hostile_form_content_is_shown_escaped(network: Network, page: Any) -> None:  # noqa: F811
    app = network.portal()
    kbo = network.employer["kbo"]
    set_up_chain(app, kbo)
    with serving(app) as portal:
        page.goto(f"{portal}/login/start?level=400&subject={CLERK}&next=/employer/dimona")
        dialogs: list[str] = []

        def dialog(d: Any) -> None:
            dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.fill("#in-insz", "<img src=x onerror=alert(1)><script>alert(2)</script>")
        page.fill("#in-start", TOMORROW)
        page.locator("form:has(#in-insz) button[type=submit]").click()
        page.locator("[role=alert]").wait_for()
        assert page.locator("[role=alert]").count() == 1
        assert page.locator("main script, main img").count() == 0
        assert page.locator("#in-insz").input_value().startswith("<img")
        assert dialogs == []
        _accessible(page)


def test_in_a_browser_the_chooser_the_dmfa_report_and_the_drs_pass_axe(
    network: Network,
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    app = network.portal()
    kbo, other = network.employer["kbo"], network.secretariat["kbo"]
    set_up_chain(app, kbo, role="dmfa")
    with login(app, MANAGER) as manager:
        post(manager, "/employer/enterprise", enterprise=kbo)
        post(manager, "/employer/access/roles", insz=CLERK, role="drs")
    with login(app, SECRETARIAT_REP) as rep:
        post(rep, "/employer/access/managers", insz=CLERK, main="1")
    sample = tmp_path / "dmfa.xml"
    with sample.open("wb") as fh:
        dmfa_xml.write_sample(
            fh, employer=network.employer, workers=[WORKER], quarter=dmfa.last_closed_quarter(dt.date.today())
        )
    with serving(app) as portal:
        page.goto(f"{portal}/login/start?level=400&subject={CLERK}&next=/employer/dmfa")
        assert "/employer/enterprise" in page.url  # two enterprises: the clerk chooses first
        _accessible(page)
        page.check(f"#enterprise-{kbo}")
        page.locator("main form button[type=submit]").click()
        page.wait_for_url("**/employer/dmfa")
        _accessible(page)
        page.set_input_files("#dmfa-file", str(sample))
        page.locator("form:has(#dmfa-file) button[type=submit]").click()
        page.locator("main dl").wait_for()
        assert "dmfa.xml" in page.locator("main").inner_text()
        assert page.locator("main table caption").count() >= 1
        _accessible(page)
        page.goto(f"{portal}/employer/drs")
        _accessible(page)
        page.fill("#z-insz", WORKER)
        page.fill("#z-start", dt.date.today().isoformat())
        page.fill("#z-last", (dt.date.today() - dt.timedelta(days=1)).isoformat())
        page.locator("form:has(#z-insz) button[type=submit]").click()
        page.locator("[role=status]").wait_for()
        assert "ZIMA001" in page.locator("main").inner_text()
        _accessible(page)
        page.goto(f"{portal}/employer/enterprise")
        page.check(f"#enterprise-{other}")
        page.locator("main form button[type=submit]").click()
        page.wait_for_url("**/employer")
        page.goto(f"{portal}/employer/drs")  # the clerk holds no role in the other enterprise
        refusal = page.locator("main").inner_text()
        assert other in refusal
        assert "Geen toegang" in page.locator("h1").inner_text()
        _accessible(page)


def test_garbage_bodies_and_an_unreachable_service_give_clear_pages(network: Network) -> None:
    app = network.portal()
    kbo = network.employer["kbo"]
    set_up_chain(app, kbo, role="dmfa")
    with login(app, CLERK, 400) as clerk:
        token = csrf(clerk)
        for content_type, body in (
            ("multipart/form-data; boundary=zz", b"--zz\r\nnot a part\r\n--zz--"),
            ("multipart/form-data", b"\x00\xff" * 100),
            ("application/json", b'{"file": "x"}'),
        ):
            answer = clerk.post(
                "/employer/dmfa", content=body, headers={"content-type": content_type, "x-csrf-token": token}
            )
            assert answer.status_code == 400, (content_type, answer.text)
    down = Network("http://127.0.0.1:9", network.employer, network.secretariat, network.tmp).portal()
    with login(down, CLERK, 400) as clerk:
        answer = clerk.post(
            "/employer/dmfa",
            data={"csrf_token": csrf(clerk)},
            files={"file": ("dmfa.xml", b"<x/>", "application/xml")},
        )
        assert answer.status_code == 503
        assert "<main" in answer.text
