"""The portal over HTTP: page structure and accessibility, search, languages, levels, sessions, CSRF."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from starlette.responses import HTMLResponse, Response

from kruispunt.portal.catalogue import LANGUAGES, LEVELS, load_catalogue
from kruispunt.portal.sessions import COOKIE_NAME, Session, SessionStore
from kruispunt.portal.web import (
    DevelopmentLoginStub,
    LoginFailed,
    LoginResult,
    StatusBoard,
    create_app,
    require_level,
    safe_next,
)

CATALOGUE = load_catalogue()
CITIZEN = "85073003328"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class PageShape(HTMLParser):
    """Collects what the accessibility basics need: lang, landmarks, headings, inputs and labels."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.mains = 0
        self.h1 = 0
        self.inputs: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.scripts = 0
        self.skip_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "main":
            self.mains += 1
        elif tag == "h1":
            self.h1 += 1
        elif tag in ("input", "select", "textarea"):
            self.inputs.append(a)
        elif tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        elif tag == "script":
            self.scripts += 1
        elif tag == "a" and a.get("href") == "#main":
            self.skip_link = True

    def unlabelled(self) -> list[dict[str, str | None]]:
        return [
            i
            for i in self.inputs
            if i.get("type") not in ("hidden", "submit", "button")
            and i.get("id") not in self.label_for
            and not i.get("aria-label")
        ]


def check_page(html: str, lang: str) -> PageShape:
    shape = PageShape()
    shape.feed(html)
    assert shape.lang == lang
    assert shape.mains == 1
    assert shape.h1 == 1
    assert shape.skip_link
    assert shape.scripts == 0
    assert shape.unlabelled() == []
    return shape


def make_client(
    *,
    clock: FakeClock | None = None,
    transport: httpx.MockTransport | None = None,
    service_urls: dict[str, str] | None = None,
    login: bool = True,
    base_url: str = "http://testserver",
    **kwargs: object,
) -> TestClient:
    store = SessionStore(clock=clock) if clock else SessionStore()
    http = httpx.AsyncClient(transport=transport) if transport else None
    app = create_app(
        service_urls=service_urls or {},
        idp=DevelopmentLoginStub() if login else None,
        sessions=store,
        http_client=http,
        **kwargs,  # type: ignore[arg-type]
    )
    return TestClient(app, base_url=base_url)


def log_in(client: TestClient, level: int, subject: str = CITIZEN, next_path: str = "/") -> httpx.Response:
    answer: httpx.Response = client.get(
        "/login/start", params={"level": level, "next": next_path, "subject": subject}
    )
    return answer


