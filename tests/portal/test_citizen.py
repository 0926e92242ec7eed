"""The citizen area over real HTTP: the portal asks the real rights service, the hub's real directory and
log routes and the real employers service, each served by uvicorn on a local port.

What is checked: every page shows the session's own data only (no INSZ parameter anywhere), in NL, FR and
EN, well formed and without script; a session whose subject is no INSZ gets a 403; too low a level goes to
the upgrade step; a service that is down gives the 503 page; bad input a 4xx, never a 500. The attestations
themselves (issued by the sources, through the hub under deliberation 24/020) are exercised on the running
network in ``tests/hub/test_portal_citizen_e2e.py``.
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import insert
from starlette.responses import Response

from kruispunt.attest.keys import KeySet
from kruispunt.attest.service import verify
from kruispunt.audit.api import make_router as make_audit_router
from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import REPO_ROOT
from kruispunt.core.web import create_service_app
from kruispunt.employers import service as employers_service
from kruispunt.employers.api import create_employers_app
from kruispunt.employers.models import dimona_period_table
from kruispunt.hub import catalogue_api, rest
from kruispunt.hub.forwarding import Forwarder
from kruispunt.hub.service import Hub
from kruispunt.network import directory
from kruispunt.network.api import make_router as make_network_router
from kruispunt.network.catalogue import Catalogue
from kruispunt.network.deliberations import load_deliberations
from kruispunt.network.registry import Registry
from kruispunt.network.schemas import ProofRequest, ProofResult
from kruispunt.portal.areas import AreaContext
from kruispunt.portal.catalogue import LANGUAGES
from kruispunt.portal.citizen import create_router, signed_subject
from kruispunt.portal.web import DevelopmentLoginStub, create_app
from kruispunt.rights.api import create_rights_app
from kruispunt.sources.social.definitions import definition
from kruispunt.sources.social.seed import seed_social
from tests.browser import accessibility_violations, browser, page, serving  # noqa: F401
from tests.employers.test_dmfa import dimona_rows, employer_rows
from tests.portal.test_web import check_page
from tests.rights.conftest import ADULT, NEIGHBOUR, PARTNER
from tests.rights.test_service import _open_leefloon, _seed_household
from tests.sources.social.data import P1, ROWS, WANTED
from tests.sources.social.helpers import source_app
from tests.trust.shared_ca import ksz, ksz_callers

OCMW_GENT = "0212140186"
RVA = "0206737484"
PAGES = (
    "/citizen/my-file",
    "/citizen/who-consulted",
    "/citizen/my-rights",
    "/citizen/attestations",
    "/citizen/career",
)
LEVELS = {
    "/citizen/my-file": 450,
    "/citizen/who-consulted": 450,
    "/citizen/my-rights": 400,
    "/citizen/attestations": 400,
    "/citizen/career": 450,
}


async def always_matches(_: ProofRequest) -> ProofResult:
    return ProofResult(match=True)


def hub_app(tmp: Path) -> Any:
    """The hub's real directory and log routers on their own databases (no pipeline, no sources)."""
    hub_url, audit_url = component_url(None, tmp, "hub"), component_url(None, tmp, "audit")
    upgrade(hub_url, "hub")
    upgrade(audit_url, "audit")
    hub_engine, audit_engine = make_engine(hub_url), make_engine(audit_url)
    registry = Registry.load_default()
    app = create_service_app(title="hub", description="directory and log", max_body_bytes=65_536)
    app.include_router(
        make_network_router(
            engine=hub_engine,
            registry_provider=lambda: registry,
            verify_proof=always_matches,
            person_file_readers=ksz_callers("a person's whole file"),
        )
    )
    app.include_router(
        make_audit_router(
            audit_engine,
            readers=ksz_callers("who consulted a person's data"),
            institution_name=lambda kbo: i.name if (i := registry.institution(kbo)) else None,
        )
    )
    with AuditWriter(audit_engine, chain=0) as writer:  # an OCMW consulted ADULT's family composition
        writer.append_sync(
            AuditRecord(
                ticket=str(uuid.uuid4()),
                time=dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
                channel="rest",
                outcome="DATA_FOUND",
                message_type="family_composition",
                version="1",
                requester=OCMW_GENT,
                requester_sector=17,
                requester_type=1,
                destinations=("0362475538",),
                person=ADULT,
                capacity=2,
                deliberation="24/001",
                legal_context="PCSA:SOCIAL_INQUIRY",
            ),
            timeout=10,
        )
    return app


