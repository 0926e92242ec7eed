"""The hub's OpenAPI document names what its routes answer (found by the OpenAPI fuzzing of the network):
SOAP faults as XML, the batch and mailbox identity refusals, the CBSS-style answers of ``messages:async``,
``/directory/list``'s 403 and the 404 before the first checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kruispunt.core.settings import Settings
from kruispunt.hub.api import create_app


def _document(tmp_path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = create_app(Settings(data_dir=tmp_path)).openapi()
    return doc


def test_the_hub_documents_its_refusals(tmp_path: Path) -> None:
    paths = _document(tmp_path)["paths"]
    soap = paths["/soap/WebServiceConnector"]["post"]["responses"]
    assert set(soap["400"]["content"]) == {"text/xml", "application/soap+xml"}
    for path in ("/hub/batches/{batch_id}", "/hub/batches/{batch_id}/results", "/hub/mailbox/{cbe_number}"):
        assert {"401", "403"} <= set(paths[path]["get"]["responses"]), path
    answered = paths["/hub/messages:async"]["post"]["responses"]
    assert answered["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConsultationReply"
    }
    assert "403" in paths["/directory/list"]["post"]["responses"]
    assert "404" in paths["/audit/checkpoints/latest"]["get"]["responses"]
    assert paths["/directory/list"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