def csrf_of(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert match, "a logged-in page carries the logout form with its token"
    return match.group(1)


@pytest.fixture
def client() -> TestClient:
    return make_client()


# ------------------------------------------------------------------------------------------ structure


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_catalogue_service_page_is_reachable_and_well_formed(client: TestClient, lang: str) -> None:
    for service in CATALOGUE.services:
        answer = client.get(f"/services/{service.id}", params={"lang": lang})
        assert answer.status_code == 200, service.id
        check_page(answer.text, lang)
        assert service.title[lang] in answer.text.replace("&#39;", "'")
        assert service.purpose[lang] in answer.text.replace("&#39;", "'")
        for use in service.data:
            assert use.source in answer.text
        assert f'href="{service.path}"' in answer.text


@pytest.mark.parametrize("path", ["/", "/citizen", "/employer", "/researcher", "/operator", "/login"])
def test_the_other_pages_are_well_formed_in_every_language(client: TestClient, path: str) -> None:
    for lang in LANGUAGES:
        answer = client.get(path, params={"lang": lang})
        assert answer.status_code == 200
        check_page(answer.text, lang)


def test_the_home_page_lists_the_whole_catalogue_with_levels(client: TestClient) -> None:
    page = client.get("/?lang=en").text
    for service in CATALOGUE.services:
        assert f'href="/services/{service.id}"' in page
    assert "450 – itsme" in page
    assert "Public – no login" in page


def test_an_area_lists_only_its_audience(client: TestClient) -> None:
    page = client.get("/employer").text
    assert 'href="/services/dimona"' in page
    assert 'href="/services/who-consulted"' not in page


def test_public_services_open_without_login_and_link_to_their_application() -> None:
    client = make_client(service_urls={"warehouse": "http://warehouse.test"})
    answer = client.get("/statistics/global", follow_redirects=False)
    assert answer.status_code == 200
    assert 'href="http://warehouse.test/apps/global"' in answer.text


def test_every_public_catalogue_page_opens_without_login(client: TestClient) -> None:
    public = [s for s in CATALOGUE.services if s.public]
    assert public
    for service in public:
        answer = client.get(service.path, params={"lang": "en"}, follow_redirects=False)
        assert answer.status_code == 200, service.id
        check_page(answer.text, "en")


def test_an_unexpected_error_is_a_plain_500_page_without_trace() -> None:
    router = APIRouter()

    @router.get("/broken")
    async def broken() -> Response:
        raise RuntimeError("secret internal detail")

    app = create_app(service_urls={}, routers=[router])
    answer = TestClient(app, raise_server_exceptions=False).get("/broken?lang=en")
    assert answer.status_code == 500
    assert "secret internal detail" not in answer.text
    assert "Something went wrong" in answer.text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_security_headers_on_pages_errors_and_redirects(client: TestClient) -> None:
    for answer in (
        client.get("/"),
        client.get("/services/nope"),
        client.get("/citizen/my-file", follow_redirects=False),
    ):
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src" not in csp
        assert "default-src 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"


def test_unknown_service_is_a_404_page_in_the_users_language(client: TestClient) -> None:
    answer = client.get("/services/does-not-exist", headers={"accept-language": "fr"})
    assert answer.status_code == 404
    check_page(answer.text, "fr")
    assert "Page introuvable" in answer.text
    other = client.get("/no/such/page?lang=en")
    assert other.status_code == 404
    assert "Page not found" in other.text


# --------------------------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("lang", "word", "expected", "absent"),
    [
        ("nl", "loopbaan", "my-career", "dimona"),
        ("fr", "carrière", "my-career", "dimona"),
        ("en", "career", "my-career", "dimona"),
        ("nl", "aangifte", "drs", "who-consulted"),
        ("fr", "déclaration", "dmfa", "who-consulted"),
        ("en", "declaration", "dimona", "my-file"),
    ],
)
def test_search_finds_services_by_a_word_in_each_language(
    client: TestClient, lang: str, word: str, expected: str, absent: str
) -> None:
    page = client.get("/", params={"q": word, "lang": lang}).text
    check_page(page, lang)
    assert f'href="/services/{expected}"' in page
    assert f'href="/services/{absent}"' not in page
    listed = set(re.findall(r'href="/services/([a-z-]+)"', page))
    assert listed == {s.id for s in CATALOGUE.search(word, lang)}


def test_search_without_match_says_so(client: TestClient) -> None:
    page = client.get("/", params={"q": "xyzzy", "lang": "en"}).text
    assert "No service matches your search." in page


def test_hostile_search_input_is_escaped(client: TestClient) -> None:
    hostile = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'
    answer = client.get("/", params={"q": hostile})
    assert answer.status_code == 200
    assert "<script>" not in answer.text
    assert "<img src=x" not in answer.text
    assert "&lt;script&gt;" in answer.text
    check_page(answer.text, "nl")


# ------------------------------------------------------------------------------------------ languages


def test_language_switch_links_set_a_cookie_that_sticks(client: TestClient) -> None:
    home = client.get("/").text
    assert 'lang="nl"' in home
    for code in LANGUAGES:
        assert f'hreflang="{code}"' in home
    switched = client.get("/?lang=fr")
    assert switched.cookies.get("kp_lang") == "fr"
    assert '<html lang="fr">' in switched.text
    assert "Se connecter" in switched.text
    later = client.get("/services/dimona")
    assert '<html lang="fr">' in later.text
    assert "déclaration immédiate" in later.text


