"""The development identity provider's logic: means and levels, login requests, codes, tokens.

Why a separate OIDC provider: the portal must never know *how* someone authenticated, only the level
reached (``acr``) and the means (``amr``) in a signed ID token — so that the real federal authentication
service (CSAM/FAS) can replace this one by changing an issuer URL. Levels follow CSAM: eID 500, itsme 450,
mobile app / SMS code 400, username + password 200 (``../shared/reference/DOMAIN.md`` §9).

Development only: every store (login requests, codes, access tokens) is in memory in one process; the means
are simulated (pick a test citizen instead of reading an eID card, a one-time code shown on the page instead
of sent by SMS). Secrets are never defaulted: client secrets are passed in, the signing key is read from a
file (or, without one, generated in memory for the life of the process). Every refusal is an
:class:`IdpError` with a stable code and a sentence saying why, and is logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import yaml
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from kruispunt.ids import InvalidIdentifier, validate_insz

log = logging.getLogger("kruispunt.idp")

ALGORITHM: Final = "ES256"
ACR_PREFIX: Final = "urn:kruispunt:level:"
CODE_TTL_SECONDS: Final = 60
TOKEN_TTL_SECONDS: Final = 300
LOGIN_REQUEST_TTL_SECONDS: Final = 600
MAX_FAILED_ATTEMPTS: Final = 5
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_MAX_PARAM = 512
# scrypt cost: 2**14 × 8 × 1 = 16 MiB per hash (the interactive-login recommendation)
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class Means(Enum):
    """An authentication means, its ``amr`` value and its CSAM level."""

    EID = ("eid", 500, "eID card")
    ITSME = ("itsme", 450, "itsme")
    APP = ("otp", 400, "Mobile app or SMS code")
    PASSWORD = ("pwd", 200, "Username and password")

    def __init__(self, amr: str, level: int, label: str) -> None:
        self.amr = amr
        self.level = level
        self.label = label

    @property
    def acr(self) -> str:
        return acr_of(self.level)

    @classmethod
    def from_amr(cls, amr: str) -> Means:
        for means in cls:
            if means.amr == amr:
                return means
        raise IdpError("unknown_means", f"unknown authentication means {amr!r}")


LEVELS: Final = tuple(sorted({m.level for m in Means}))


def acr_of(level: int) -> str:
    """The ``acr`` value of a level: ``urn:kruispunt:level:<n>``."""
    return f"{ACR_PREFIX}{level}"


def parse_acr_values(value: str | None) -> int:
    """The minimum level asked by ``acr_values`` (space-separated; the lowest one counts); 200 when absent."""
    if not value:
        return min(LEVELS)
    levels: list[int] = []
    for item in value.split():
        number = item.removeprefix(ACR_PREFIX)
        if not item.startswith(ACR_PREFIX) or not number.isdigit() or int(number) not in LEVELS:
            raise IdpError(
                "invalid_request",
                f"acr_values {item!r} is not one of {', '.join(acr_of(n) for n in LEVELS)}",
            )
        levels.append(int(number))
    return min(levels)


class IdpError(Exception):
    """A refusal: ``code`` (OAuth error code where one applies), ``message`` for a human, HTTP ``status``."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ClientConfig:
    """A relying party: its registered redirect URIs and, for a confidential client, its secret.

    ``client_secret`` None is a public client (PKCE, always required here, is then its only proof).
    The secret must come from configuration or a file — there is no default.
    """

    client_id: str
    redirect_uris: tuple[str, ...]
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TestCitizen:
    """A person of the synthetic nation who can log in with eID, itsme or the app (development)."""

    __test__ = False  # not a pytest test class

    insz: str
    name: str


