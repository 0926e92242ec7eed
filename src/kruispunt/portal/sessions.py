"""Server-side portal sessions: who is logged in, at which level, with which means, and the CSRF token.

Why server-side and in memory: the cookie holds only a random id (``kp_session``), so nothing about the
user can be read or forged from it, ending a session really ends it, and a stolen id stops working after
30 minutes idle or 8 hours at most. On every change of level the id is replaced (no session fixation).

Every POST must carry the session's CSRF token in the hidden form field ``csrf_token``;
:class:`CsrfMiddleware` checks it before any route runs and answers a clear 403 page otherwise.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kruispunt.portal.forms import parse_form

COOKIE_NAME = "kp_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
IDLE_SECONDS = 30 * 60
MAX_SECONDS = 8 * 60 * 60
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(slots=True)
class Session:
    """One logged-in user. ``subject`` is an INSZ for a citizen or a user id otherwise."""

    id: str
    subject: str
    level: int
    means: str
    csrf_token: str
    created_at: float
    last_seen: float


class SessionStore:
    """Sessions in memory, keyed by a random id; thread-safe, expired sessions are dropped on access."""

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        max_seconds: float = MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen >= self.idle_seconds or now - session.created_at >= self.max_seconds

    def _purge(self, now: float) -> None:
        for sid in [sid for sid, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[sid]

    def create(self, subject: str, level: int, means: str) -> Session:
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(32),
            subject=subject,
            level=level,
            means=means,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
        )
        with self._lock:
            self._purge(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle timer restarted), or ``None`` if unknown or expired."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def upgrade(self, session_id: str, level: int, means: str) -> Session | None:
        """Record a new authentication of the same subject; a new id and CSRF token, same absolute expiry.

        The level never goes down: re-authenticating with a weaker means keeps the level reached.
        """
        now = self._clock()
        with self._lock:
            old = self._sessions.pop(session_id, None)
            if old is None or self._expired(old, now):
                return None
            new = Session(
                id=secrets.token_urlsafe(32),
                subject=old.subject,
                level=max(old.level, level),
                means=means if level >= old.level else old.means,
                csrf_token=secrets.token_urlsafe(32),
                created_at=old.created_at,
                last_seen=now,
            )
            self._sessions[new.id] = new
            return new

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._sessions)


def is_secure(request: Request) -> bool:
    """Whether the browser talks https to us (the cookie then gets ``Secure``)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, session: Session, store: SessionStore) -> None:
    response.set_cookie(
        COOKIE_NAME,
        session.id,
        max_age=int(store.max_seconds),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=is_secure(request))


def read_session(request: Request, store: SessionStore) -> Session | None:
    return store.get(request.cookies.get(COOKIE_NAME))


# ----------------------------------------------------------------------------------------------- CSRF


def _form_token(content_type: str, body: bytes) -> str | None:
    """The ``csrf_token`` field of an urlencoded or multipart form body."""
    values = parse_form(content_type, body)[0].get(CSRF_FIELD)
    return values[0].strip() if values else None


def csrf_valid(session: Session | None, token: str | None) -> bool:
    return session is not None and token is not None and hmac.compare_digest(session.csrf_token, token)


class CsrfMiddleware:
    """Refuse every unsafe request whose CSRF token is not the session's, before any route sees it.

    The token is read from the form field ``csrf_token`` (urlencoded or multipart) or the
    ``X-CSRF-Token`` header; the body is then replayed to the application unchanged. ``exempt`` lists
    paths protected otherwise (the OpenID Connect callback, by its ``state``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: SessionStore,
        refuse: Callable[[Request], Awaitable[Response]],
        exempt: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.store = store
        self.refuse = refuse
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        request = Request(scope)
        token = request.headers.get(CSRF_HEADER)
        if token is None:
            try:
                token = _form_token(request.headers.get("content-type", ""), body)
            except (ValueError, UnicodeError):
                token = None
        if not csrf_valid(read_session(request, self.store), token):
            response = await self.refuse(request)
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
