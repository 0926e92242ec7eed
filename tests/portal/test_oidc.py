"""The portal's OIDC client against the development provider (ASGI app behind an httpx client).

Real logins go through the provider's login page; tokens the provider would never issue (another key,
another audience, another issuer) are served by a token endpoint replaced with ``httpx.MockTransport``,
while discovery and the JWKS still come from the real provider.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.testclient import TestClient

from kruispunt.idp import ProviderKey
from kruispunt.portal.oidc import IdTokenClaims, LoginRefused, OidcClient, level_of, new_pkce
from tests.idp.test_idp import (
    ALICE,
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    REDIRECT_URI,
    Clock,
    make_idp,
    means_fields,
    open_login,
    redirect_query,
    submit,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "idp.jwk.json"


@pytest.fixture
def provider(clock: Clock, key_path: Path) -> TestClient:
    return TestClient(make_idp(clock=clock, key_path=key_path), base_url=ISSUER)


def relying_party(http: httpx.Client, clock: Clock) -> OidcClient:
    return OidcClient(ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, http, clock=clock)


def browser_login(provider: TestClient, rp: OidcClient, level: int, means: str) -> tuple[str, str, str]:
    """A browser logging in at ``level`` with ``means``: ``(code, verifier, nonce)``."""
    verifier, challenge = new_pkce()
    state, nonce = f"state-{level}-{means}", f"nonce-{level}-{means}"
    url = rp.authorization_url(level, state, nonce, verifier)
    assert f"code_challenge={challenge}" in url
    page = open_login(provider, url)
    query = redirect_query(submit(provider, page, means, **means_fields(means, page)))
    return rp.check_callback(query, state), verifier, nonce


def test_valid_login_gives_the_claims(provider: TestClient, clock: Clock) -> None:
    rp = relying_party(provider, clock)
    code, verifier, nonce = browser_login(provider, rp, 450, "itsme")
    claims = rp.exchange(code, verifier, nonce=nonce, level=450)
    assert isinstance(claims, IdTokenClaims)
    assert claims.subject == ALICE.insz
    assert claims.insz == ALICE.insz
    assert claims.level == 450
    assert claims.means == ("itsme",)
    assert claims.name == ALICE.name
    assert claims.expires.timestamp() == int(clock.now) + 300


def test_higher_level_than_asked_is_accepted(provider: TestClient, clock: Clock) -> None:
    rp = relying_party(provider, clock)
    code, verifier, nonce = browser_login(provider, rp, 400, "eid")
    assert rp.exchange(code, verifier, nonce=nonce, level=400).level == 500


def test_authorization_url_asks_the_level(provider: TestClient, clock: Clock) -> None:
    url = relying_party(provider, clock).authorization_url(400, "s", "n", new_pkce()[0])
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{ISSUER}/authorize?")
    assert query["acr_values"] == ["urn:kruispunt:level:400"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [CLIENT_ID]


def test_expired_token_refused(provider: TestClient, clock: Clock) -> None:
    rp = relying_party(provider, clock)
    code, verifier, nonce = browser_login(provider, rp, 200, "pwd")
    later = Clock(clock.now + 300 + 31)  # past exp and the 30 s leeway
    rp_later = relying_party(provider, later)
    with pytest.raises(LoginRefused) as refused:
        rp_later.exchange(code, verifier, nonce=nonce, level=200)
    assert refused.value.code == "expired"
    assert "log in again" in refused.value.message


def test_token_just_within_leeway_accepted(provider: TestClient, clock: Clock) -> None:
    rp = relying_party(provider, clock)
    code, verifier, nonce = browser_login(provider, rp, 200, "pwd")
    assert relying_party(provider, Clock(clock.now + 300 + 29)).exchange(
        code, verifier, nonce=nonce, level=200
    )


def test_wrong_nonce_refused(provider: TestClient, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    rp = relying_party(provider, clock)
    code, verifier, _ = browser_login(provider, rp, 200, "eid")
    with (
        caplog.at_level(logging.WARNING, logger="kruispunt.portal.oidc"),
        pytest.raises(LoginRefused) as refused,
    ):
        rp.exchange(code, verifier, nonce="another-login", level=200)
    assert refused.value.code == "wrong_nonce"
    assert any("wrong_nonce" in r.getMessage() for r in caplog.records)


def test_acr_below_requested_level_refused(provider: TestClient, clock: Clock) -> None:
    """The user edited acr_values down to 200 and logged in with a password; the portal wanted 450."""
    rp = relying_party(provider, clock)
    code, verifier, nonce = browser_login(provider, rp, 200, "pwd")
    with pytest.raises(LoginRefused) as refused:
        rp.exchange(code, verifier, nonce=nonce, level=450)
    assert refused.value.code == "level_too_low"
    assert "200" in refused.value.message
    assert "450" in refused.value.message


def test_code_refused_by_the_provider_is_a_login_refusal(provider: TestClient, clock: Clock) -> None:
    rp = relying_party(provider, clock)
    code, verifier, nonce = browser_login(provider, rp, 200, "eid")
    rp.exchange(code, verifier, nonce=nonce, level=200)
    with pytest.raises(LoginRefused) as refused:
        rp.exchange(code, verifier, nonce=nonce, level=200)
    assert refused.value.code == "token_refused"
    assert "already used" in refused.value.message


def test_callback_with_wrong_state_or_error_refused(provider: TestClient, clock: Clock) -> None:
    rp = relying_party(provider, clock)
    with pytest.raises(LoginRefused) as refused:
        rp.check_callback({"code": "c", "state": "someone-elses"}, "mine")
    assert refused.value.code == "wrong_state"
    with pytest.raises(LoginRefused) as refused:
        rp.check_callback({"error": "access_denied", "state": "mine"}, "mine")
    assert refused.value.code == "access_denied"


# --- tokens the provider would never issue ----------------------------------------------------------------


def serving_token(provider: TestClient, token: str) -> httpx.Client:
    """An HTTP client reaching the real provider, except that ``/token`` answers ``token``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"id_token": token, "access_token": "x", "token_type": "Bearer"})
        real = provider.request(request.method, str(request.url), headers=dict(request.headers))
        return httpx.Response(real.status_code, headers=real.headers, content=real.content)

    return httpx.Client(transport=httpx.MockTransport(handle))