def test_accept_language_is_used_when_nothing_was_chosen(client: TestClient) -> None:
    assert '<html lang="en">' in client.get("/", headers={"accept-language": "en-GB,en;q=0.9"}).text
    assert '<html lang="nl">' in client.get("/", headers={"accept-language": "de"}).text
    assert '<html lang="nl">' in client.get("/?lang=klingon").text


# ------------------------------------------------------------------------------------ login and levels


def test_login_page_shows_every_means_with_its_level(client: TestClient) -> None:
    page = client.get("/login?lang=en").text
    for level in LEVELS:
        assert f"level={level}" in page
    assert "itsme (level 450)" in page
    assert "Username and password (level 200)" in page


def test_a_450_page_sends_a_200_session_to_the_upgrade_step_and_450_lets_it_in(client: TestClient) -> None:
    log_in(client, 200)
    answer = client.get("/citizen/who-consulted", follow_redirects=False)
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert target.path == "/login"
    assert parse_qs(target.query) == {"upgrade": ["450"], "next": ["/citizen/who-consulted"]}
    upgrade = client.get(answer.headers["location"] + "&lang=en")
    assert "Higher security level required" in upgrade.text
    assert "level=450" in upgrade.text
    assert "level=500" in upgrade.text
    assert "level=200" not in upgrade.text
    assert "level=400" not in upgrade.text
    old_cookie = client.cookies.get(COOKIE_NAME)
    landed = log_in(client, 450, next_path="/citizen/who-consulted")
    assert landed.status_code == 200
    assert landed.url.path == "/citizen/who-consulted"
    assert CITIZEN in landed.text
    assert "450" in landed.text
    assert client.cookies.get(COOKIE_NAME) != old_cookie  # a new id on every change of level


def test_every_protected_catalogue_page_refuses_a_session_one_step_too_low() -> None:
    for service in CATALOGUE.services:
        if service.public:
            continue
        client = make_client()
        below = max(level for level in LEVELS if level < service.level) if service.level > 200 else None
        if below is not None:
            log_in(client, below)
        answer = client.get(service.path, follow_redirects=False)
        assert answer.status_code == 303, service.id
        assert f"upgrade={service.level}" in answer.headers["location"]
        log_in(client, service.level)
        assert client.get(service.path, follow_redirects=False).status_code == 200, service.id


def test_level_never_goes_down_on_a_weaker_reauthentication(client: TestClient) -> None:
    log_in(client, 500)
    log_in(client, 200)
    assert client.get("/citizen/who-consulted", follow_redirects=False).status_code == 200


def test_another_subject_logging_in_replaces_the_session(client: TestClient) -> None:
    log_in(client, 500, subject="user-a")
    log_in(client, 200, subject="user-b")
    assert client.get("/citizen/who-consulted", follow_redirects=False).status_code == 303
    assert "user-b" in client.get("/").text
    assert "user-a" not in client.get("/").text


def test_after_login_the_portal_never_redirects_to_another_site(client: TestClient) -> None:
    for hostile in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        answer = log_in(client, 200, next_path=hostile)
        assert answer.url.host == "testserver", hostile
        assert answer.url.path == "/", hostile
    assert safe_next("/citizen/my-file?x=1") == "/citizen/my-file?x=1"


def test_session_cookie_is_httponly_lax_and_secure_over_https() -> None:
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        client = make_client(base_url=base)
        answer = client.get("/login/start", params={"level": 200}, follow_redirects=False)
        callback = client.get(answer.headers["location"], follow_redirects=False)
        cookie = next(c for c in callback.headers.get_list("set-cookie") if c.startswith(COOKIE_NAME))
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert ("Secure" in cookie) is secure


