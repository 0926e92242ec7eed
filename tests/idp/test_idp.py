"""The development identity provider over HTTP: discovery, the code flow per means, and every refusal.

The helpers at the top (a browser going through the login page) are reused by ``tests/portal/test_oidc.py``.
"""

from __future__ import annotations

import logging
import re
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.testclient import TestClient

from kruispunt.idp import ClientConfig, DevUser, IdpError, ProviderKey, TestCitizen, hash_password, load_users
from kruispunt.idp.api import create_app
from kruispunt.idp.service import pkce_challenge, verify_password
from kruispunt.ids import make_insz

ISSUER = "http://idp.test"
CLIENT_ID = "portal"
CLIENT_SECRET = "test-only-secret"
REDIRECT_URI = "http://portal.test/auth/callback"
ALICE = TestCitizen(make_insz(date(1980, 5, 17), 11), "Alice Peeters")
BOB = TestCitizen(make_insz(date(1992, 2, 29), 24), "Bob Janssens")
PASSWORD = "correct horse battery staple"
VERIFIER = "v" * 20 + "-._~" + "0123456789abcdefghijk"  # 45 unreserved characters


class Clock:
    """A settable clock for expiry tests."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_idp(*, key_path: Path | None = None, clock: Clock | None = None, public: bool = False) -> FastAPI:
    clients = {
        CLIENT_ID: ClientConfig(CLIENT_ID, (REDIRECT_URI,), CLIENT_SECRET),
        "mobile": ClientConfig("mobile", ("http://mobile.test/cb",), None),
    }
    users = [
        DevUser("employer1", "Erik Employer", hash_password(PASSWORD)),
        DevUser("alice", ALICE.name, hash_password(PASSWORD), insz=ALICE.insz),
    ]
    return create_app(
        issuer=ISSUER,
        clients=clients,
        users=users,
        citizens=[ALICE, BOB],
        key_path=key_path,
        clock=clock or Clock(),
    )


def authorize_params(
    level: int, *, verifier: str = VERIFIER, state: str = "state-1", nonce: str = "nonce-1"
) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        "acr_values": f"urn:kruispunt:level:{level}",
    }


@dataclass
class LoginPage:
    status: int
    html: str
    request_id: str
    csrf_token: str
    otp: str | None

    @property
    def means(self) -> list[str]:
        return re.findall(r'name="means" value="([a-z]+)"', self.html)


def open_login(browser: TestClient, url: str) -> LoginPage:
    """GET the authorize URL as a browser and read the login page's hidden fields."""
    response = browser.get(url, follow_redirects=False)
    assert response.status_code == 200, response.text
    html = response.text
    request_id = re.search(r'name="request_id" value="([^"]+)"', html)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    otp = re.search(r'data-dev-otp="(\d{6})"', html)
    assert request_id
    assert csrf
    return LoginPage(200, html, request_id[1], csrf[1], otp[1] if otp else None)


def submit(browser: TestClient, page: LoginPage, means: str, **fields: str) -> Any:
    form = {"request_id": page.request_id, "csrf_token": page.csrf_token, "means": means, **fields}
    return browser.post("/login", data=form, follow_redirects=False)


def means_fields(means: str, page: LoginPage, citizen: TestCitizen = ALICE) -> dict[str, str]:
    """The fields a user fills in for ``means`` (the right ones)."""
    if means == "pwd":
        return {"username": "alice", "password": PASSWORD}
    if means == "otp":
        assert page.otp is not None
        return {"insz": citizen.insz, "otp": page.otp}
    return {"insz": citizen.insz}


