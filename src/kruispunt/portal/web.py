"""The portal's web application: catalogue, service pages, login with levels, areas; server-rendered HTML.

Why this shape: every page is a plain HTML document (no script at all, so the Content-Security-Policy
forbids it) rendered by Jinja2 with autoescaping, so hostile input is shown, never executed. The login
itself is not done here: :func:`create_app` takes two hooks, ``start_login(request, level)`` (send the
browser to the identity provider asking for at least ``level``) and ``finish_login(request)`` (validate the
provider's answer on ``/auth/callback`` and return subject, level and means), which the OpenID Connect
client provides. Without hooks the portal still serves its public pages and refuses to log anyone in;
:class:`DevelopmentLoginStub` exists for tests only.

A page that needs a level calls :func:`require_level`; a lower session is sent to the upgrade step
(``/login?upgrade=<level>&next=<path>``), never in.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlencode

import httpx
import jinja2
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kruispunt.core.web import BodyLimitMiddleware
from kruispunt.portal.catalogue import AUDIENCES, LANGUAGES, LEVELS, Catalogue, Service, load_catalogue
from kruispunt.portal.i18n import LANG_COOKIE, Translate, choose_language, load_messages, translator
from kruispunt.portal.sessions import (
    COOKIE_NAME,
    CsrfMiddleware,
    Session,
    SessionStore,
    clear_session_cookie,
    is_secure,
    read_session,
    set_session_cookie,
)

log = logging.getLogger("kruispunt.portal")

AREAS: tuple[str, ...] = tuple(a for a in AUDIENCES if a != "public")
"""The portal's areas, one per audience that logs in: ``/citizen``, ``/employer``, …"""

LANGUAGE_NAMES = {"nl": "Nederlands", "fr": "Français", "en": "English"}
NEXT_COOKIE = "kp_next"

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)

STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem 1.5rem;max-width:72rem;color:#1a1a1a;
background:#fff;line-height:1.5}
a{color:#0645ad}a:visited{color:#5a2d91}
:focus-visible{outline:3px solid #b35900;outline-offset:2px}
.skip{position:absolute;left:-999rem}.skip:focus{position:static;display:inline-block;padding:.5rem;
background:#ffd;color:#000}
header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;border-bottom:2px solid #1a1a1a}
header ul{list-style:none;display:flex;flex-wrap:wrap;gap:.75rem;padding:0;margin:.5rem 0}
.site a{font-weight:bold;text-decoration:none;color:#1a1a1a}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #767676;padding:.4rem;
text-align:left;vertical-align:top}thead th{background:#eee}caption{text-align:left;font-weight:bold}
.purpose{font-weight:normal;margin:.25rem 0 0}
.status-up{color:#0b6b0b}.status-down{color:#a30000;font-weight:bold}.status-unknown{color:#4d4d4d}
label{display:block;font-weight:bold}input,button{font:inherit;padding:.3rem}
.button{display:inline-block;padding:.4rem .8rem;border:2px solid #0645ad;border-radius:.25rem}
.means{list-style:none;padding:0}.means li{margin:.5rem 0}
"""


# ------------------------------------------------------------------------------------------ login hooks


class LoginResult(NamedTuple):
    """What the identity provider established: who (INSZ or user id), at which level, with which means."""

    subject: str
    level: int
    means: str


class LoginFailed(Exception):
    """Raised by ``finish_login`` when the provider's answer is refused (forged or expired token, …)."""


StartLogin = Callable[[Request, int], "Response | Awaitable[Response]"]
"""``start_login(request, level)``: the response sending the browser to log in at ``level`` or higher."""

FinishLogin = Callable[[Request], "LoginResult | tuple[str, int, str] | Awaitable[LoginResult]"]
"""``finish_login(request)`` on ``/auth/callback``: the verified subject, level and means."""


class LoginProvider(Protocol):
    """An object (the OpenID Connect client) providing both hooks as methods."""

    def start_login(self, request: Request, level: int) -> Any: ...

    def finish_login(self, request: Request) -> Any: ...


class DevelopmentLoginStub:
    """DEVELOPMENT / TESTS ONLY: logs anyone in at the level asked, with no check at all.

    ``/login/start?level=450&subject=85073003328`` → ``/auth/callback?dev_subject=…&dev_level=450``.
    Never installed by default; a test passes it to :func:`create_app` explicitly.
    """

    def __init__(self, default_subject: str = "dev-user") -> None:
        self.default_subject = default_subject

    def start_login(self, request: Request, level: int) -> Response:
        subject = request.query_params.get("subject") or self.default_subject
        query = urlencode({"dev_subject": subject, "dev_level": level, "dev_means": LEVELS[level]})
        return RedirectResponse(f"/auth/callback?{query}", status_code=303)

    def finish_login(self, request: Request) -> LoginResult:
        params = request.query_params
        try:
            level = int(params.get("dev_level", ""))
        except ValueError as exc:
            raise LoginFailed("no level") from exc
        subject = params.get("dev_subject", "")
        if not subject:
            raise LoginFailed("no subject")
        return LoginResult(subject, level, params.get("dev_means", LEVELS.get(level, "unknown")))


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# ------------------------------------------------------------------------------------------ live status


class StatusBoard:
    """Live status of the kruispunt services from their ``/health``, with a short timeout and cache.

    ``up`` = 200 with ``status: ok``; ``down`` = any other answer or no answer in time; ``unknown`` = the
    service has no configured URL. Cached ``ttl`` seconds so that a page view is not a health storm.
    """

    def __init__(
        self,
        service_urls: Mapping[str, str],
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 1.0,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service_urls = dict(service_urls)
        self.timeout = timeout
        self.ttl = ttl
        self._clock = clock
        self._client = client
        self._owns_client = client is None
        self._cache: dict[str, tuple[str, float]] = {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient()
        return self._client

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _probe(self, url: str) -> str:
        try:
            answer = await self._http().get(url.rstrip("/") + "/health", timeout=self.timeout)
            body = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return "down"
        return "up" if isinstance(body, dict) and body.get("status") == "ok" else "down"

    async def status(self, key: str | None) -> str:
        url = self.service_urls.get(key) if key else None
        if not url or not key:
            return "unknown"
        cached = self._cache.get(key)
        now = self._clock()
        if cached is not None and now - cached[1] < self.ttl:
            return cached[0]
        result = await self._probe(url)
        self._cache[key] = (result, self._clock())
        return result

    async def for_services(self, services: Sequence[Service]) -> dict[str, str]:
        """Status per service id; each backend is asked once, all in parallel."""
        keys = sorted({s.backend for s in services if s.backend})
        results = await asyncio.gather(*(self.status(k) for k in keys))
        by_key = dict(zip(keys, results, strict=True))
        return {s.id: by_key.get(s.backend, "unknown") if s.backend else "unknown" for s in services}


# ------------------------------------------------------------------------------------------- the portal


@dataclass
class Portal:
    """What the routes share; on ``app.state.portal`` so that other modules' routers can use it."""

    catalogue: Catalogue
    sessions: SessionStore
    status: StatusBoard
    service_urls: dict[str, str]
    messages: dict[str, dict[str, str]]
    templates: jinja2.Environment
    start_login: StartLogin | None = None
    finish_login: FinishLogin | None = None
    signer: Any = None
    """The KSZ's :class:`~kruispunt.trust.ca.Identity`: signs the portal's messages to the hub."""
    extra: dict[str, Any] = field(default_factory=dict)


def portal_of(request: Request) -> Portal:
    portal = request.app.state.portal
    assert isinstance(portal, Portal)
    return portal


def language_of(request: Request) -> str:
    return choose_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def current_session(request: Request) -> Session | None:
    """The request's live session, or ``None`` (no cookie, unknown id, or expired)."""
    return read_session(request, portal_of(request).sessions)


def safe_next(value: str | None) -> str:
    """A local path to return to after login; anything else (another site, ``//host``) becomes ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


def _path_with_query(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def require_level(request: Request, level: int) -> Session | Response:
    """The session if it has at least ``level``; otherwise the redirect to the login / upgrade step.

    Use in a route: ``found = require_level(request, 450)``; ``if isinstance(found, Response): return found``.
    """
    if level not in LEVELS:
        raise ValueError(f"{level} is not an authentication level")
    session = current_session(request)
    if session is not None and session.level >= level:
        return session
    params: dict[str, str | int] = {"upgrade": level, "next": _path_with_query(request)}
    if session is None and request.cookies.get(COOKIE_NAME):
        params["expired"] = 1
    return RedirectResponse(f"/login?{urlencode(params)}", status_code=303)


def render(
    request: Request,
    template: str,
    title_key: str | None = None,
    *,
    title: str | None = None,
    status_code: int = 200,
    active: str = "",
    **context: Any,
) -> HTMLResponse:
    """A complete page in the request's language; remembers a ``?lang=`` choice in a cookie."""
    portal = portal_of(request)
    lang = language_of(request)
    t: Translate = translator(portal.messages, lang)
    params = dict(request.query_params)
    links = []
    for code in LANGUAGES:
        params["lang"] = code
        links.append((code, LANGUAGE_NAMES[code], f"{request.url.path}?{urlencode(params)}"))
    session = context.pop("session", None) or current_session(request)
    html = portal.templates.get_template(template).render(
        t=t,
        lang=lang,
        title=title if title is not None else t(title_key or "site_name"),
        areas=AREAS,
        active=active,
        language_links=links,
        session=session,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES and chosen != request.cookies.get(LANG_COOKIE):
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 24 * 3600, path="/", samesite="lax", secure=is_secure(request)
        )
    return response


def error_page(request: Request, status_code: int, title_key: str, message: str) -> HTMLResponse:
    return render(request, "error.html", title_key, status_code=status_code, message=message)


def _t(request: Request) -> Translate:
    return translator(portal_of(request).messages, language_of(request))


def translate_of(request: Request) -> Translate:
    """``t(key, **values)`` in the request's language, for the areas' routes."""
    return _t(request)


class SecurityHeadersMiddleware:
    """Adds the security headers to every response (pages, errors, redirects) unless already set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((n, v) for n, v in SECURITY_HEADERS if n not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )


def create_app(
    *,
    service_urls: Mapping[str, str],
    idp: LoginProvider | None = None,
    start_login: StartLogin | None = None,
    finish_login: FinishLogin | None = None,
    catalogue: Catalogue | None = None,
    sessions: SessionStore | None = None,
    http_client: httpx.AsyncClient | None = None,
    status_timeout: float = 1.0,
    status_ttl: float = 5.0,
    routers: Sequence[APIRouter] = (),
    csrf_exempt: tuple[str, ...] = ("/auth/callback",),
    max_body_bytes: int = 10 * 1024 * 1024,
    signer: Any = None,
) -> FastAPI:
    """The portal app.

    ``service_urls`` maps kruispunt service keys (``hub``, ``employers``, ``warehouse``, …) to base URLs,
    for the live status and the links to their applications. The login hooks come from ``idp`` (an object
    with ``start_login``/``finish_login`` methods) or from ``start_login``/``finish_login`` (which win).
    ``routers`` (the areas' real pages) are mounted before the catalogue's placeholder service pages, so a
    router's route for a catalogue path replaces the placeholder.
    """
    status = StatusBoard(service_urls, client=http_client, timeout=status_timeout, ttl=status_ttl)
    portal = Portal(
        catalogue=catalogue if catalogue is not None else load_catalogue(),
        sessions=sessions if sessions is not None else SessionStore(),
        status=status,
        service_urls=dict(service_urls),
        messages=load_messages(),
        templates=_templates(),
        start_login=start_login or (idp.start_login if idp is not None else None),
        finish_login=finish_login or (idp.finish_login if idp is not None else None),
        signer=signer,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await status.aclose()
            backend = portal.extra.pop("backend_client", None)
            if isinstance(backend, httpx.AsyncClient):
                await backend.aclose()

    app = FastAPI(
        title="kruispunt portal",
        description="The social-security portal: catalogue of online services, login with levels, areas.",
        version="0.1.0",
        default_response_class=HTMLResponse,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.portal = portal

    async def refuse_csrf(request: Request) -> Response:
        log.warning("portal: POST %s refused, CSRF token missing or invalid", request.url.path)
        return error_page(request, 403, "csrf_title", _t(request)("csrf_message"))

    app.add_middleware(CsrfMiddleware, store=portal.sessions, refuse=refuse_csrf, exempt=csrf_exempt)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    _install_error_pages(app)

    @app.get("/health", include_in_schema=False)
    async def health() -> Response:
        return JSONResponse(
            {"status": "ok", "service": "kruispunt portal", "services": len(portal.catalogue)}
        )

    @app.get("/assets/portal.css", include_in_schema=False)
    async def stylesheet() -> Response:
        return Response(STYLE, media_type="text/css", headers={"cache-control": "max-age=3600"})

    @app.get("/")
    async def home(request: Request, q: str = "") -> Response:
        query = q.strip()[:200]
        services = portal.catalogue.search(query, language_of(request))
        statuses = await status.for_services(services)
        return render(
            request,
            "home.html",
            "home_title",
            active="home",
            query=query,
            services=services,
            statuses=statuses,
        )

    @app.get("/services/{service_id}")
    async def service_page(request: Request, service_id: str) -> Response:
        service = portal.catalogue.get(service_id)
        if service is None:
            return error_page(request, 404, "not_found_title", _t(request)("not_found_message"))
        return render(
            request,
            "service.html",
            title=service.title[language_of(request)],
            service=service,
            status=await status.status(service.backend),
        )

    def area_page(area: str) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            services = portal.catalogue.for_audience(area)
            t = _t(request)
            return render(
                request,
                "area.html",
                title=t("area_title", audience=t(f"audience_{area}")),
                active=area,
                services=services,
                statuses=await status.for_services(services),
            )

        return page

    for area in AREAS:
        app.add_api_route(f"/{area}", area_page(area), methods=["GET"], include_in_schema=False)

    @app.get("/login")
    async def login(request: Request, upgrade: str = "", next: str = "/", expired: str = "") -> Response:
        required = int(upgrade) if upgrade.isdigit() and int(upgrade) in LEVELS else None
        session = current_session(request)
        target = safe_next(next)
        choices = [
            (level, means, f"/login/start?{urlencode({'level': level, 'next': target})}")
            for level, means in sorted(LEVELS.items(), reverse=True)
            if required is None or level >= required
        ]
        t = _t(request)
        return render(
            request,
            "login.html",
            "upgrade_title" if required else "login_title",
            upgrade=required,
            current=session.level if session else t("not_logged_in"),
            expired=bool(expired) and session is None,
            choices=choices,
        )

    @app.get("/login/start")
    async def login_start(request: Request, level: str = "", next: str = "/") -> Response:
        t = _t(request)
        if not level.isdigit() or int(level) not in LEVELS:
            return error_page(request, 400, "error_title", t("bad_request_message"))
        if portal.start_login is None:
            return error_page(request, 503, "no_idp_title", t("no_idp_message"))
        response: Response = await _resolve(portal.start_login(request, int(level)))
        response.set_cookie(
            NEXT_COOKIE,
            safe_next(next),
            max_age=600,
            path="/auth/callback",
            httponly=True,
            samesite="lax",
            secure=is_secure(request),
        )
        return response

    async def auth_callback(request: Request) -> Response:
        t = _t(request)
        if portal.finish_login is None:
            return error_page(request, 503, "no_idp_title", t("no_idp_message"))
        try:
            result = LoginResult(*await _resolve(portal.finish_login(request)))
        except LoginFailed as exc:
            log.warning("portal: login refused: %s", exc)
            return error_page(request, 401, "login_failed_title", t("login_failed_message", reason=str(exc)))
        if result.level not in LEVELS or not result.subject:
            log.warning("portal: login refused: level %r, subject %r", result.level, result.subject)
            reason = f"level {result.level}"
            return error_page(request, 401, "login_failed_title", t("login_failed_message", reason=reason))
        existing = current_session(request)
        session: Session | None = None
        if existing is not None and existing.subject == result.subject:
            session = portal.sessions.upgrade(existing.id, result.level, result.means)
        elif existing is not None:
            portal.sessions.end(existing.id)
        if session is None:
            session = portal.sessions.create(result.subject, result.level, result.means)
        log.info("portal: %s logged in at level %d with %s", result.subject, result.level, result.means)
        response = RedirectResponse(safe_next(request.cookies.get(NEXT_COOKIE)), status_code=303)
        set_session_cookie(response, request, session, portal.sessions)
        response.delete_cookie(NEXT_COOKIE, path="/auth/callback")
        return response

    app.add_api_route("/auth/callback", auth_callback, methods=["GET", "POST"], include_in_schema=False)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session = current_session(request)
        if session is not None:
            portal.sessions.end(session.id)
        response = RedirectResponse("/", status_code=303)
        clear_session_cookie(response, request)
        return response

    for router in routers:
        app.include_router(router)

    def open_page(service: Service) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            session: Session | None = None
            if not service.public:
                found = require_level(request, service.level)
                if isinstance(found, Response):
                    return found
                session = found
            base = portal.service_urls.get(service.backend or "")
            link = base.rstrip("/") + service.link if base and service.link else None
            return render(
                request,
                "service_open.html",
                title=service.title[language_of(request)],
                service=service,
                session=session,
                status=await status.status(service.backend),
                backend_link=link,
            )

        return page

    for service in portal.catalogue.services:
        app.add_api_route(service.path, open_page(service), methods=["GET"], include_in_schema=False)

    return app


def _install_error_pages(app: FastAPI) -> None:
    """HTML error pages in the user's language; never a stack trace."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        t = _t(request)
        if exc.status_code == 404:
            return error_page(request, 404, "not_found_title", t("not_found_message"))
        key = "bad_request_message" if 400 <= exc.status_code < 500 else "error_message"
        return error_page(request, exc.status_code, "error_title", t(key))

    async def invalid(request: Request, exc: Exception) -> Response:
        return error_page(request, 400, "error_title", _t(request)("bad_request_message"))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("portal: unexpected error", exc_info=exc)
        response = error_page(request, 500, "error_title", _t(request)("error_message"))
        # Answered outside the middleware stack, so the security headers are set here.
        for name, value in SECURITY_HEADERS:
            response.headers[name.decode()] = value.decode()
        return response

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)
