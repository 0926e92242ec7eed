"""The hub's published reference: the message catalogue (JSON Schemas, XSD, deliberations) and the keys.

Read-only routes, for whoever builds a client or checks an attestation:

* ``GET /hub/catalogue`` — every message type: name, version, title, providers, person, SOAP binding, links;
* ``GET /hub/catalogue/{name}/{version}`` — one, with its request and reply JSON Schemas, reply fields and
  the deliberations that open it (requesters, legal contexts, the fields each may see);
* ``GET /hub/catalogue/{name}/{version}/request.schema.json`` and ``…/reply.schema.json`` — the schemas;
* ``GET /hub/catalogue/{name}/{version}/{name}.xsd`` — the XSD derived from them (``kruispunt.network.xsd``);
* ``GET /hub/keys`` — the network's JWKS, collected from ``<data_dir>/keys`` (:mod:`kruispunt.attest.jwks`)
  and cached for a few seconds, so a key a source publishes appears without a restart.

Unknown message types and versions are 404 JSON errors (``UNKNOWN_MESSAGE_TYPE``, ``UNKNOWN_VERSION``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kruispunt.attest.jwks import JWKS_MEDIA_TYPE, KeyScan, scan_keys
from kruispunt.core.web import JSONResponse, error_body
from kruispunt.network.catalogue import Catalogue, MessageType
from kruispunt.network.deliberations import DeliberationIndex
from kruispunt.network.registry import Registry
from kruispunt.network.xsd import (
    XsdError,
    message_xsd,
    reply_schema_of,
    root_name,
    target_namespace,
    xsd_file_name,
)

log = logging.getLogger("kruispunt.hub.catalogue")

PREFIX = "/hub/catalogue"
SCHEMA_MEDIA_TYPE = "application/schema+json"
XSD_MEDIA_TYPE = "application/xml"
KEYS_TTL_S = 5.0


class Reference(Protocol):
    """What the routes read (the running :class:`~kruispunt.hub.service.Hub` has all three)."""

    @property
    def catalogue(self) -> Catalogue: ...

    @property
    def deliberations(self) -> DeliberationIndex: ...

    @property
    def registry(self) -> Registry: ...


def links(mt: MessageType) -> dict[str, str]:
    base = f"{PREFIX}/{mt.name}/{mt.version}"
    return {
        "self": base,
        "request_schema": f"{base}/request.schema.json",
        "reply_schema": f"{base}/reply.schema.json",
        "xsd": f"{base}/{xsd_file_name(mt)}",
    }


def _provider(registry: Registry, kbo: str, knows: str) -> dict[str, Any]:
    inst = registry.institution(kbo)
    return {"institution": kbo, "name": inst.name if inst is not None else None, "knows": knows}


def summary(mt: MessageType, registry: Registry) -> dict[str, Any]:
    """A message type as ``GET /hub/catalogue`` lists it."""
    return {
        "name": mt.name,
        "version": mt.version,
        "title": mt.title,
        "person": mt.person,
        "providers": [_provider(registry, p.institution, p.knows) for p in mt.providers],
        "soap": {"service_id": mt.soap.service_id, "version": mt.soap.version} if mt.soap else None,
        "xml": {
            "namespace": target_namespace(mt),
            "request_element": root_name(mt, "request"),
            "reply_element": root_name(mt, "reply"),
        },
        "links": links(mt),
    }


def detail(mt: MessageType, deliberations: DeliberationIndex, registry: Registry) -> dict[str, Any]:
    """A message type with its schemas and the deliberations that open it."""
    opening = []
    for d in deliberations.all():
        if mt.key not in d.message_types:
            continue
        fields = d.fields.get(mt.name, ())
        opening.append(
            {
                "id": d.id,
                "title": " ".join(d.title.split()),
                "legal_contexts": list(d.legal_contexts),
                "requesters": d.to_dict()["requesters"],
                "providers": list(d.providers),
                "allowed_fields": "*" if fields == ("*",) else list(fields),
                "capacities": [{"sector": s, "code": c} for s, c in d.capacities],
                "requires_integration": d.requires_integration,
                "valid_from": d.valid_from.isoformat(),
                "valid_to": d.valid_to.isoformat() if d.valid_to else None,
            }
        )
    return {
        **summary(mt, registry),
        "description": " ".join(mt.description.split()),
        "request_schema": dict(mt.request_schema),
        "reply_schema": reply_schema_of(mt),
        "reply_fields": list(mt.reply_fields),
        "legal_contexts": sorted({c for d in opening for c in d["legal_contexts"]}),
        "deliberations": opening,
    }


def _error(status: int, code: str, message: str, **details: Any) -> Response:
    return JSONResponse(error_body(code, message, **details), status_code=status)


@dataclass
class _KeyCache:
    folder: Callable[[], Path]
    ttl_s: float
    scan: KeyScan | None = None
    expires: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def get(self) -> KeyScan:
        with self._lock:
            now = time.monotonic()
            if self.scan is None or now >= self.expires:
                folder = self.folder()
                scan = scan_keys(folder)
                for problem in scan.problems:
                    log.error("key folder %s: %s (not published)", folder, problem)
                self.scan, self.expires = scan, now + self.ttl_s
            return self.scan


def make_router(
    reference: Callable[[], Reference],
    *,
    keys_dir: Path | Callable[[], Path] | None = None,
    keys_ttl_s: float = KEYS_TTL_S,
) -> APIRouter:
    """The catalogue and key routes. ``reference`` returns the running hub (or anything with a catalogue,
    deliberations and a registry); ``keys_dir`` is the folder of published keys (default
    ``settings.data_dir / "keys"``, read when first asked)."""
    router = APIRouter(tags=["reference"])

    def keys_folder() -> Path:
        if keys_dir is None:
            from kruispunt.core.settings import get_settings

            return get_settings().data_dir / "keys"
        return keys_dir() if callable(keys_dir) else keys_dir

    keys = _KeyCache(keys_folder, keys_ttl_s)

    def find(name: str, version: str) -> MessageType | Response:
        catalogue = reference().catalogue
        mt = catalogue.get(name, version)
        if mt is not None:
            return mt
        known = list(catalogue.versions(name))
        if not known:
            return _error(404, "UNKNOWN_MESSAGE_TYPE", f"no message type {name!r} in the catalogue")
        return _error(
            404, "UNKNOWN_VERSION", f"message type {name!r} has no version {version!r}", versions=known
        )

    @router.get(PREFIX, summary="Every message type of the catalogue, with links to its schemas")
    async def catalogue_route() -> Any:
        ref = reference()
        return [summary(mt, ref.registry) for mt in ref.catalogue.all()]

    @router.get(
        PREFIX + "/{name}/{version}",
        summary="One message type: schemas, reply fields and the deliberations that open it",
        responses={404: {"description": "unknown message type or version"}},
    )
    async def message_type_route(name: str, version: str) -> Any:
        mt = find(name, version)
        if isinstance(mt, Response):
            return mt
        ref = reference()
        return detail(mt, ref.deliberations, ref.registry)

    def schema_response(schema: Any) -> Response:
        return Response(
            orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS),
            media_type=SCHEMA_MEDIA_TYPE,
        )

    @router.get(
        PREFIX + "/{name}/{version}/request.schema.json",
        summary="The request JSON Schema (draft 2020-12) of a message type",
        response_class=Response,
        responses={200: {"content": {SCHEMA_MEDIA_TYPE: {}}}, 404: {"description": "unknown"}},
    )
    async def request_schema_route(name: str, version: str) -> Response:
        mt = find(name, version)
        return mt if isinstance(mt, Response) else schema_response(dict(mt.request_schema))

    @router.get(
        PREFIX + "/{name}/{version}/reply.schema.json",
        summary="The reply JSON Schema of a message type (the reply data, before the deliberation filter)",
        response_class=Response,
        responses={200: {"content": {SCHEMA_MEDIA_TYPE: {}}}, 404: {"description": "unknown"}},
    )
    async def reply_schema_route(name: str, version: str) -> Response:
        mt = find(name, version)
        return mt if isinstance(mt, Response) else schema_response(reply_schema_of(mt))

    @router.get(
        PREFIX + "/{name}/{version}/{file}.xsd",
        summary="The XSD of a message type (<Name>Request and <Name>Reply), derived from its JSON Schemas",
        response_class=Response,
        responses={200: {"content": {XSD_MEDIA_TYPE: {}}}, 404: {"description": "unknown"}},
    )
    async def xsd_route(name: str, version: str, file: str) -> Response:
        mt = find(name, version)
        if isinstance(mt, Response):
            return mt
        if f"{file}.xsd" != xsd_file_name(mt):
            return _error(404, "UNKNOWN_FILE", f"the XSD of {name} v{version} is {xsd_file_name(mt)}")
        try:
            text = message_xsd(mt)
        except XsdError as exc:  # a schema the convention cannot express: say so, do not 500
            return _error(501, "XSD_NOT_AVAILABLE", str(exc))
        return Response(
            text.encode("utf-8"),
            media_type=XSD_MEDIA_TYPE,
            headers={"Content-Disposition": f'inline; filename="{xsd_file_name(mt)}"'},
        )

    @router.get(
        "/hub/keys",
        summary="The network's published signing keys (JWKS) to verify attestations offline",
        response_class=Response,
        responses={200: {"content": {JWKS_MEDIA_TYPE: {}}}},
    )
    async def keys_route() -> Response:
        scan = await run_in_threadpool(keys.get)
        return Response(
            orjson.dumps(scan.jwks, option=orjson.OPT_SORT_KEYS),
            media_type=JWKS_MEDIA_TYPE,
            headers={"Cache-Control": f"public, max-age={max(int(keys_ttl_s), 0)}"},
        )

    return router
