"""``POST /directory/person-file``: a person's whole file, institutions named, for the KSZ's portal only.

Only a request the KSZ signed naming that person is served; every other institution is refused (it reads
its own lines with LIST, which does not name the others), bad input is a 4xx, and every call reaches the
hub's log like a LIST.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kruispunt.core.web import create_service_app
from kruispunt.network.api import DirectoryExchange, make_router
from kruispunt.network.deliberations import DeliberationIndex
from kruispunt.network.registry import Registry
from kruispunt.network.schemas import ProofRequest, ProofResult
from kruispunt.trust.ca import Identity
from tests.trust.shared_ca import institution, ksz_callers, signed_for

from .conftest import KSZ, OCMW_GENT, PERSON_A, PERSON_B, RVA

PROOF = {"person_data": {"last_name": "Peeters", "birth_date": "1985-07-30"}}


async def always_matches(_: ProofRequest) -> ProofResult:
    return ProofResult(match=True)


@pytest.fixture
def logged() -> list[DirectoryExchange]:
    return []


@pytest.fixture
def client(
    hub_engine: Engine, registry: Registry, deliberations: DeliberationIndex, logged: list[DirectoryExchange]
) -> Iterator[TestClient]:
    async def on_exchange(exchange: DirectoryExchange) -> None:
        logged.append(exchange)

    app = create_service_app(title="hub", description="test", max_body_bytes=65_536)
    app.include_router(
        make_router(
            engine=hub_engine,
            registry_provider=lambda: registry,
            verify_proof=always_matches,
            deliberations_provider=lambda: deliberations,
            on_exchange=on_exchange,
            person_file_readers=ksz_callers("a person's whole file"),
        )
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def person_file(
    client: TestClient, body: dict[str, Any], *, subject: str | None = None, signer: Identity | None = None
) -> Any:
    """``POST /directory/person-file`` signed by the KSZ (or ``signer``) naming ``subject`` (default: the
    body's INSZ), as the portal sends it; ``subject=""`` sends it unsigned."""
    subject = str(body.get("insz", "")) if subject is None else subject
    auth = signed_for(subject, signer) if subject else None
    return client.post("/directory/person-file", json=body, auth=auth)


def register(client: TestClient, institution: str, insz: str, capacity: int, **period: Any) -> None:
    answer = client.post(
        "/directory/register",
        json={
            "institution": institution,
            "insz": insz,
            "capacity": capacity,
            "period": {"start": "2024-01-01", **period},
            "proof": PROOF,
        },
    )
    assert answer.status_code == 200, answer.text


def test_the_ksz_reads_every_line_of_the_person_with_names_and_labels(
    client: TestClient, registry: Registry, logged: list[DirectoryExchange]
) -> None:
    register(client, OCMW_GENT, PERSON_A, 2)
    register(client, RVA, PERSON_A, 1, end="2024-06-30")
    register(client, RVA, PERSON_B, 1)  # somebody else
    answer = person_file(client, {"institution": KSZ, "insz": PERSON_A})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["action"], body["insz"]) == ("PERSON_FILE", PERSON_A)
    by_kbo = {line["institution"]["kbo"]: line for line in body["lines"]}
    assert set(by_kbo) == {OCMW_GENT, RVA}
    gent, rva = registry.institution(OCMW_GENT), registry.institution(RVA)
    assert gent is not None
    assert rva is not None
    assert by_kbo[OCMW_GENT]["institution"]["name"] == gent.name
    assert by_kbo[RVA]["period"] == {"start": "2024-01-01", "end": "2024-06-30"}
    capacity = registry.capacity(gent.sector, 2)
    assert capacity is not None
    assert by_kbo[OCMW_GENT]["capacity"] == 2
    assert by_kbo[OCMW_GENT]["capacity_label"]["nl"] == capacity.label_nl
    assert by_kbo[OCMW_GENT]["capacity_label"]["fr"] == capacity.label_fr
    assert logged[-1].action == "PERSON_FILE"
    assert (logged[-1].institution, logged[-1].insz, logged[-1].error_code) == (KSZ, PERSON_A, None)


def test_a_person_unknown_to_the_directory_has_an_empty_file(client: TestClient) -> None:
    answer = person_file(client, {"institution": KSZ, "insz": PERSON_B})
    assert answer.status_code == 200
    assert answer.json()["lines"] == []


@pytest.mark.parametrize("institution", [OCMW_GENT, RVA])
def test_any_other_institution_is_refused_and_learns_nothing(
    client: TestClient, institution: str, logged: list[DirectoryExchange]
) -> None:
    register(client, OCMW_GENT, PERSON_A, 2)
    register(client, RVA, PERSON_A, 1)
    answer = person_file(client, {"institution": institution, "insz": PERSON_A})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "NOT_THE_KSZ"
    assert "lines" not in answer.json()
    other = RVA if institution == OCMW_GENT else OCMW_GENT
    assert other not in answer.text
    assert (logged[-1].action, logged[-1].error_code, logged[-1].status) == (
        "PERSON_FILE",
        "NOT_THE_KSZ",
        403,
    )


def test_an_unknown_institution_is_refused(client: TestClient) -> None:
    answer = person_file(client, {"institution": "0123456749", "insz": PERSON_A})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "UNKNOWN_INSTITUTION"


@pytest.mark.parametrize(
    "body",
    [
        {"institution": KSZ, "insz": "85073003329"},  # bad check digits
        {"institution": KSZ, "insz": "8507300332"},
        {"institution": KSZ},
        {"institution": KSZ, "insz": PERSON_A, "sector": 17},
    ],
)
def test_bad_input_is_a_422(client: TestClient, body: dict[str, Any]) -> None:
    answer = person_file(client, body)
    assert answer.status_code == 422, answer.text


def test_a_body_naming_the_ksz_is_not_believed(client: TestClient, logged: list[DirectoryExchange]) -> None:
    register(client, OCMW_GENT, PERSON_A, 2)
    body = {"institution": KSZ, "insz": PERSON_A}
    expected = {
        "unsigned": (401, "UNSIGNED"),
        "another person": (403, "ONLY_THE_PERSON"),
        "another institution": (403, "CALLER_NOT_ALLOWED"),
    }
    calls = {
        "unsigned": lambda: person_file(client, body, subject=""),
        "another person": lambda: person_file(client, body, subject=PERSON_B),
        "another institution": lambda: person_file(client, body, signer=institution(RVA, "RVA")),
    }
    for case, call in calls.items():
        answer = call()
        assert (answer.status_code, answer.json()["error"]["code"]) == expected[case], case
        assert OCMW_GENT not in answer.text, case
        assert (logged[-1].action, logged[-1].error_code) == ("PERSON_FILE", expected[case][1])
