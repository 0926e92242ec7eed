"""The hub's published reference: ``/hub/catalogue`` (JSON Schemas, XSD, deliberations) and ``/hub/keys``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from lxml import etree

from kruispunt.attest import SigningKey, make_kid, public_jwks
from kruispunt.core.settings import REPO_ROOT, Settings
from kruispunt.core.web import create_service_app
from kruispunt.hub.api import create_app
from kruispunt.hub.catalogue_api import make_router
from kruispunt.network.catalogue import Catalogue
from kruispunt.network.deliberations import DeliberationIndex, load_deliberations
from kruispunt.network.registry import Registry
from kruispunt.network.xsd import message_xsd

CATALOGUE = Catalogue.load_default()
REGISTRY = Registry.load_default()
OCMW_GENT = "0212140186"
RVA = "0206737484"


@dataclass
class Reference:
    catalogue: Catalogue
    deliberations: DeliberationIndex
    registry: Registry


@pytest.fixture(scope="module")
def reference() -> Reference:
    deliberations = load_deliberations(REPO_ROOT / "deliberations", registry=REGISTRY, catalogue=CATALOGUE)
    return Reference(CATALOGUE, deliberations, REGISTRY)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    folder.mkdir()
    return folder


@pytest.fixture
def client(reference: Reference, keys_dir: Path) -> Iterator[TestClient]:
    app = create_service_app(title="hub", description="test", max_body_bytes=65_536)
    app.include_router(make_router(lambda: reference, keys_dir=keys_dir, keys_ttl_s=0.2))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _publish(folder: Path, key: SigningKey) -> None:
    (folder / f"{key.issuer}.jwk.json").write_text(json.dumps(key.public_jwk()))


def test_catalogue_lists_every_message_type_with_links(client: TestClient) -> None:
    response = client.get("/hub/catalogue")
    assert response.status_code == 200
    listed = response.json()
    assert [(m["name"], m["version"]) for m in listed] == [mt.key for mt in CATALOGUE.all()]
    first = next(m for m in listed if m["name"] == "identify_person")
    assert first["person"] == "optional"
    assert first["soap"] == {"service_id": "OCMWCPASIdentifyPerson", "version": "20050930"}
    assert first["providers"][0] == {
        "institution": "0362475538",
        "name": REGISTRY.institution("0362475538").name,  # type: ignore[union-attr]
        "knows": "national_register_numbers",
    }
    assert first["xml"] == {
        "namespace": "urn:kruispunt:messages:identify_person:v1",
        "request_element": "IdentifyPersonRequest",
        "reply_element": "IdentifyPersonReply",
    }
    assert first["links"] == {
        "self": "/hub/catalogue/identify_person/1",
        "request_schema": "/hub/catalogue/identify_person/1/request.schema.json",
        "reply_schema": "/hub/catalogue/identify_person/1/reply.schema.json",
        "xsd": "/hub/catalogue/identify_person/1/identify_person.xsd",
    }
    for entry in listed:  # every link answers
        for link in entry["links"].values():
            assert client.get(link).status_code == 200, link


def test_one_message_type_with_schemas_and_deliberations(client: TestClient, reference: Reference) -> None:
    response = client.get("/hub/catalogue/identify_person/1")
    assert response.status_code == 200
    doc = response.json()
    mt = CATALOGUE.get("identify_person", "1")
    assert mt is not None
    assert doc["request_schema"] == mt.request_schema
    assert doc["reply_fields"] == list(mt.reply_fields)
    Draft202012Validator.check_schema(doc["reply_schema"])
    ids = [d["id"] for d in doc["deliberations"]]
    assert ids == [d.id for d in reference.deliberations.all() if mt.key in d.message_types]
    search = next(d for d in doc["deliberations"] if d["id"] == "24/002")
    assert search["legal_contexts"] == ["PCSA:PERSON_IDENTIFICATION"]
    assert "persons[].insz" in search["allowed_fields"]
    assert "persons[].nationality" not in search["allowed_fields"]
    assert search["requesters"] == [{"sector": 17, "institution_type": 1}]
    assert "PCSA:PERSON_IDENTIFICATION" in doc["legal_contexts"]


def test_schemas_and_xsd_files(client: TestClient) -> None:
    for mt in CATALOGUE.all():
        base = f"/hub/catalogue/{mt.name}/{mt.version}"
        request = client.get(f"{base}/request.schema.json")
        assert request.status_code == 200
        assert request.headers["content-type"].startswith("application/schema+json")
        assert request.json() == mt.request_schema
        reply = client.get(f"{base}/reply.schema.json")
        assert reply.status_code == 200
        Draft202012Validator.check_schema(reply.json())
        xsd = client.get(f"{base}/{mt.name}.xsd")
        assert xsd.status_code == 200
        assert xsd.headers["content-type"].startswith("application/xml")
        assert xsd.text == message_xsd(mt)
        etree.XMLSchema(etree.fromstring(xsd.content))


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/hub/catalogue/no_such_type/1", "UNKNOWN_MESSAGE_TYPE"),
        ("/hub/catalogue/identify_person/99", "UNKNOWN_VERSION"),
        ("/hub/catalogue/no_such_type/1/request.schema.json", "UNKNOWN_MESSAGE_TYPE"),
        ("/hub/catalogue/identify_person/99/reply.schema.json", "UNKNOWN_VERSION"),
        ("/hub/catalogue/identify_person/99/identify_person.xsd", "UNKNOWN_VERSION"),
        ("/hub/catalogue/identify_person/1/other.xsd", "UNKNOWN_FILE"),
        ("/hub/catalogue/identify_person/1/nothing.here", "HTTP_404"),
    ],
)
def test_unknown_names_and_versions_are_404_json(client: TestClient, path: str, code: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    if code == "UNKNOWN_VERSION":
        assert response.json()["error"]["details"]["versions"] == ["1"]


def test_keys_are_published_and_new_keys_appear_after_the_ttl(client: TestClient, keys_dir: Path) -> None:
    empty = client.get("/hub/keys")
    assert empty.status_code == 200
    assert empty.headers["content-type"].startswith("application/jwk-set+json")
    assert empty.json() == {"keys": []}
    ocmw = SigningKey.generate(kid=make_kid(OCMW_GENT, "2025-1"))
    rva = SigningKey.generate(kid=make_kid(RVA, "k1"))
    _publish(keys_dir, ocmw)
    _publish(keys_dir, rva)
    (keys_dir / "0206731645.jwk.json").write_text("{not json")  # reported in the log, not published
    deadline = time.monotonic() + 5
    while (doc := client.get("/hub/keys").json()) == {"keys": []} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert doc == public_jwks([ocmw, rva])
    assert "max-age" in client.get("/hub/keys").headers["cache-control"]


def test_the_hub_app_serves_the_catalogue_and_keys(tmp_path: Path) -> None:
    """Wired into ``create_app``: its own catalogue, keys from ``<data_dir>/keys``; nothing else broken."""
    settings = Settings(data_dir=tmp_path, db_url=None, deliberations_dir=REPO_ROOT / "deliberations")
    key = SigningKey.generate(kid=make_kid(OCMW_GENT, "2025-1"))
    (tmp_path / "keys").mkdir()
    _publish(tmp_path / "keys", key)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        listed = client.get("/hub/catalogue")
        assert listed.status_code == 200
        assert len(listed.json()) == len(CATALOGUE.all())
        assert client.get("/hub/catalogue/family_composition/1").json()["name"] == "family_composition"
        assert client.get("/hub/catalogue/family_composition/2").status_code == 404
        # the KSZ's key, which signs the log's checkpoints, is created by the hub and published beside it
        published = {k["kid"]: k for k in client.get("/hub/keys").json()["keys"]}
        assert published[key.kid] == public_jwks([key])["keys"][0]
        assert set(published) == {key.kid, "0244640631:1"}
        # the network package's catalogue route is still there
        old = client.get("/network/message-types")
        assert old.status_code == 200
        assert {m["name"] for m in old.json()} == {mt.name for mt in CATALOGUE.all()}
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/hub/catalogue", "/hub/catalogue/{name}/{version}", "/hub/keys"} <= set(paths)
