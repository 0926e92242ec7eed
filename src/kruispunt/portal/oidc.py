"""The portal's OpenID Connect client (relying party): the login URL, the code exchange, the token check.

Why so strict: the ID token is the only proof of who is logged in and at which level; everything the portal
shows a citizen hangs on it. A token is accepted only when its ES256 signature checks against the provider's
published key (by ``kid``; the header's ``alg`` never picks the algorithm), it was issued by the configured
issuer for this client, is in date (a small leeway for clock skew), carries the nonce of this login and an
``acr`` at least the level asked. Anything else is a :class:`LoginRefused` with a stable code and a sentence
for the user, and is logged.

The client secret is passed in (from configuration or a file); there is no default. ``exchange`` needs the
``nonce`` and ``level`` of the login it completes (keep them in the session with ``state`` and the PKCE
verifier) — the client itself holds no per-login state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

import httpx
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import ECKey

log = logging.getLogger("kruispunt.portal.oidc")

ALGORITHM: Final = "ES256"
ACR_PREFIX: Final = "urn:kruispunt:level:"
MAX_TOKEN_LENGTH: Final = 16 * 1024
JWKS_REFRESH_SECONDS: Final = 60.0  # an unknown kid refetches the JWKS at most this often


class LoginRefused(Exception):
    """A login that must not open a session: ``code`` is stable (for logs and tests), ``message`` human."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IdTokenClaims:
    """What the portal keeps of a verified ID token."""

    subject: str
    insz: str | None
    level: int
    means: tuple[str, ...]
    expires: datetime
    name: str | None = None


def new_pkce() -> tuple[str, str]:
    """A fresh PKCE pair ``(verifier, S256 challenge)``: 43 random base64url characters and their hash."""
    verifier = secrets.token_urlsafe(32)
    return verifier, _challenge(verifier)


def level_of(acr: object) -> int:
    """The level of an ``acr`` value ``urn:kruispunt:level:<n>``; :class:`LoginRefused` for anything else."""
    if isinstance(acr, str) and acr.startswith(ACR_PREFIX):
        number = acr.removeprefix(ACR_PREFIX)
        if number.isdigit() and len(number) <= 4:
            return int(number)
    raise LoginRefused("bad_acr", f"the authentication level {str(acr)[:80]!r} is not understood")


def acr_of(level: int) -> str:
    return f"{ACR_PREFIX}{level}"