def claims_for(clock: Clock, **change: Any) -> dict[str, Any]:
    now = int(clock.now)
    claims = {
        "iss": ISSUER,
        "sub": ALICE.insz,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": "n",
        "acr": "urn:kruispunt:level:450",
        "amr": ["itsme"],
        "insz": ALICE.insz,
    }
    claims.update(change)
    return {k: v for k, v in claims.items() if v is not None}


def provider_key(key_path: Path) -> ProviderKey:
    return ProviderKey.load_or_create(key_path)  # the key file the provider created


def signed(key: ECKey, kid: str, claims: dict[str, Any], alg: str = "ES256") -> str:
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key, algorithms=[alg])


def exchange_crafted(provider: TestClient, clock: Clock, token: str, level: int = 450) -> LoginRefused:
    rp = relying_party(serving_token(provider, token), clock)
    with pytest.raises(LoginRefused) as refused:
        rp.exchange("any-code", new_pkce()[0], nonce="n", level=level)
    return refused.value


def test_crafted_token_signed_with_the_provider_key_is_accepted(
    provider: TestClient, clock: Clock, key_path: Path
) -> None:
    """The crafting itself is sound: with nothing wrong, the same path logs in (so the refusals below are
    caused by the one thing each of them changes)."""
    key = provider_key(key_path)
    rp = relying_party(serving_token(provider, key.sign(claims_for(clock))), clock)
    assert rp.exchange("any-code", new_pkce()[0], nonce="n", level=450).subject == ALICE.insz


def test_forged_token_signed_by_another_key_refused(
    provider: TestClient, clock: Clock, key_path: Path
) -> None:
    kid = provider_key(key_path).kid
    other = ECKey.generate_key("P-256", private=True)
    refused = exchange_crafted(provider, clock, signed(other, kid, claims_for(clock)))
    assert refused.code == "forged"
    assert "signature" in refused.message


