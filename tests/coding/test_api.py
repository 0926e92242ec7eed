"""The trusted third party over HTTP: codes per project, recoding, decoding refused unless approved and
always logged, bad input refused with a clear 4xx; keys optionally in key files; only the KSZ, signing
each call, may call it, and a decoding names the person the signed envelope names."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kruispunt.coding import service
from kruispunt.coding.api import callers_of, create_app
from kruispunt.coding.models import code_link_table, project_table
from kruispunt.core.db import make_engine
from kruispunt.core.settings import Settings
from kruispunt.ids import make_insz
from kruispunt.network import KSZ
from kruispunt.trust.ca import NetworkCA, TrustError
from kruispunt.trust.envelopes import SIGNATURE_HEADER, sign
from kruispunt.trust.receiver import EnvelopeAuth, own_identity

PEOPLE = [make_insz(dt.date(1970, 1, 1) + dt.timedelta(days=3 * i), 11 + i) for i in range(40)]
FUTURE = (dt.date.today() + dt.timedelta(days=365)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()


@pytest.fixture
def url(fresh_db: Callable[[str], str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv(service.KEY_DIR_ENV, raising=False)
    return fresh_db("coding")


OCMW_GENT = "0212140186"


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A network CA with the KSZ (the TTP's only allowed caller) and another institution."""
    ca = NetworkCA.create(tmp_path_factory.mktemp("ttp") / "trust")
    for kbo, name in ((KSZ, "KSZ"), (OCMW_GENT, "OCMW Gent")):
        ca.save(ca.issue(kbo, name))
    return ca.folder


def _signed(trust: Path, *, database_url: str, key_dir: Path | None = None) -> TestClient:
    """A client of a TTP that requires signed callers, signing as the KSZ for the TTP agent ``ttp-7``."""
    settings = Settings(data_dir=trust.parent, signatures="required")
    app = create_app(database_url=database_url, callers=callers_of(settings), key_dir=key_dir)
    ksz = own_identity(trust, KSZ)
    assert ksz is not None
    client = TestClient(app)
    client.auth = EnvelopeAuth(ksz, subject="ttp-7")
    return client


@pytest.fixture
def client(url: str, trust: Path) -> Iterator[TestClient]:
    with _signed(trust, database_url=url) as c:
        for project in ("dwh", "req-1", "req-2"):
            assert c.post("/projects", json={"project": project, "purpose": "test"}).status_code == 201
        yield c


def _codes(client: TestClient, project: str, inszs: list[str]) -> list[str]:
    answer = client.post(f"/projects/{project}/codes", json={"inszs": inszs})
    assert answer.status_code == 200, answer.text
    codes: list[str] = answer.json()["codes"]
    return codes


def _links(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(code_link_table)).scalar_one()
    engine.dispose()
    return int(n)