def redirect_query(response: Any, to: str = REDIRECT_URI) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(to + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def login_code(browser: TestClient, level: int, means: str, **kw: str) -> str:
    page = open_login(browser, "/authorize?" + urlencode(authorize_params(level, **kw)))
    query = redirect_query(submit(browser, page, means, **means_fields(means, page)))
    assert query["state"] == kw.get("state", "state-1")
    return query["code"]


def redeem(client: TestClient, code: str, *, verifier: str = VERIFIER, **extra: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code_verifier": verifier,
        **extra,
    }
    return client.post("/token", data=form)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def idp(clock: Clock) -> TestClient:
    return TestClient(make_idp(clock=clock), base_url=ISSUER)


def test_discovery_and_jwks(idp: TestClient) -> None:
    meta = idp.get("/.well-known/openid-configuration").json()
    assert meta["issuer"] == ISSUER
    assert meta["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert meta["token_endpoint"] == f"{ISSUER}/token"
    assert meta["jwks_uri"] == f"{ISSUER}/jwks.json"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]
    assert "urn:kruispunt:level:450" in meta["acr_values_supported"]
    keys = idp.get("/jwks.json").json()["keys"]
    assert len(keys) == 1
    assert keys[0]["alg"] == "ES256"
    assert keys[0]["kid"].startswith("idp-")
    assert "d" not in keys[0]


@pytest.mark.parametrize(
    ("means", "level", "subject"),
    [
        ("eid", 500, ALICE.insz),
        ("itsme", 450, ALICE.insz),
        ("otp", 400, ALICE.insz),
        ("pwd", 200, ALICE.insz),
    ],
)
def test_full_code_flow_per_means(
    idp: TestClient, clock: Clock, means: str, level: int, subject: str
) -> None:
    code = login_code(idp, 200, means)
    response = redeem(idp, code)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    jwk = idp.get("/jwks.json").json()["keys"][0]
    token = jwt.decode(body["id_token"], ECKey.import_key(jwk), algorithms=["ES256"])
    assert token.header["kid"] == jwk["kid"]
    claims = token.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == subject
    assert claims["insz"] == ALICE.insz
    assert claims["acr"] == f"urn:kruispunt:level:{level}"
    assert claims["amr"] == [means]
    assert claims["nonce"] == "nonce-1"
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == claims["iat"] + 300
    info = idp.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.json()["sub"] == subject
    assert info.json()["acr"] == claims["acr"]


def test_user_without_insz_gets_the_username_as_subject(idp: TestClient) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(200)))
    code = redirect_query(submit(idp, page, "pwd", username="employer1", password=PASSWORD))["code"]
    claims = jwt.decode(
        redeem(idp, code).json()["id_token"],
        ECKey.import_key(idp.get("/jwks.json").json()["keys"][0]),
        algorithms=["ES256"],
    ).claims
    assert claims["sub"] == "employer1"
    assert "insz" not in claims
    assert claims["acr"] == "urn:kruispunt:level:200"


def test_level_450_offers_only_eid_and_itsme(idp: TestClient) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(450)))
    assert set(page.means) == {"eid", "itsme", "cancel"}
    assert "Username" not in page.html
    assert page.otp is None
    # a hand-made post of a weaker means is refused, not logged in
    response = submit(idp, page, "pwd", username="alice", password=PASSWORD)
    assert response.status_code == 400
    assert "level 200" in response.text
    assert "location" not in response.headers


def test_level_200_offers_all_means(idp: TestClient) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(200)))
    assert set(page.means) == {"eid", "itsme", "otp", "pwd", "cancel"}
    assert re.search(r'<label for="password">Password</label>', page.html)