def test_token_with_unknown_kid_refused(provider: TestClient, clock: Clock) -> None:
    other = ECKey.generate_key("P-256", private=True)
    refused = exchange_crafted(provider, clock, signed(other, "attacker-1", claims_for(clock)))
    assert refused.code == "unknown_key"


def test_token_with_another_algorithm_refused(provider: TestClient, clock: Clock, key_path: Path) -> None:
    header = {"alg": "none", "kid": provider_key(key_path).kid}

    def b64(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    token = f"{b64(header)}.{b64(claims_for(clock))}."
    refused = exchange_crafted(provider, clock, token)
    assert refused.code == "forged"
    assert "'none'" in refused.message


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"aud": "another-service"}, "wrong_audience"),
        ({"aud": ["another-service", CLIENT_ID], "azp": "another-service"}, "wrong_audience"),
        ({"iss": "http://evil.test"}, "wrong_issuer"),
        ({"nonce": "replayed"}, "wrong_nonce"),
        ({"nonce": None}, "wrong_nonce"),
        ({"acr": "urn:kruispunt:level:400"}, "level_too_low"),
        ({"acr": "gold"}, "bad_acr"),
        ({"exp": None}, "malformed"),
        ({"sub": ""}, "malformed"),
    ],
)
def test_wrong_claims_refused(
    provider: TestClient, clock: Clock, key_path: Path, change: dict[str, Any], code: str
) -> None:
    token = provider_key(key_path).sign(claims_for(clock, **change))
    refused = exchange_crafted(provider, clock, token)
    assert refused.code == code
    assert refused.message


def test_expired_crafted_token_refused(provider: TestClient, clock: Clock, key_path: Path) -> None:
    past = int(clock.now) - 3600
    token = provider_key(key_path).sign(claims_for(clock, iat=past, exp=past + 300))
    assert exchange_crafted(provider, clock, token).code == "expired"


def test_token_issued_in_the_future_refused(provider: TestClient, clock: Clock, key_path: Path) -> None:
    future = int(clock.now) + 3600
    token = provider_key(key_path).sign(claims_for(clock, iat=future, exp=future + 300))
    assert exchange_crafted(provider, clock, token).code == "not_yet_valid"


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "x" * 20_000])
def test_garbage_token_refused(provider: TestClient, clock: Clock, token: str) -> None:
    assert exchange_crafted(provider, clock, token).code in {"malformed", "forged"}


def test_jwks_fetched_once_and_cached_by_kid(provider: TestClient, clock: Clock) -> None:
    fetched: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        fetched.append(request.url.path)
        real = provider.request(
            request.method, str(request.url), headers=dict(request.headers), content=request.content
        )
        return httpx.Response(real.status_code, headers=real.headers, content=real.content)

    rp = relying_party(httpx.Client(transport=httpx.MockTransport(handle)), clock)
    for _ in range(2):
        code, verifier, nonce = browser_login(provider, rp, 200, "eid")
        rp.exchange(code, verifier, nonce=nonce, level=200)
    assert fetched.count("/jwks.json") == 1
    assert fetched.count("/.well-known/openid-configuration") == 1
    assert fetched.count("/token") == 2


def test_unreachable_provider_is_a_clear_refusal(clock: Clock) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rp = relying_party(httpx.Client(transport=httpx.MockTransport(down)), clock)
    with pytest.raises(LoginRefused) as refused:
        rp.authorization_url(200, "s", "n", new_pkce()[0])
    assert refused.value.code == "provider_unreachable"


def test_pkce_and_level_helpers() -> None:
    verifier, challenge = new_pkce()
    assert len(verifier) == 43
    assert len(challenge) == 43
    assert new_pkce()[0] != verifier
    assert level_of("urn:kruispunt:level:450") == 450
    for bad in ("urn:kruispunt:level:", "urn:other:450", None, "urn:kruispunt:level:-1"):
        with pytest.raises(LoginRefused):
            level_of(bad)