def employers_app(tmp: Path, workers: list[str]) -> tuple[Any, list[dict[str, Any]]]:
    app = create_employers_app(
        url=component_url(None, tmp, "employers"),
        log_url=None,
        hub_url=None,
        rsz_url=None,
        deliver=False,
        career_callers=ksz_callers("the career route"),
    )
    rows = employer_rows(2)
    with app.state.ctx.engine.begin() as conn:
        employers_service.add_employers(conn, rows)
        conn.execute(insert(dimona_period_table), dimona_rows(rows[0]["kbo"], workers))
        conn.execute(
            insert(dimona_period_table),
            dimona_rows(rows[1]["kbo"], workers[1:], first=50, worker_type="STU", start=dt.date(2023, 7, 1)),
        )
    return app, rows


def rights_app(tmp: Path) -> Any:
    url = component_url(None, tmp, "rights")
    app = create_rights_app(url=url, mutations_url=None, hub_url=None, consume=False)
    engine = make_engine(url)
    _seed_household(engine)
    _open_leefloon(engine)
    engine.dispose()
    return app


@dataclass
class Backends:
    urls: dict[str, str]
    employers: list[dict[str, Any]]


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    tmp = tmp_path_factory.mktemp("citizen")
    employers, rows = employers_app(tmp, [ADULT, PARTNER])
    with serving(hub_app(tmp)) as hub, serving(rights_app(tmp)) as rights, serving(employers) as emp:
        for insz, institution, capacity in ((ADULT, OCMW_GENT, 2), (ADULT, RVA, 1), (NEIGHBOUR, RVA, 1)):
            answer = httpx.post(
                f"{hub}/directory/register",
                json={
                    "institution": institution,
                    "insz": insz,
                    "capacity": capacity,
                    "period": {"start": "2024-01-01"},
                    "proof": {"person_data": {"last_name": "X", "birth_date": "1985-03-14"}},
                },
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
        yield Backends({"hub": hub, "rights": rights, "employers": emp}, rows)


_OPEN: list[TestClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().__exit__(None, None, None)


def portal(urls: dict[str, str]) -> TestClient:
    """The portal with the citizen router, entered (one event loop for the client's life: the portal's
    backend client keeps its connections between requests)."""
    ctx = AreaContext(service_urls=urls, data_dir=Path("."))
    app = create_app(
        service_urls=urls, idp=DevelopmentLoginStub(), routers=[create_router(ctx)], signer=ksz()
    )
    client = TestClient(app, raise_server_exceptions=False).__enter__()
    _OPEN.append(client)
    return client


def logged_in(urls: dict[str, str], subject: str, level: int = 450) -> TestClient:
    client = portal(urls)
    answer = client.get("/login/start", params={"level": level, "subject": subject, "next": "/"})
    assert answer.status_code == 200, answer.text
    return client


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# ------------------------------------------------------------------------------------ who may see what


@pytest.mark.parametrize("path", [*PAGES, "/citizen/attestations/5f0c1c8e-8d7a-4a53-9f55-1b0d5e0e6c11.jwt"])
def test_a_session_without_an_insz_gets_a_clear_403(backends: Backends, path: str) -> None:
    client = logged_in(backends.urls, "admin-user", level=500)
    answer = client.get(path, params={"lang": "en"})
    assert answer.status_code == 403
    assert "no national number" in answer.text
    check_page(answer.text, "en")


def test_asking_for_fresh_attestations_without_an_insz_is_refused(backends: Backends) -> None:
    client = logged_in(backends.urls, "admin-user", level=500)
    token = client.get("/").text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/citizen/attestations", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_each_page_sends_a_lower_session_to_the_upgrade_step(backends: Backends, path: str) -> None:
    client = logged_in(backends.urls, ADULT, level=200)
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert f"upgrade={LEVELS[path]}" in answer.headers["location"]
    client.get("/login/start", params={"level": LEVELS[path], "subject": ADULT})
    let_in = client.get(path, follow_redirects=False).status_code
    assert let_in == (502 if path == "/citizen/attestations" else 200)  # this hub has no /hub/messages


def test_no_page_takes_an_insz_from_the_request(backends: Backends) -> None:
    client = logged_in(backends.urls, PARTNER)
    for path in ("/citizen/my-file", "/citizen/my-rights", "/citizen/career"):
        answer = client.get(path, params={"insz": ADULT, "ssin": ADULT, "lang": "en"})
        assert answer.status_code == 200
        main = answer.text.split("<main", 1)[1].split("</main>", 1)[0]  # the header echoes the query
        assert ADULT not in main, path  # ADULT's file and statuses are not PARTNER's


@pytest.mark.parametrize("path", PAGES)
def test_a_service_that_is_down_gives_the_503_page(path: str) -> None:
    down = closed_port()
    for urls in ({"hub": down, "rights": down, "employers": down}, {}):
        client = logged_in(urls, ADULT)
        answer = client.get(path, params={"lang": "en"})
        assert answer.status_code == 503, (path, urls)
        check_page(answer.text, "en")


def test_a_fresh_attestation_request_with_the_hub_down_is_the_503_page() -> None:
    client = logged_in({"hub": closed_port()}, ADULT)
    token = client.get("/").text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/citizen/attestations", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 503


def test_a_post_without_the_csrf_token_is_refused(backends: Backends) -> None:
    client = logged_in(backends.urls, ADULT)
    assert client.post("/citizen/attestations", follow_redirects=False).status_code == 403


@pytest.mark.parametrize("bad", ["not-a-uuid", "5f0c1c8e-8d7a-4a53-9f55-1b0d5e0e6c1", "..%2F..%2Fetc"])
def test_a_malformed_attestation_number_is_a_400(backends: Backends, bad: str) -> None:
    client = logged_in(backends.urls, ADULT)
    answer = client.get(f"/citizen/attestations/{bad}.jwt", params={"lang": "en"})
    assert answer.status_code in (400, 404)
    assert answer.status_code != 500


def test_a_hub_that_does_not_serve_the_consultation_is_a_502_not_a_500(backends: Backends) -> None:
    client = logged_in(backends.urls, ADULT)  # this hub has the directory and the log, not /hub/messages
    answer = client.get("/citizen/attestations", params={"lang": "en"})
    assert answer.status_code == 502
    assert "could not fetch your attestations" in answer.text


# ------------------------------------------------------------------------------------------ the pages


@pytest.mark.parametrize("lang", LANGUAGES)
def test_my_file_lists_the_institutions_with_capacity_and_period(backends: Backends, lang: str) -> None:
    client = logged_in(backends.urls, ADULT)
    answer = client.get("/citizen/my-file", params={"lang": lang})
    assert answer.status_code == 200, answer.text
    check_page(answer.text, lang)
    registry = Registry.load_default()
    for kbo, capacity in ((OCMW_GENT, 2), (RVA, 1)):
        inst = registry.institution(kbo)
        assert inst is not None
        assert inst.name.replace("'", "&#39;") in answer.text
        label = registry.capacity(inst.sector, capacity)
        assert label is not None
        wanted = label.label_fr if lang == "fr" else label.label_nl
        assert wanted.replace("'", "&#39;") in answer.text
    assert "2024-01-01" in answer.text
    assert {"nl": "Inschrijvingen", "fr": "Inscriptions", "en": "Entries"}[lang] in answer.text
    assert "<caption>" in answer.text
    assert 'scope="row"' in answer.text


def test_my_file_of_a_person_nobody_registered_says_so(backends: Backends) -> None:
    answer = logged_in(backends.urls, PARTNER).get("/citizen/my-file", params={"lang": "en"})
    assert answer.status_code == 200
    assert "No institution has registered you" in answer.text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_who_consulted_is_translated(backends: Backends, lang: str) -> None:
    answer = logged_in(backends.urls, PARTNER).get("/citizen/who-consulted", params={"lang": lang})
    assert answer.status_code == 200
    check_page(answer.text, lang)
    expected = {
        "nl": "Niemand heeft uw gegevens geraadpleegd",
        "fr": "Personne n&#39;a consulté vos données",
        "en": "Nobody consulted your data",
    }[lang]
    assert expected in answer.text
    title = {
        "nl": "Wie heeft mijn gegevens",
        "fr": "Qui a consulté mes données",
        "en": "Who consulted my data",
    }
    assert f"<h1>{title[lang]}" in answer.text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_who_consulted_lists_the_persons_own_consultations(backends: Backends, lang: str) -> None:
    answer = logged_in(backends.urls, ADULT).get("/citizen/who-consulted", params={"lang": lang})
    assert answer.status_code == 200, answer.text
    check_page(answer.text, lang)
    row = answer.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "OCMW" in row
    assert "family_composition" in row
    assert "24/001" in row
    assert "T" not in row.split("<td>")[1][:19]  # the time as "YYYY-MM-DD HH:MM:SS"
    caption = {"nl": "Raadplegingen van uw gegevens (1)", "fr": "Consultations de vos données (1)"}
    assert caption.get(lang, "Consultations of your data (1)") in answer.text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_my_rights_shows_statuses_rights_and_why(backends: Backends, lang: str) -> None:
    answer = logged_in(backends.urls, ADULT).get("/citizen/my-rights", params={"lang": lang})
    assert answer.status_code == 200, answer.text
    check_page(answer.text, lang)
    assert "2026-10-01" in answer.text  # the social energy tariff from the quarter's start
    because = {"nl": "uzelf", "fr": "vous-même", "en": "you at"}[lang]
    assert because in answer.text
    assert "<ul><li>" in answer.text


def test_a_right_through_the_household_does_not_name_the_member(backends: Backends) -> None:
    answer = logged_in(backends.urls, PARTNER).get("/citizen/my-rights", params={"lang": "en"})
    assert answer.status_code == 200
    assert "a member of your household" in answer.text
    assert ADULT not in answer.text
    assert "No social status of yours is known" in answer.text  # the status is ADULT's, not PARTNER's


@pytest.mark.parametrize("lang", LANGUAGES)
def test_career_lists_the_employments_most_recent_first(backends: Backends, lang: str) -> None:
    answer = logged_in(backends.urls, PARTNER).get("/citizen/career", params={"lang": lang})
    assert answer.status_code == 200, answer.text
    check_page(answer.text, lang)
    first, second = backends.employers
    html = answer.text.replace("&#39;", "'")
    assert first["name"] in html
    assert second["name"] in html
    assert html.index(second["name"]) < html.index(first["name"])  # 2023 before 2020
    assert "STU" in html
    assert "2023-07-01" in html
    none = {"nl": "geen kwartaalaangifte", "fr": "Aucune déclaration trimestrielle", "en": "No quarterly"}
    assert none[lang] in html


def test_career_of_the_other_person_shows_only_their_employment(backends: Backends) -> None:
    html = logged_in(backends.urls, ADULT).get("/citizen/career", params={"lang": "en"}).text
    first, second = backends.employers
    assert first["name"].replace("'", "&#39;") in html
    assert second["name"].replace("'", "&#39;") not in html


# ------------------------------------------------------------------------------------------ in a browser


def test_the_pages_pass_axe_in_a_browser(backends: Backends, page: Any) -> None:  # noqa: F811
    ctx = AreaContext(service_urls=backends.urls, data_dir=Path("."))
    app = create_app(
        service_urls=backends.urls, idp=DevelopmentLoginStub(), routers=[create_router(ctx)], signer=ksz()
    )
    with serving(app) as url:
        page.goto(f"{url}/login/start?level=450&subject={ADULT}&next=/citizen/my-file")
        page.wait_for_url(f"{url}/citizen/my-file")
        for path in ("/citizen/my-file", "/citizen/my-rights", "/citizen/career", "/citizen/who-consulted"):
            for lang in LANGUAGES:
                page.goto(f"{url}{path}?lang={lang}")
                assert page.locator("main h1").count() == 1
                problems = accessibility_violations(page)
                assert problems == [], f"{path} {lang}: {problems}"


# ----------------------------------------------- attestations: portal → hub pipeline → RVA source, all real


class MemoryLog:
    """The hub's log, kept in memory: what the pipeline wrote (the log itself is tested in tests/audit)."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> int:
        self.records.append(record)
        return len(self.records)


@dataclass
class AttestingNetwork:
    urls: dict[str, str]
    log: MemoryLog


@pytest.fixture(scope="module")
def attesting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttestingNetwork]:
    """The real RVA source (hand-made files: P1 is temporarily unemployed) behind the real hub pipeline, its
    REST channel, its key route and its directory; P1 is in the directory at the RVA."""
    tmp = tmp_path_factory.mktemp("attesting")
    keys = tmp / "keys"
    rva_db = component_url(None, tmp, definition("rva").component())
    seed_social(urls={("rva", None): rva_db}, batches=[ROWS], wanted=WANTED)
    hub_db = component_url(None, tmp, "hub")
    upgrade(hub_db, "hub")
    engine = make_engine(hub_db)
    log = MemoryLog()
    with serving(source_app("rva", rva_db, keys)) as rva_url:
        registry = Registry.load_default().with_endpoints({"rva": rva_url})
        with engine.begin() as conn:
            directory.seed_registry(conn, registry)
        directory.bulk_load(engine, [(P1, RVA, 18, 0, 1, None, dt.date(2025, 1, 1), None, "PRIMARY")])
        catalogue = Catalogue.load_default()
        forwarder = Forwarder(timeout_s=10)
        hub = Hub(
            registry=registry,
            catalogue=catalogue,
            deliberations=load_deliberations(
                REPO_ROOT / "deliberations", registry=registry, catalogue=catalogue
            ),
            directory_engine=engine,
            audit=log,  # type: ignore[arg-type]
            forwarder=forwarder,
        )

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await forwarder.start()
            yield
            await forwarder.close()

        app = create_service_app(
            title="hub", description="pipeline", max_body_bytes=1 << 20, lifespan=lifespan
        )

        @app.post("/hub/messages")
        async def messages(request: Request) -> Response:
            return await rest.handle_consultation(request, hub, 1 << 20)

        app.include_router(catalogue_api.make_router(lambda: hub, keys_dir=keys))
        app.include_router(
            make_network_router(
                engine=engine, registry_provider=lambda: registry, verify_proof=always_matches
            )
        )
        with serving(app) as hub_url:
            yield AttestingNetwork({"hub": hub_url}, log)
        hub.close()
    engine.dispose()


def _csrf(client: TestClient) -> str:
    html: str = client.get("/").text
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def test_attestations_are_issued_listed_verified_and_downloaded(attesting: AttestingNetwork) -> None:
    client = logged_in(attesting.urls, P1, level=400)
    first = client.get("/citizen/attestations", params={"lang": "en"})
    assert first.status_code == 200, first.text
    check_page(first.text, "en")

    asked = client.post("/citizen/attestations", data={"csrf_token": _csrf(client)}, follow_redirects=False)
    assert asked.status_code == 303, asked.text
    assert asked.headers["location"] == "/citizen/attestations?issued=1"

    for lang, kind, check in (
        ("en", "Unemployment", "signature valid"),
        ("nl", "Werkloosheid", "handtekening geldig"),
        ("fr", "Chômage", "signature valide"),
    ):
        page_ = client.get("/citizen/attestations", params={"lang": lang, "issued": "1"})
        assert page_.status_code == 200, page_.text
        check_page(page_.text, lang)
        assert kind in page_.text
        assert check in page_.text
        assert "Rijksdienst voor Arbeidsvoorziening" in page_.text
    html = client.get("/citizen/attestations", params={"lang": "en"}).text
    assert "NOT valid" not in html
    link = html.split('href="/citizen/attestations/')[1].split('"')[0]
    downloaded = client.get(f"/citizen/attestations/{link}")
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"].startswith("application/jwt")
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    keys = KeySet.from_jwks(httpx.get(f"{attesting.urls['hub']}/hub/keys", timeout=10).json())
    verified = verify(downloaded.text, keys)
    assert verified.attestation.subject == P1
    assert verified.attestation.type == "unemployment"

    # every consultation went through the pipeline as the KSZ under deliberation 24/020, and was logged
    mine = [r for r in attesting.log.records if r.person == P1]
    assert mine
    assert {r.requester for r in mine} == {"0244640631"}
    assert {r.deliberation for r in mine if r.outcome != "REFUSED"} == {"24/020"}
    assert "list_of_attestations" in {r.message_type for r in mine}


def test_another_persons_attestation_cannot_be_downloaded(attesting: AttestingNetwork) -> None:
    owner = logged_in(attesting.urls, P1, level=400)
    owner.post("/citizen/attestations", data={"csrf_token": _csrf(owner)}, follow_redirects=False)
    html = owner.get("/citizen/attestations", params={"lang": "en"}).text
    link = html.split('href="/citizen/attestations/')[1].split('"')[0]
    other = logged_in(attesting.urls, PARTNER, level=400)
    answer = other.get(f"/citizen/attestations/{link}", params={"lang": "en"})
    assert answer.status_code == 404
    assert "You have no attestation with this number" in answer.text
    assert (
        "."
        not in answer.text.split("<main", 1)[1].split("</main>")[0].replace(".jwt", "").split("eyJ")[0][-1:]
    )


def test_a_person_the_sources_do_not_know_has_no_attestations(attesting: AttestingNetwork) -> None:
    client = logged_in(attesting.urls, NEIGHBOUR, level=400)
    answer = client.get("/citizen/attestations", params={"lang": "en"})
    assert answer.status_code == 200
    assert "No attestation about you has been issued yet" in answer.text
    asked = client.post("/citizen/attestations", data={"csrf_token": _csrf(client)}, follow_redirects=False)
    assert asked.headers["location"] == "/citizen/attestations?issued=0"


def test_a_token_is_only_ever_shown_for_the_subject_it_names(attesting: AttestingNetwork) -> None:
    client = logged_in(attesting.urls, P1, level=400)
    client.post("/citizen/attestations", data={"csrf_token": _csrf(client)}, follow_redirects=False)
    link = client.get("/citizen/attestations").text.split('href="/citizen/attestations/')[1].split('"')[0]
    token = client.get(f"/citizen/attestations/{link}").text
    assert signed_subject(token) == P1
    for garbage in ("", "a.b", "a.!!!.c", "e30.e30.e30", token.replace(".", "", 1)):
        assert signed_subject(garbage) is None