class OidcClient:
    """A relying party of one provider; ``http`` lets tests (or a proxy set-up) supply the HTTP client."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str,
        http: httpx.Client | None = None,
        *,
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.http = http if http is not None else httpx.Client(timeout=10.0)
        self.leeway = leeway_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, ECKey] = {}
        self._jwks_fetched_at: float | None = None

    # provider metadata and keys ---------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once); its ``issuer`` must be the configured one."""
        if self._metadata is None:
            doc = self._get_json(f"{self.issuer}/.well-known/openid-configuration", "discovery")
            if doc.get("issuer") != self.issuer:
                raise self._refuse(
                    "provider_error", f"the provider says it is {doc.get('issuer')!r}, not {self.issuer!r}"
                )
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(name), str):
                    raise self._refuse("provider_error", f"the provider's metadata lacks {name}")
            self._metadata = doc
        return self._metadata

    def _key(self, kid: str) -> ECKey:
        with self._lock:
            key = self._keys.get(kid)
            now = self.clock()
            stale = self._jwks_fetched_at is None or now - self._jwks_fetched_at >= JWKS_REFRESH_SECONDS
            if key is None and stale:
                self._keys = self._fetch_keys()
                self._jwks_fetched_at = now
                key = self._keys.get(kid)
        if key is None:
            raise self._refuse(
                "unknown_key", f"the token is signed with key {kid[:64]!r}, unknown to the provider"
            )
        return key

    def _fetch_keys(self) -> dict[str, ECKey]:
        doc = self._get_json(str(self.metadata()["jwks_uri"]), "JWKS")
        keys: dict[str, ECKey] = {}
        entries = doc.get("keys")
        if not isinstance(entries, list):
            raise self._refuse("provider_error", "the provider's JWKS has no keys list")
        for jwk in entries:
            if not isinstance(jwk, Mapping) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
                continue  # other key types cannot verify ES256; ignore rather than fail the whole set
            if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
                continue
            if any(m in jwk for m in ("d", "p", "q")):
                raise self._refuse("provider_error", "the provider's JWKS publishes private key material")
            kid = jwk.get("kid")
            if isinstance(kid, str):
                try:
                    keys[kid] = ECKey.import_key({k: jwk[k] for k in ("kty", "crv", "x", "y") if k in jwk})
                except (ValueError, TypeError, JoseError) as exc:
                    log.warning("JWKS key %r ignored: %s", kid, exc)
        return keys

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self.http.get(url)
        except httpx.HTTPError as exc:
            raise self._refuse(
                "provider_unreachable", f"the identity provider cannot be reached ({what})"
            ) from exc
        if response.status_code != 200:
            raise self._refuse(
                "provider_error", f"the provider's {what} answered HTTP {response.status_code}"
            )
        try:
            doc = response.json()
        except ValueError as exc:
            raise self._refuse("provider_error", f"the provider's {what} is not JSON") from exc
        if not isinstance(doc, dict):
            raise self._refuse("provider_error", f"the provider's {what} is not a JSON object")
        return doc

    # the flow ---------------------------------------------------------------------------------------------
    def authorization_url(self, level: int, state: str, nonce: str, code_verifier: str) -> str:
        """Where to send the browser to log in at ``level`` or higher (PKCE S256, ``state``, ``nonce``)."""
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": _challenge(code_verifier),
            "code_challenge_method": "S256",
            "acr_values": acr_of(level),
        }
        endpoint = str(self.metadata()["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    def check_callback(self, query: Mapping[str, str], state: str) -> str:
        """The code from the redirect back, after checking ``state``; refused on error or state mismatch."""
        got = query.get("state", "")
        if not got or not hmac.compare_digest(got, state):
            raise self._refuse("wrong_state", "the login answer does not belong to this session (state)")
        if "error" in query:
            error = query.get("error", "")[:64]
            description = query.get("error_description", "")[:200]
            raise self._refuse(
                "access_denied" if error == "access_denied" else "provider_error",
                f"the identity provider refused the login: {error} {description}".strip(),
            )
        code = query.get("code", "")
        if not code:
            raise self._refuse("provider_error", "the login answer carries no code")
        return code

    def exchange(self, code: str, code_verifier: str, *, nonce: str, level: int) -> IdTokenClaims:
        """Redeem ``code`` at the token endpoint and return the verified claims of its ID token."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": code_verifier,
        }
        if self._client_secret is not None:
            form["client_secret"] = self._client_secret
        try:
            response = self.http.post(str(self.metadata()["token_endpoint"]), data=form)
        except httpx.HTTPError as exc:
            raise self._refuse(
                "provider_unreachable", "the identity provider cannot be reached (token)"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise self._refuse(
                "token_refused", f"the identity provider refused the code: {error or response.status_code}"
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise self._refuse("provider_error", "the token answer has no id_token")
        return self.verify_id_token(id_token, nonce=nonce, level=level)

    def verify_id_token(self, token: str, *, nonce: str, level: int) -> IdTokenClaims:
        """Check an ID token (see the module docstring for what and in which order)."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise self._refuse("malformed", "the ID token is not a compact JWS")
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise self._refuse("malformed", "the ID token cannot be read") from exc
        if header.get("alg") != ALGORITHM:
            raise self._refuse(
                "forged", f"the ID token uses algorithm {header.get('alg')!r}; only {ALGORITHM}"
            )
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise self._refuse("forged", "the ID token names no key (kid)")
        try:
            payload = jws.deserialize_compact(token, self._key(kid), algorithms=[ALGORITHM]).payload
        except BadSignatureError as exc:
            raise self._refuse("forged", "the ID token's signature is not the identity provider's") from exc
        except JoseError as exc:
            raise self._refuse("forged", f"the ID token's signature cannot be checked: {exc}") from exc
        try:
            claims = json.loads(payload)
        except ValueError as exc:
            raise self._refuse("malformed", "the ID token's claims are not JSON") from exc
        if not isinstance(claims, dict):
            raise self._refuse("malformed", "the ID token's claims are not a JSON object")
        return self._check_claims(claims, nonce=nonce, level=level)

    def _check_claims(self, claims: dict[str, Any], *, nonce: str, level: int) -> IdTokenClaims:
        now = self.clock()
        if claims.get("iss") != self.issuer:
            raise self._refuse("wrong_issuer", f"the ID token was issued by {str(claims.get('iss'))[:100]!r}")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.client_id not in audiences:
            raise self._refuse("wrong_audience", "the ID token was issued for another service")
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise self._refuse("wrong_audience", "the ID token has several audiences and is not for us (azp)")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise self._refuse("malformed", "the ID token lacks numeric exp and iat")
        if exp < now - self.leeway:
            raise self._refuse("expired", "the login has expired; please log in again")
        if iat > now + self.leeway:
            raise self._refuse("not_yet_valid", "the ID token is issued in the future (clock skew?)")
        got_nonce = claims.get("nonce")
        if not isinstance(got_nonce, str) or not hmac.compare_digest(got_nonce, nonce):
            raise self._refuse("wrong_nonce", "the ID token does not belong to this login (nonce)")
        reached = level_of(claims.get("acr"))
        if reached < level:
            raise self._refuse(
                "level_too_low", f"this login reached security level {reached}; level {level} is needed"
            )
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise self._refuse("malformed", "the ID token has no subject")
        amr = claims.get("amr", [])
        if not isinstance(amr, list) or not all(isinstance(m, str) for m in amr):
            raise self._refuse("malformed", "the ID token's amr is not a list of strings")
        insz = claims.get("insz")
        name = claims.get("name")
        return IdTokenClaims(
            subject=subject,
            insz=insz if isinstance(insz, str) else None,
            level=reached,
            means=tuple(amr),
            expires=datetime.fromtimestamp(exp, tz=UTC),
            name=name if isinstance(name, str) else None,
        )

    def _refuse(self, code: str, message: str) -> LoginRefused:
        log.warning("login refused (%s, client %s): %s", code, self.client_id, message)
        return LoginRefused(code, message)


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
