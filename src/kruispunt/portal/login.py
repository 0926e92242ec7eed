"""The portal's login hooks over OpenID Connect (:class:`~kruispunt.portal.oidc.OidcClient`).

``start_login`` keeps the login's state, nonce, PKCE verifier and requested level server-side, under the
``state`` value (10 minutes, used once), and sends the browser to the identity provider. ``finish_login``
checks the callback's state, exchanges the code and verifies the ID token (signature, issuer, audience,
expiry, nonce, level). A refusal becomes :class:`~kruispunt.portal.web.LoginFailed`, a clear 401 page; it
is logged without the person's identifier.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from kruispunt.portal.oidc import LoginRefused, OidcClient, new_pkce
from kruispunt.portal.web import LoginFailed, LoginResult

log = logging.getLogger("kruispunt.portal.login")

PENDING_SECONDS = 600.0


@dataclass(frozen=True)
class _Pending:
    nonce: str
    verifier: str
    level: int
    created: float


class OidcLogin:
    """``start_login`` / ``finish_login`` for :func:`kruispunt.portal.web.create_app`."""

    def __init__(self, client: OidcClient) -> None:
        self.client = client
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    async def start_login(self, request: Request, level: int) -> Response:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier, _ = new_pkce()
        now = time.monotonic()
        with self._lock:
            for key in [k for k, p in self._pending.items() if now - p.created > PENDING_SECONDS]:
                del self._pending[key]
            self._pending[state] = _Pending(nonce, verifier, level, now)
        url = await run_in_threadpool(self.client.authorization_url, level, state, nonce, verifier)
        return RedirectResponse(url, status_code=303)

    async def finish_login(self, request: Request) -> LoginResult:
        state = request.query_params.get("state", "")
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or time.monotonic() - pending.created > PENDING_SECONDS:
            log.warning("login refused: unknown or expired state")
            raise LoginFailed("this login was not started here or took too long; please log in again")
        try:
            code = self.client.check_callback(dict(request.query_params), state)
            claims = await run_in_threadpool(
                self.client.exchange, code, pending.verifier, nonce=pending.nonce, level=pending.level
            )
        except LoginRefused as exc:
            log.warning("login refused: %s", exc.code)
            raise LoginFailed(str(exc)) from None
        means = claims.means[0] if claims.means else "unknown"
        return LoginResult(claims.insz or claims.subject, claims.level, means)
