"""HTTP face of the development identity provider: discovery, JWKS, authorize (HTML), token, userinfo.

Why thin: the routes parse input and render; :class:`kruispunt.idp.service.IdentityProvider` decides.
Errors a browser sees are HTML pages (``/authorize``, ``/login``); errors a client sees are OAuth JSON
(``{"error", "error_description"}``, RFC 6749 §5.2 — what a real relying party library parses). Every
refusal is logged; none is a 500. Forms are parsed here (``application/x-www-form-urlencoded`` only, with
a body limit) so no multipart library is needed.

Secrets: ``clients`` carry their secrets and ``key_path`` names the private signing key file — both come
from the caller's configuration; without ``key_path`` a key is generated in memory (development only).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kruispunt.core.web import BodyTooLarge, JSONResponse, create_service_app, read_body_limited
from kruispunt.idp.service import (
    ClientConfig,
    DevUser,
    IdentityProvider,
    IdpError,
    LoginRequest,
    Means,
    ProviderKey,
    TestCitizen,
    redirect_with,
)

log = logging.getLogger("kruispunt.idp")

BROWSER_COOKIE: Final = "kp_idp_browser"
MAX_FORM_BYTES: Final = 16 * 1024
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_templates = Environment(
    loader=PackageLoader("kruispunt.idp", "templates"), autoescape=select_autoescape(default=True)
)


def create_app(
    *,
    issuer: str,
    clients: Mapping[str, ClientConfig],
    users: Iterable[DevUser] = (),
    citizens: Iterable[TestCitizen] = (),
    key_path: Path | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The provider as its own service; ``issuer`` is its public base URL (also the ``iss`` of its tokens).

    ``clients`` by client id; ``users`` the username + password accounts; ``citizens`` the people who can
    log in with eID, itsme or the app (e.g. the synthetic nation); ``key_path`` the private JWK (created
    with mode 0600 when missing); ``clock`` for tests of expiry.
    """
    key = ProviderKey.load_or_create(key_path) if key_path is not None else None
    idp = IdentityProvider(
        issuer=issuer, clients=clients, users=users, citizens=citizens, key=key, clock=clock
    )
    app = create_service_app(
        title="kruispunt-idp",
        description="Development OpenID Connect provider with CSAM authentication levels (eID 500, "
        "itsme 450, app/SMS 400, password 200).",
        max_body_bytes=MAX_FORM_BYTES,
    )
    app.state.idp = idp
    secure_cookie = issuer.startswith("https://")

    def page(name: str, status: int, **context: Any) -> HTMLResponse:
        html = _templates.get_template(name).render(**context)
        headers = {
            **_NO_STORE,
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "frame-ancestors 'none'",
        }
        return HTMLResponse(html, status_code=status, headers=headers)

    def error_page(exc: IdpError, where: str) -> HTMLResponse:
        log.warning("%s refused: %s: %s", where, exc.code, exc.message)
        return page("error.html", exc.status, code=exc.code, message=exc.message)

    def login_page(request: LoginRequest, status: int = 200, error: str | None = None) -> HTMLResponse:
        return page(
            "login.html",
            status,
            client_id=request.client_id,
            min_level=request.min_level,
            means_list=request.means,
            citizens=sorted(idp.citizens.values(), key=lambda c: c.name),
            request_id=request.id,
            csrf_token=request.csrf_token,
            otp=request.otp,
            action="/login",
            error=error,
        )

    def oauth_error(exc: IdpError, where: str) -> Response:
        log.warning("%s refused: %s: %s", where, exc.code, exc.message)
        headers = dict(_NO_STORE)
        if exc.status == 401:
            headers["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
        return JSONResponse(
            {"error": exc.code, "error_description": exc.message}, status_code=exc.status, headers=headers
        )

    async def read_form(request: Request) -> dict[str, str]:
        if (
            request.headers.get("content-type", "").split(";")[0].strip()
            != "application/x-www-form-urlencoded"
        ):
            raise IdpError("invalid_request", "expected an application/x-www-form-urlencoded form")
        try:
            body = await read_body_limited(request, MAX_FORM_BYTES)
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except BodyTooLarge as exc:
            raise IdpError("invalid_request", f"form larger than {MAX_FORM_BYTES} bytes", status=413) from exc
        except UnicodeDecodeError as exc:
            raise IdpError("invalid_request", "the form is not UTF-8") from exc
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise IdpError("invalid_request", f"parameter {name!r} given twice")
            form[name] = value
        return form

    @app.get("/.well-known/openid-configuration", tags=["oidc"], summary="OpenID provider metadata")
    def discovery() -> Response:
        return JSONResponse(idp.discovery())

    @app.get("/jwks.json", tags=["oidc"], summary="The public key(s) that sign ID tokens")
    def jwks() -> Response:
        return JSONResponse(idp.jwks(), headers={"Cache-Control": "public, max-age=300"})

    @app.get(
        "/authorize",
        tags=["oidc"],
        summary="Start a login (authorization code flow, PKCE S256)",
        response_class=HTMLResponse,
        responses=_HTML_ROUTE,
    )
    def authorize(request: Request) -> Response:
        """Show the means whose level reaches ``acr_values``. An unknown client or redirect URI is an HTML
        error (never a redirect to an unregistered address); other bad requests go back to the client
        with ``error`` and ``state``, as OIDC specifies."""
        params = dict(request.query_params)
        try:
            idp.client_and_redirect(params)
        except IdpError as exc:
            return error_page(exc, "authorize")
        browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(24)
        try:
            login = idp.start(params, browser=browser)
        except IdpError as exc:
            log.warning("authorize refused: %s: %s", exc.code, exc.message)
            back = {"error": exc.code, "error_description": exc.message}
            if params.get("state"):
                back["state"] = params["state"]
            return _redirect(redirect_with(params["redirect_uri"], **back))
        response = login_page(login)
        response.set_cookie(
            BROWSER_COOKIE, browser, httponly=True, secure=secure_cookie, samesite="lax", path="/"
        )
        return response

    @app.post(
        "/login",
        tags=["oidc"],
        summary="Authenticate with one means (HTML form)",
        response_class=HTMLResponse,
        responses=_HTML_ROUTE,
    )
    async def login(request: Request) -> Response:
        """The posted means; on success a redirect to the client with the code, else the page again."""
        try:
            form = await read_form(request)
            pending = idp.pending(
                form.get("request_id", ""),
                csrf_token=form.get("csrf_token", ""),
                browser=request.cookies.get(BROWSER_COOKIE, ""),
            )
        except IdpError as exc:
            return error_page(exc, "login")
        if form.get("means") == "cancel":
            log.info("login %s cancelled", pending.id[:8])
            return _redirect(idp.cancel(pending))
        try:
            means = Means.from_amr(form.get("means", ""))
            identity = idp.authenticate(pending, means, form)
            return _redirect(idp.issue_code(pending, identity))
        except IdpError as exc:
            log.warning("login %s refused: %s: %s", pending.id[:8], exc.code, exc.message)
            if exc.code in {"too_many_attempts", "login_expired", "level_too_low", "unknown_means"}:
                return error_page(exc, "login")
            return login_page(pending, status=exc.status, error=exc.message)

    @app.post(
        "/token",
        tags=["oidc"],
        summary="Exchange a code for an ID token and an access token",
        responses=_OAUTH_ROUTE,
    )
    async def token(request: Request) -> Response:
        try:
            form = await read_form(request)
            return JSONResponse(idp.token(form), headers=_NO_STORE)
        except IdpError as exc:
            return oauth_error(exc, "token")

    @app.get(
        "/userinfo",
        tags=["oidc"],
        summary="Claims about the holder of an access token",
        responses=_OAUTH_ROUTE,
    )
    def userinfo(request: Request) -> Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not value:
                raise IdpError("invalid_token", "expected 'Authorization: Bearer <access token>'", status=401)
            return JSONResponse(idp.userinfo(value.strip()), headers=_NO_STORE)
        except IdpError as exc:
            return oauth_error(exc, "userinfo")

    return app


def _responses(media: str, *codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses``: ``codes`` answered as an HTML page or as an OAuth error."""
    schema = _OAUTH_ERROR if media == "application/json" else {"type": "string"}
    return {c: {"description": _WHY[c], "content": {media: {"schema": schema}}} for c in codes}


_OAUTH_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_WHY = {
    200: "the page",
    303: "back to the client",
    400: "a bad request",
    401: "not authenticated",
    403: "not allowed",
    413: "request too large",
}
_HTML_ROUTE = {303: {"description": _WHY[303]}, **_responses("text/html", 200, 400, 401, 403, 413)}
_OAUTH_ROUTE = _responses("application/json", 400, 401, 403, 413)


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=_NO_STORE)