def test_pkce_wrong_verifier_refused(idp: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    code = login_code(idp, 200, "eid")
    with caplog.at_level(logging.WARNING, logger="kruispunt.idp"):
        response = redeem(idp, code, verifier="w" * 43)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "PKCE" in response.json()["error_description"]
    assert any("PKCE" in r.getMessage() for r in caplog.records)


def test_code_reused_refused(idp: TestClient) -> None:
    code = login_code(idp, 200, "itsme")
    assert redeem(idp, code).status_code == 200
    again = redeem(idp, code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert "already used" in again.json()["error_description"]


def test_expired_code_refused(idp: TestClient, clock: Clock) -> None:
    code = login_code(idp, 200, "eid")
    clock.now += 61
    response = redeem(idp, code)
    assert response.status_code == 400
    assert "expired" in response.json()["error_description"]


def test_code_within_its_minute_accepted(idp: TestClient, clock: Clock) -> None:
    code = login_code(idp, 200, "eid")
    clock.now += 59
    assert redeem(idp, code).status_code == 200


def test_wrong_client_secret_refused(idp: TestClient) -> None:
    code = login_code(idp, 200, "eid")
    response = redeem(idp, code, client_secret="guess")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert redeem(idp, code).status_code == 200  # the failed attempt did not spend the code


def test_wrong_redirect_uri_at_token_refused(idp: TestClient) -> None:
    code = login_code(idp, 200, "eid")
    response = redeem(idp, code, redirect_uri="http://portal.test/elsewhere")
    assert response.status_code == 400
    assert "redirect_uri" in response.json()["error_description"]


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong password"), ("nobody", PASSWORD), ("alice", "")]
)
def test_password_wrong_refused(idp: TestClient, username: str, password: str) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(200)))
    response = submit(idp, page, "pwd", username=username, password=password)
    assert response.status_code == 401
    assert "location" not in response.headers
    assert "username or password is wrong" in response.text
    assert 'role="alert"' in response.text


def test_too_many_wrong_passwords_end_the_login(idp: TestClient) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(200)))
    for _ in range(5):
        last = submit(idp, page, "pwd", username="alice", password="nope")
    assert "too many attempts" in last.text
    after = submit(idp, page, "pwd", username="alice", password=PASSWORD)
    assert after.status_code == 400
    assert "expired" in after.text


def test_wrong_otp_refused(idp: TestClient) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(400)))
    assert page.otp is not None
    wrong = f"{(int(page.otp) + 1) % 10**6:06d}"
    response = submit(idp, page, "otp", insz=ALICE.insz, otp=wrong)
    assert response.status_code == 401
    assert "the code is wrong" in response.text


def test_unknown_citizen_refused(idp: TestClient) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(500)))
    response = submit(idp, page, "eid", insz="00000000000")
    assert response.status_code == 401
    assert "location" not in response.headers


def test_post_from_another_browser_refused_as_csrf(idp: TestClient) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(200)))
    other = TestClient(idp.app, base_url=ISSUER)  # no cookie of this login
    response = submit(other, page, "eid", insz=ALICE.insz)
    assert response.status_code == 403
    assert "CSRF" in response.text
    tampered = LoginPage(200, page.html, page.request_id, "forged-token", None)
    assert submit(idp, tampered, "eid", insz=ALICE.insz).status_code == 403


def test_cancel_returns_access_denied(idp: TestClient) -> None:
    page = open_login(idp, "/authorize?" + urlencode(authorize_params(200)))
    query = redirect_query(submit(idp, page, "cancel"))
    assert query == {"error": "access_denied", "error_description": "login cancelled", "state": "state-1"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": "plain"}, "PKCE"),
        ({"code_challenge": ""}, "PKCE"),
        ({"response_type": "token"}, "response_type"),
        ({"scope": "profile"}, "openid"),
        ({"acr_values": "urn:kruispunt:level:300"}, "acr_values"),
    ],
)
def test_bad_authorization_request_goes_back_with_error(
    idp: TestClient, change: dict[str, str], error: str
) -> None:
    params = {**authorize_params(200), **change}
    response = idp.get("/authorize?" + urlencode(params), follow_redirects=False)
    query = redirect_query(response)
    assert query["state"] == "state-1"
    assert "code" not in query
    assert error in query["error_description"]