def test_health(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"


def test_codes_are_stable_within_a_project_and_differ_across_projects(client: TestClient) -> None:
    dwh = _codes(client, "dwh", PEOPLE)
    assert _codes(client, "dwh", PEOPLE[::-1]) == dwh[::-1]
    assert len(set(dwh)) == len(PEOPLE)
    assert not set(dwh) & set(_codes(client, "req-1", PEOPLE))
    assert not any(p in c for c in dwh for p in PEOPLE)


def test_recode_gives_the_same_persons_codes_in_the_other_project(client: TestClient) -> None:
    dwh = _codes(client, "dwh", PEOPLE)
    research = _codes(client, "req-1", PEOPLE)
    answer = client.post("/projects/req-2/recode", json={"from_project": "dwh", "codes": dwh[5:9]})
    assert answer.status_code == 200
    recoded = answer.json()["codes"]
    assert recoded == _codes(client, "req-2", PEOPLE[5:9])
    back = client.post("/projects/req-1/recode", json={"from_project": "dwh", "codes": dwh})
    assert back.json()["codes"] == research


def test_recode_refuses_an_unknown_code_or_project(client: TestClient) -> None:
    dwh = _codes(client, "dwh", PEOPLE[:2])
    unknown = client.post("/projects/req-1/recode", json={"from_project": "dwh", "codes": [dwh[0], "zzz"]})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "UNKNOWN_CODE"
    assert "item 1" in unknown.json()["error"]["message"]
    nope = client.post("/projects/nope/recode", json={"from_project": "dwh", "codes": dwh})
    assert nope.json()["error"]["code"] == "UNKNOWN_PROJECT"
    same = client.post("/projects/dwh/recode", json={"from_project": "dwh", "codes": dwh})
    assert same.status_code == 422


def test_a_bad_insz_is_named_and_nothing_is_kept(client: TestClient, url: str) -> None:
    before = _links(url)
    answer = client.post("/projects/dwh/codes", json={"inszs": [PEOPLE[0], PEOPLE[1], "12345678901"]})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "INVALID_INSZ"
    assert "item 2" in answer.json()["error"]["message"]
    assert _links(url) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/projects", {"project": "../etc", "purpose": "x"}),
        ("/projects", {"project": "a" * 65, "purpose": "x"}),
        ("/projects", {"purpose": "x"}),
        ("/projects/dwh/codes", {"inszs": "85073003328"}),
        ("/projects/dwh/codes", [1, 2]),
        ("/projects/dwh/codes", {"inszs": [PEOPLE[0], f"{PEOPLE[1][:6]}-{PEOPLE[1][6:]}"]}),
        ("/projects/dwh/codes", {"inszs": [PEOPLE[0], None]}),
        ("/projects/dwh/approvals", {"reference": "x" * 40, "purpose": "p", "expires": FUTURE}),
        ("/projects/dwh/approvals", {"reference": "1", "purpose": "p", "expires": "soon"}),
        ("/projects/dwh/decode", {"code": "c" * 33, "reason": "r", "requested_by": "me"}),
        ("/projects/dwh/decode", {"code": "c", "reason": "r", "requested_by": "m" * 65}),
    ],
)
def test_bad_input_is_a_clear_4xx(client: TestClient, path: str, body: object) -> None:
    answer = client.post(path, json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["message"]


def test_a_project_is_created_once(client: TestClient) -> None:
    again = client.post("/projects", json={"project": "dwh", "purpose": "again"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "PROJECT_EXISTS"


def _decode(client: TestClient, project: str, code: str, approval: str | None) -> tuple[int, dict[str, Any]]:
    body = {"code": code, "reason": "contact for consent", "approval": approval, "requested_by": "ttp-7"}
    answer = client.post(f"/projects/{project}/decode", json=body)
    return answer.status_code, answer.json()


def test_decoding_needs_an_approval_in_force_for_the_project_and_is_always_logged(client: TestClient) -> None:
    code = _codes(client, "req-1", PEOPLE[:1])[0]
    for project, reference, expires in (("req-1", "27/001", FUTURE), ("req-1", "20/009", PAST)):
        decision = {"reference": reference, "purpose": "consent", "expires": expires}
        assert client.post(f"/projects/{project}/approvals", json=decision).status_code == 201
    other = {"reference": "27/002", "purpose": "other", "expires": FUTURE}
    assert client.post("/projects/req-2/approvals", json=other).status_code == 201
    twice = client.post("/projects/req-2/approvals", json=other)
    assert twice.status_code == 409
    unknown_project = client.post("/projects/nope/approvals", json={**other, "reference": "9"})
    assert unknown_project.status_code == 404

    for refused_by, why in (
        (None, "NO_APPROVAL"),
        ("20/009", "APPROVAL_EXPIRED"),
        ("27/002", "APPROVAL_NOT_FOR_PROJECT"),
    ):
        status, body = _decode(client, "req-1", code, refused_by)
        assert (status, body["error"]["code"]) == (403, why)
    assert _decode(client, "req-1", code, "27/001") == (
        200,
        {"project": "req-1", "code": code, "insz": PEOPLE[0]},
    )
    status, body = _decode(client, "req-1", "nocode", "27/001")
    assert status == 404
    log = client.get("/projects/req-1/decodings").json()["decodings"]
    assert [e["outcome"] for e in log] == [
        "NO_APPROVAL",
        "APPROVAL_EXPIRED",
        "APPROVAL_NOT_FOR_PROJECT",
        "granted",
        "UNKNOWN_CODE",
    ]
    assert {e["requested_by"] for e in log} == {"ttp-7"}
    assert client.get("/projects/req-2/decodings").json()["decodings"] == []


def test_keys_in_a_key_folder(url: str, tmp_path: Path, trust: Path) -> None:
    folder = tmp_path / "keys"
    with _signed(trust, database_url=url, key_dir=folder) as c:
        assert c.post("/projects", json={"project": "dwh", "purpose": "t"}).status_code == 201
        codes = _codes(c, "dwh", PEOPLE[:3])
    key_file = folder / "dwh.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(project_table.c.key)).scalar_one() == b""
    engine.dispose()
    with _signed(trust, database_url=url, key_dir=folder) as c:
        assert _codes(c, "dwh", PEOPLE[:3]) == codes
    with _signed(trust, database_url=url) as c:  # the database alone cannot code
        answer = c.post("/projects/dwh/codes", json={"inszs": PEOPLE[:1]})
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "KEY_UNAVAILABLE"
    os.chmod(key_file, 0o644)
    with _signed(trust, database_url=url, key_dir=folder) as c:
        assert (
            c.post("/projects/dwh/codes", json={"inszs": PEOPLE[:1]}).json()["error"]["code"]
            == "KEY_FILE_UNSAFE"
        )


def test_code_many_matches_code_and_refuses_bad_items(url: str) -> None:
    from kruispunt.core.migrate import upgrade

    upgrade(url, "coding")
    engine = make_engine(url)
    many = [make_insz(dt.date(1940, 1, 1) + dt.timedelta(days=i // 900), 1 + i % 900) for i in range(20_000)]
    with engine.begin() as conn:
        service.create_project(conn, project="dwh", purpose="t")
        fast = service.code_many(conn, project="dwh", inszs=pa.array(many))
        assert fast == service.code(conn, project="dwh", inszs=many)
    for bad, why in ((None, "null"), ("85.07.30-033.28", "compact"), ("85073003399", "check digits")):
        with pytest.raises(service.CodingError) as refused, engine.begin() as conn:
            service.code_many(conn, project="dwh", inszs=pa.array([many[0], bad, many[1]], pa.string()))
        assert "item 1" in str(refused.value)
        assert why in str(refused.value)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(code_link_table)).scalar_one() == len(set(many))
    engine.dispose()


def test_decoding_in_a_project_named_past_its_limit_is_refused_not_truncated(url: str, trust: Path) -> None:
    """``/projects/<64 letters>junk/decode`` used to decode in the project of the first 64 letters and answer
    under the name asked for; it is an unknown project, refused and logged."""
    long_name = "p" * 64
    with _signed(trust, database_url=url) as c:
        assert c.post("/projects", json={"project": long_name, "purpose": "test"}).status_code == 201
        code = _codes(c, long_name, PEOPLE[:1])[0]
        decision = {"reference": "27/003", "purpose": "consent", "expires": FUTURE}
        assert c.post(f"/projects/{long_name}/approvals", json=decision).status_code == 201
        status, body = _decode(c, long_name + "junk", code, "27/003")
        assert (status, body["error"]["code"]) == (404, "UNKNOWN_PROJECT")
        assert PEOPLE[0] not in str(body)
        assert _decode(c, long_name, code, "27/003")[0] == 200
        outcomes = [e["outcome"] for e in c.get(f"/projects/{long_name}/decodings").json()["decodings"]]
        assert outcomes == ["UNKNOWN_PROJECT", "granted"]


def test_the_refusals_are_documented(client: TestClient) -> None:
    """Found by the OpenAPI fuzzing: 403, 404 and 409 were answered but not in the document."""
    again = client.post("/projects", json={"project": "dwh", "purpose": "test"})
    assert again.status_code == 409
    paths = client.get("/openapi.json").json()["paths"]
    assert {"403", "404", "409"} <= set(paths["/projects/{project}/decode"]["post"]["responses"])
    assert "409" in paths["/projects"]["post"]["responses"]


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("nobody", 401, "UNSIGNED"),
        ("other institution", 403, "CALLER_NOT_ALLOWED"),
        ("replay", 409, "REPLAYED"),
    ],
)
def test_only_the_ksz_signing_each_call_may_code(
    url: str, trust: Path, client: TestClient, who: str, status: int, code: str
) -> None:
    """Attack: a caller that is not the KSZ, or replays one of its calls, gets no code and leaves nothing."""
    before = _links(url)
    body = b'{"inszs":["%s"]}' % PEOPLE[0].encode()
    headers = {"content-type": "application/json"}
    if who == "other institution":
        gent = own_identity(trust, OCMW_GENT)
        assert gent is not None
        headers[SIGNATURE_HEADER] = sign(body, gent, method="POST", path="/projects/dwh/codes")
    elif who == "replay":
        ksz = own_identity(trust, KSZ)
        assert ksz is not None
        headers[SIGNATURE_HEADER] = sign(body, ksz, method="POST", path="/projects/dwh/codes")
        assert client.post("/projects/dwh/codes", content=body, headers=headers, auth=None).status_code == 200
        before = _links(url)
    answer = client.post("/projects/dwh/codes", content=body, headers=headers, auth=None)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert "codes" not in answer.json()
    assert _links(url) == before


def test_a_decoding_must_name_the_person_the_envelope_names(client: TestClient, trust: Path) -> None:
    code = _codes(client, "req-1", PEOPLE[:1])[0]
    decision = {"reference": "27/001", "purpose": "consent", "expires": FUTURE}
    assert client.post("/projects/req-1/approvals", json=decision).status_code == 201
    body = {"code": code, "reason": "consent", "approval": "27/001", "requested_by": "someone-else"}
    answer = client.post("/projects/req-1/decode", json=body)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "REQUESTER_NOT_SIGNED"
    assert PEOPLE[0] not in answer.text
    assert client.get("/projects/req-1/decodings").json()["decodings"] == []


def test_the_ttp_does_not_start_open_without_a_ca(tmp_path: Path) -> None:
    with pytest.raises(TrustError):
        callers_of(Settings(data_dir=tmp_path, signatures="verify"))
    assert callers_of(Settings(data_dir=tmp_path, signatures="off")) is None