@dataclass(frozen=True)
class DevUser:
    """A username + password account (level 200); ``insz`` when the account belongs to a citizen."""

    username: str
    name: str
    password_hash: str = field(repr=False)
    insz: str | None = None


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$<salt>$<hash>`` (base64url) — a real memory-hard KDF, a fresh 16-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` value (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def load_users(path: Path) -> list[DevUser]:
    """Development accounts from YAML: ``- {username, name, password_hash, insz?}``.

    The file holds :func:`hash_password` values, never passwords.
    """
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(doc, list):
        raise IdpError("bad_config", f"{path}: expected a list of users")
    users = []
    for i, item in enumerate(doc):
        if not isinstance(item, Mapping) or not {"username", "name", "password_hash"} <= set(item):
            raise IdpError("bad_config", f"{path}: user #{i} needs username, name and password_hash")
        users.append(
            DevUser(
                username=str(item["username"]),
                name=str(item["name"]),
                password_hash=str(item["password_hash"]),
                insz=str(item["insz"]) if item.get("insz") else None,
            )
        )
    return users


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge of a PKCE verifier: base64url(sha256(verifier)), unpadded."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


# --- signing key -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderKey:
    """The provider's ES256 signing key; ``kid`` is ``idp-`` + the first characters of its thumbprint."""

    key: ECKey = field(repr=False)

    @property
    def kid(self) -> str:
        return f"idp-{self.key.thumbprint()[:16]}"

    def public_jwk(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        jwk = {k: public[k] for k in ("kty", "crv", "x", "y")}
        jwk.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return jwk

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, dict(claims), self.key, algorithms=[ALGORITHM])

    @classmethod
    def generate(cls) -> ProviderKey:
        return cls(ECKey.generate_key("P-256", private=True))

    @classmethod
    def load_or_create(cls, path: Path) -> ProviderKey:
        """The private JWK at ``path``, created (mode 0600) when missing; refused if others can read it."""
        if not path.exists():
            key = cls.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, json.dumps(key.key.as_dict(private=True), sort_keys=True).encode() + b"\n")
            finally:
                os.close(fd)
            return key
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise IdpError(
                "bad_key", f"signing key {path} is accessible by others (mode {mode:04o}); chmod 600"
            )
        try:
            ec_key = ECKey.import_key(json.loads(path.read_bytes()))
        except (ValueError, TypeError, JoseError) as exc:
            raise IdpError("bad_key", f"signing key {path} is not an EC JWK: {exc}") from exc
        if not ec_key.is_private or ec_key.as_dict(private=False).get("crv") != "P-256":
            raise IdpError("bad_key", f"signing key {path} is not a private P-256 key")
        return cls(ec_key)


# --- the provider ----------------------------------------------------------------------------------------


@dataclass
class LoginRequest:
    """A validated ``/authorize`` request waiting for the user to authenticate."""

    id: str
    csrf_token: str
    browser: str
    client_id: str
    redirect_uri: str
    state: str
    nonce: str | None
    code_challenge: str
    min_level: int
    expires_at: float
    otp: str = field(repr=False)
    failures: int = 0

    @property
    def means(self) -> list[Means]:
        """The means whose level reaches the requested one, strongest first."""
        return [m for m in Means if m.level >= self.min_level]


@dataclass(frozen=True)
class Identity:
    """Who authenticated, how: the subject (INSZ or username), the means and when."""

    subject: str
    name: str
    insz: str | None
    means: Means
    auth_time: int


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    identity: Identity
    expires_at: float
    access_token: str | None = None


@dataclass(frozen=True)
class _Access:
    client_id: str
    identity: Identity
    expires_at: float


class IdentityProvider:
    """The OIDC provider's state and rules (no HTTP here: :mod:`kruispunt.idp.api` adds the routes)."""

    def __init__(
        self,
        *,
        issuer: str,
        clients: Mapping[str, ClientConfig],
        users: Iterable[DevUser] = (),
        citizens: Iterable[TestCitizen] = (),
        key: ProviderKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.clients = dict(clients)
        self.users = {u.username: u for u in users}
        self.citizens: dict[str, TestCitizen] = {}
        for citizen in citizens:
            try:
                number = validate_insz(citizen.insz).number
            except InvalidIdentifier as exc:
                raise IdpError("bad_config", f"test citizen {citizen.name!r}: {exc}") from exc
            self.citizens[number] = TestCitizen(number, citizen.name)
        if key is None:
            log.warning("identity provider %s: no key file, signing with an in-memory key", self.issuer)
        self.key = key or ProviderKey.generate()
        self.clock = clock
        # compared against for an unknown username, so that timing does not tell which usernames exist
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))
        self._lock = threading.Lock()
        self._requests: dict[str, LoginRequest] = {}
        self._codes: dict[str, _Code] = {}
        self._used_codes: dict[str, float] = {}
        self._access: dict[str, _Access] = {}

    # discovery ------------------------------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "none"],
            "scopes_supported": ["openid", "profile"],
            "acr_values_supported": [acr_of(n) for n in sorted(LEVELS, reverse=True)],
            "claims_supported": [
                *("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "insz", "name")
            ],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.public_jwk()]}

    # authorization --------------------------------------------------------------------------------------
    def client_and_redirect(self, params: Mapping[str, str]) -> tuple[ClientConfig, str]:
        """The client and redirect URI of a request; refused *without* redirecting when either is unknown."""
        client_id = params.get("client_id", "")
        client = self.clients.get(client_id)
        if client is None:
            raise IdpError("unauthorized_client", f"unknown client_id {client_id[:80]!r}")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise IdpError(
                "invalid_request", f"redirect_uri {redirect_uri[:200]!r} is not registered for {client_id!r}"
            )
        return client, redirect_uri

    def start(self, params: Mapping[str, str], *, browser: str) -> LoginRequest:
        """Validate an authorization request (after :meth:`client_and_redirect`) and keep it for the login."""
        client, redirect_uri = self.client_and_redirect(params)
        for name, value in params.items():
            if len(value) > _MAX_PARAM:
                raise IdpError(
                    "invalid_request", f"parameter {name!r} is longer than {_MAX_PARAM} characters"
                )
        if params.get("response_type") != "code":
            raise IdpError("unsupported_response_type", "only response_type=code (authorization code flow)")
        if "openid" not in params.get("scope", "").split():
            raise IdpError("invalid_scope", "scope must include 'openid'")
        state = params.get("state", "")
        if not state:
            raise IdpError("invalid_request", "state is required (it protects the client against CSRF)")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not _PKCE_CHALLENGE.fullmatch(challenge):
            raise IdpError(
                "invalid_request",
                "PKCE is required: code_challenge (43 base64url characters) with method S256",
            )
        min_level = parse_acr_values(params.get("acr_values"))
        now = self.clock()
        request = LoginRequest(
            id=secrets.token_urlsafe(24),
            csrf_token=secrets.token_urlsafe(24),
            browser=browser,
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            state=state,
            nonce=params.get("nonce") or None,
            code_challenge=challenge,
            min_level=min_level,
            expires_at=now + LOGIN_REQUEST_TTL_SECONDS,
            otp=f"{secrets.randbelow(10**6):06d}",
        )
        with self._lock:
            self._purge(now)
            self._requests[request.id] = request
        log.info("login request %s for client %s at level >= %d", request.id[:8], client.client_id, min_level)
        return request

    def pending(self, request_id: str, *, csrf_token: str, browser: str) -> LoginRequest:
        """The login request a form was posted for; refused when unknown, expired or posted cross-site."""
        with self._lock:
            request = self._requests.get(request_id)
        if request is None or request.expires_at < self.clock():
            raise IdpError(
                "login_expired", "this login page has expired or is unknown; start the login again"
            )
        if not (
            hmac.compare_digest(request.csrf_token, csrf_token)
            and hmac.compare_digest(request.browser, browser)
        ):
            raise IdpError(
                "csrf", "the form does not belong to this browser's login (CSRF check failed)", status=403
            )
        return request

    def authenticate(self, request: LoginRequest, means: Means, form: Mapping[str, str]) -> Identity:
        """Check the means' (simulated) credentials; a wrong one counts a failure, five drop the request."""
        if means.level < request.min_level:
            raise IdpError(
                "level_too_low",
                f"{means.label} gives level {means.level}; this login asks {request.min_level}",
            )
        now = int(self.clock())
        if means is Means.PASSWORD:
            user = self.users.get(form.get("username", ""))
            stored = user.password_hash if user else self._dummy_hash
            if not verify_password(form.get("password", ""), stored) or user is None:
                raise self._failed(request, "username or password is wrong")
            return Identity(user.insz or user.username, user.name, user.insz, means, now)
        citizen = self.citizens.get(form.get("insz", ""))
        if citizen is None:
            raise self._failed(request, "choose one of the test citizens")
        if means is Means.APP and not hmac.compare_digest(form.get("otp", "").strip(), request.otp):
            raise self._failed(request, "the code is wrong")
        return Identity(citizen.insz, citizen.name, citizen.insz, means, now)

    def _failed(self, request: LoginRequest, message: str) -> IdpError:
        request.failures += 1
        if request.failures >= MAX_FAILED_ATTEMPTS:
            with self._lock:
                self._requests.pop(request.id, None)
            return IdpError(
                "too_many_attempts", f"{message}; too many attempts, start the login again", status=401
            )
        return IdpError("access_denied", message, status=401)

    def issue_code(self, request: LoginRequest, identity: Identity) -> str:
        """The redirect back to the client with a single-use code (valid 60 s); the login request is spent."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            if self._requests.pop(request.id, None) is None:
                raise IdpError("login_expired", "this login was already completed; start the login again")
            self._codes[code] = _Code(
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                code_challenge=request.code_challenge,
                nonce=request.nonce,
                identity=identity,
                expires_at=self.clock() + CODE_TTL_SECONDS,
            )
        log.info("login %s: %s authenticated with %s", request.id[:8], identity.subject, identity.means.amr)
        return redirect_with(request.redirect_uri, code=code, state=request.state)

    def cancel(self, request: LoginRequest) -> str:
        with self._lock:
            self._requests.pop(request.id, None)
        return redirect_with(
            request.redirect_uri,
            error="access_denied",
            error_description="login cancelled",
            state=request.state,
        )

    # token ----------------------------------------------------------------------------------------------
    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Exchange a code for an ID token and an access token (client authenticated, PKCE verified)."""
        client = self._authenticate_client(form)
        if form.get("grant_type") != "authorization_code":
            raise IdpError("unsupported_grant_type", "only grant_type=authorization_code")
        code_value = form.get("code", "")
        now = self.clock()
        with self._lock:
            self._purge(now)
            code = self._codes.pop(code_value, None)
            if code is None:
                if code_value in self._used_codes:
                    raise IdpError("invalid_grant", "this code was already used; a code is single use")
                raise IdpError("invalid_grant", "unknown or expired code")
            self._used_codes[code_value] = now + 10 * CODE_TTL_SECONDS
        if code.expires_at < now:
            raise IdpError("invalid_grant", f"the code has expired (codes live {CODE_TTL_SECONDS} s)")
        if code.client_id != client.client_id:
            raise IdpError("invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != code.redirect_uri:
            raise IdpError("invalid_grant", "redirect_uri differs from the one of the authorization request")
        verifier = form.get("code_verifier", "")
        if not _PKCE_VERIFIER.fullmatch(verifier):
            raise IdpError("invalid_grant", "code_verifier missing or not 43–128 unreserved characters")
        if not hmac.compare_digest(pkce_challenge(verifier), code.code_challenge):
            raise IdpError("invalid_grant", "PKCE check failed: code_verifier does not match code_challenge")
        identity = code.identity
        issued = int(now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": identity.subject,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": issued,
            "exp": issued + TOKEN_TTL_SECONDS,
            "auth_time": identity.auth_time,
            "acr": identity.means.acr,
            "amr": [identity.means.amr],
            "name": identity.name,
        }
        if code.nonce is not None:
            claims["nonce"] = code.nonce
        if identity.insz is not None:
            claims["insz"] = identity.insz
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access[access_token] = _Access(client.client_id, identity, now + TOKEN_TTL_SECONDS)
        log.info("tokens issued to %s for %s (%s)", client.client_id, identity.subject, identity.means.acr)
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_SECONDS,
            "scope": "openid",
            "id_token": self.key.sign(claims),
        }

    def _authenticate_client(self, form: Mapping[str, str]) -> ClientConfig:
        client_id = form.get("client_id", "")
        client = self.clients.get(client_id)
        if client is None:
            raise IdpError("invalid_client", f"unknown client_id {client_id[:80]!r}", status=401)
        if client.client_secret is not None:
            secret = form.get("client_secret", "")
            if not secret or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
                raise IdpError(
                    "invalid_client", "client authentication failed (client_secret_post)", status=401
                )
        elif "client_secret" in form:
            raise IdpError(
                "invalid_client", f"{client_id!r} is a public client and has no secret", status=401
            )
        return client

    def userinfo(self, access_token: str) -> dict[str, Any]:
        with self._lock:
            access = self._access.get(access_token)
        if access is None or access.expires_at < self.clock():
            raise IdpError("invalid_token", "the access token is unknown or expired", status=401)
        identity = access.identity
        info: dict[str, Any] = {
            "sub": identity.subject,
            "name": identity.name,
            "acr": identity.means.acr,
            "amr": [identity.means.amr],
        }
        if identity.insz is not None:
            info["insz"] = identity.insz
        return info

    def _purge(self, now: float) -> None:
        """Forget expired requests, codes and tokens (called with the lock held)."""
        for store in (self._requests, self._codes, self._access):
            for key in [k for k, v in store.items() if v.expires_at < now - CODE_TTL_SECONDS]:
                del store[key]
        for key in [k for k, until in self._used_codes.items() if until < now]:
            del self._used_codes[key]


def redirect_with(uri: str, **params: str) -> str:
    """``uri`` with ``params`` added to its query string."""
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(params)}"


def citizens_from(pairs: Sequence[tuple[str, str]]) -> list[TestCitizen]:
    """Test citizens from ``(insz, name)`` pairs (e.g. people of the synthetic nation)."""
    return [TestCitizen(insz, name) for insz, name in pairs]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