def test_without_identity_provider_nobody_can_log_in() -> None:
    client = make_client(login=False)
    answer = client.get("/login/start?level=200&lang=en")
    assert answer.status_code == 503
    assert "No identity provider" in answer.text
    assert client.get("/auth/callback?dev_subject=x&dev_level=500").status_code == 503
    assert client.get("/citizen/my-file", follow_redirects=False).status_code == 303


def test_a_refused_login_answer_is_a_clear_401_and_no_session() -> None:
    def finish(request: Request) -> LoginResult:
        raise LoginFailed("token expired")

    client = make_client(finish_login=finish)
    answer = client.get("/auth/callback?lang=en")
    assert answer.status_code == 401
    assert "token expired" in answer.text
    assert COOKIE_NAME not in client.cookies


def test_an_unknown_level_from_the_provider_is_refused() -> None:
    client = make_client()
    answer = client.get("/auth/callback", params={"dev_subject": CITIZEN, "dev_level": 999})
    assert answer.status_code == 401
    assert COOKIE_NAME not in client.cookies
    assert client.get("/login/start?level=999").status_code == 400


def test_async_hooks_are_awaited() -> None:
    calls: list[int] = []

    async def start(request: Request, level: int) -> Response:
        calls.append(level)
        return Response(status_code=303, headers={"location": "/auth/callback"})

    async def finish(request: Request) -> tuple[str, int, str]:
        return ("emp-1", 400, "app_or_sms")

    client = make_client(start_login=start, finish_login=finish)
    landed = client.get("/login/start?level=400&next=/employer/dimona")
    assert calls == [400]
    assert landed.url.path == "/employer/dimona"
    assert "emp-1" in landed.text


def test_require_level_is_usable_by_other_routers() -> None:
    router = APIRouter()

    @router.get("/citizen/who-consulted")
    async def real_page(request: Request) -> Response:
        found = require_level(request, 450)
        if isinstance(found, Response):
            return found
        assert isinstance(found, Session)
        return HTMLResponse(f"<p>consultations of {found.subject}</p>")

    client = make_client(routers=[router])
    assert client.get("/citizen/who-consulted", follow_redirects=False).status_code == 303
    log_in(client, 450)
    assert client.get("/citizen/who-consulted").text == f"<p>consultations of {CITIZEN}</p>"


# ---------------------------------------------------------------------------------------------- CSRF


def test_post_without_csrf_token_is_refused_with_a_403_page(client: TestClient) -> None:
    log_in(client, 200)
    refused = client.post("/logout?lang=en", data={})
    assert refused.status_code == 403
    check_page(refused.text, "en")
    assert "security token is missing or invalid" in refused.text
    wrong = client.post("/logout", data={"csrf_token": "forged"})
    assert wrong.status_code == 403
    assert CITIZEN in client.get("/").text  # still logged in


def test_post_without_any_session_is_refused(client: TestClient) -> None:
    assert client.post("/logout", data={"csrf_token": "anything"}).status_code == 403


def test_logout_with_the_token_ends_the_session(client: TestClient) -> None:
    log_in(client, 450)
    token = csrf_of(client)
    answer = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/citizen/who-consulted", follow_redirects=False).status_code == 303


def test_the_token_is_also_read_from_a_multipart_form(client: TestClient) -> None:
    log_in(client, 200)
    token = csrf_of(client)
    answer = client.post(
        "/logout", data={"csrf_token": token}, files={"f": ("a.xml", b"<x/>")}, follow_redirects=False
    )
    assert answer.status_code == 303