def test_unknown_client_or_redirect_is_an_html_error_not_a_redirect(idp: TestClient) -> None:
    hostile = {**authorize_params(200), "client_id": "<script>alert(1)</script>"}
    response = idp.get("/authorize?" + urlencode(hostile), follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "&lt;script&gt;" in response.text
    assert "<script>" not in response.text
    elsewhere = {**authorize_params(200), "redirect_uri": "http://evil.test/cb"}
    response = idp.get("/authorize?" + urlencode(elsewhere), follow_redirects=False)
    assert response.status_code == 400
    assert "not registered" in response.text


def test_public_client_uses_pkce_only(clock: Clock) -> None:
    idp = TestClient(make_idp(clock=clock), base_url=ISSUER)
    params = {**authorize_params(200), "client_id": "mobile", "redirect_uri": "http://mobile.test/cb"}
    page = open_login(idp, "/authorize?" + urlencode(params))
    code = redirect_query(submit(idp, page, "itsme", insz=BOB.insz), to="http://mobile.test/cb")["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": "mobile"}
    form |= {"redirect_uri": "http://mobile.test/cb", "code_verifier": VERIFIER}
    assert idp.post("/token", data={**form, "code_verifier": "x" * 43}).status_code == 400
    assert idp.post("/token", data=form).status_code == 400  # the failed PKCE check spent the code


def test_userinfo_refuses_bad_tokens(idp: TestClient, clock: Clock) -> None:
    assert idp.get("/userinfo").status_code == 401
    response = idp.get("/userinfo", headers={"Authorization": "Bearer made-up"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    token = redeem(idp, login_code(idp, 200, "eid")).json()["access_token"]
    clock.now += 301
    assert idp.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_token_endpoint_refuses_non_form_body(idp: TestClient) -> None:
    response = idp.post("/token", json={"code": "x"})
    assert response.status_code == 400
    assert "x-www-form-urlencoded" in response.json()["error_description"]


def test_key_file_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "idp.jwk.json"
    first = TestClient(make_idp(key_path=path), base_url=ISSUER).get("/jwks.json").json()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = TestClient(make_idp(key_path=path), base_url=ISSUER).get("/jwks.json").json()
    assert first == second
    path.chmod(0o644)
    with pytest.raises(IdpError, match="accessible by others"):
        ProviderKey.load_or_create(path)


def test_users_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    stored = hash_password(PASSWORD)
    path.write_text(f"- {{username: alice, name: Alice, password_hash: '{stored}', insz: '{ALICE.insz}'}}\n")
    (user,) = load_users(path)
    assert user.username == "alice"
    assert user.insz == ALICE.insz
    assert verify_password(PASSWORD, user.password_hash)
    path.write_text("- {username: bob, password: plain}\n")
    with pytest.raises(IdpError, match="password_hash"):
        load_users(path)


def test_password_hash_is_salted_scrypt() -> None:
    one, two = hash_password("secret"), hash_password("secret")
    assert one.startswith("scrypt$")
    assert one != two
    assert verify_password("secret", one)
    assert verify_password("secret", two)
    assert not verify_password("Secret", one)
    assert not verify_password("secret", "plain$secret")


def test_the_refusals_are_documented_as_they_are_answered() -> None:
    """Found by the OpenAPI fuzzing: 400 (an HTML page, an OAuth error) and 401 were not in the document."""
    idp = TestClient(make_idp(), base_url=ISSUER)
    paths = idp.get("/openapi.json").json()["paths"]
    token, userinfo = idp.post("/token"), idp.get("/userinfo")
    assert (token.status_code, userinfo.status_code) == (400, 401)
    assert "application/json" in paths["/token"]["post"]["responses"]["400"]["content"]
    assert "application/json" in paths["/userinfo"]["get"]["responses"]["401"]["content"]
    authorize = idp.get("/authorize")
    assert authorize.status_code == 400
    assert authorize.headers["content-type"].startswith("text/html")
    assert "text/html" in paths["/authorize"]["get"]["responses"]["400"]["content"]
    assert "text/html" in paths["/login"]["post"]["responses"]["400"]["content"]