def test_a_post_route_of_another_router_receives_the_body_after_the_check() -> None:
    router = APIRouter()

    @router.post("/employer/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="text/plain")

    client = make_client(routers=[router])
    log_in(client, 400)
    token = csrf_of(client)
    answer = client.post("/employer/echo", data={"csrf_token": token, "worker": "<b>x</b>"})
    assert answer.status_code == 200
    assert "worker=%3Cb%3Ex%3C%2Fb%3E" in answer.text
    assert client.post("/employer/echo", data={"worker": "x"}).status_code == 403


# ------------------------------------------------------------------------------------------- sessions


def test_session_expires_after_30_minutes_idle() -> None:
    clock = FakeClock()
    client = make_client(clock=clock)
    log_in(client, 450)
    clock.now += 29 * 60
    assert client.get("/citizen/who-consulted", follow_redirects=False).status_code == 200
    clock.now += 29 * 60  # activity restarted the idle timer
    assert client.get("/citizen/who-consulted", follow_redirects=False).status_code == 200
    clock.now += 30 * 60
    answer = client.get("/citizen/who-consulted", follow_redirects=False)
    assert answer.status_code == 303
    assert "expired=1" in answer.headers["location"]
    page = client.get(answer.headers["location"] + "&lang=en").text
    assert "Your session has expired" in page


def test_session_ends_after_8_hours_even_when_active() -> None:
    clock = FakeClock()
    client = make_client(clock=clock)
    log_in(client, 450)
    for _ in range(19):
        clock.now += 25 * 60
        assert client.get("/citizen/who-consulted", follow_redirects=False).status_code == 200
    clock.now += 25 * 60  # 500 minutes > 8 h
    assert client.get("/citizen/who-consulted", follow_redirects=False).status_code == 303


def test_session_store_create_read_upgrade_end() -> None:
    clock = FakeClock()
    store = SessionStore(clock=clock)
    session = store.create(CITIZEN, 200, "password")
    assert store.get(session.id) is session
    assert len(store) == 1
    upgraded = store.upgrade(session.id, 450, "itsme")
    assert upgraded is not None
    assert upgraded.level == 450
    assert upgraded.means == "itsme"
    assert upgraded.id != session.id
    assert upgraded.csrf_token != session.csrf_token
    assert store.get(session.id) is None
    assert store.upgrade(session.id, 500, "eid") is None
    store.end(upgraded.id)
    assert store.get(upgraded.id) is None
    assert len(store) == 0
    assert store.get(None) is None
    assert store.get("") is None


# ---------------------------------------------------------------------------------------- live status


def _health_transport(counter: dict[str, int]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        counter[host] = counter.get(host, 0) + 1
        assert request.url.path == "/health"
        if host == "employers.test":
            return httpx.Response(200, json={"status": "ok"})
        if host == "hub.test":
            return httpx.Response(503, json={"status": "starting"})
        raise httpx.ConnectTimeout("no answer", request=request)

    return httpx.MockTransport(handler)


def test_live_status_is_up_down_or_unknown_and_cached() -> None:
    counter: dict[str, int] = {}
    client = make_client(
        transport=_health_transport(counter),
        service_urls={
            "employers": "http://employers.test",
            "hub": "http://hub.test",
            "warehouse": "http://wh.test",
        },
    )
    assert "status-up" in client.get("/services/dimona").text
    assert "status-down" in client.get("/services/who-consulted").text
    assert "status-down" in client.get("/services/statistics-global").text
    assert "status-unknown" in client.get("/services/my-rights").text  # no URL for "rights"
    home = client.get("/").text
    assert home.count("status-up") == len([s for s in CATALOGUE.services if s.backend == "employers"])
    assert counter == {"employers.test": 1, "hub.test": 1, "wh.test": 1}


@pytest.mark.anyio
async def test_status_cache_expires() -> None:
    counter: dict[str, int] = {}
    clock = FakeClock()
    async with httpx.AsyncClient(transport=_health_transport(counter)) as http:
        board = StatusBoard({"employers": "http://employers.test"}, client=http, ttl=5.0, clock=clock)
        assert await board.status("employers") == "up"
        assert await board.status("employers") == "up"
        clock.now += 6
        assert await board.status("employers") == "up"
        assert await board.status(None) == "unknown"
    assert counter == {"employers.test": 2}


def test_health_of_the_portal(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["services"] == len(CATALOGUE)
