"""The AsyncAPI 3.0 document of the change channels, generated from the schemas and the subscriptions.

Channels: ``changes.publish`` (a source sends changes; over HTTP ``POST /mutations/changes``), and per
recipient ``kruispunt.changes.{recipient}`` (what the recipient receives: the feed, the push callback, or
the NATS subject of the JetStream transport). The message payloads are the JSON Schemas of
:mod:`kruispunt.mutations.schemas`; each subscription is listed with the change types it carries.
"""

from __future__ import annotations

from typing import Any

from kruispunt.mutations.definitions import Subscriptions
from kruispunt.mutations.schemas import CHANGE_ADAPTER, CHANGE_TYPES, ChangeBatch, Delivered


def _defs(schema: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    """Move a pydantic schema's ``$defs`` into the document's components (references rewritten)."""
    for name, definition in schema.pop("$defs", {}).items():
        into[name] = definition
    return schema


def _rewrite(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _rewrite(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v) for v in value]
    return value


def asyncapi_document(
    subscriptions: Subscriptions, *, http_url: str | None, nats_url: str | None
) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    change = _defs(CHANGE_ADAPTER.json_schema(), schemas)
    batch = _defs(ChangeBatch.model_json_schema(), schemas)
    delivered = _defs(Delivered.model_json_schema(), schemas)
    schemas.update({"Change": change, "ChangeBatch": batch, "Delivered": delivered})
    servers: dict[str, Any] = {}
    if http_url:
        servers["http"] = {
            "host": http_url.split("://", 1)[-1],
            "protocol": "http",
            "description": "POST /mutations/changes; GET /mutations/feed/{recipient}; push callbacks",
        }
    if nats_url:
        servers["nats"] = {
            "host": nats_url.split("://", 1)[-1],
            "protocol": "nats",
            "description": "JetStream stream KRUISPUNT_CHANGES (the NATS transport)",
        }
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "kruispunt — automatic communication of changes",
            "version": "1",
            "description": (
                "A source publishes a change about a person; the network delivers it to every institution "
                "that integrated the person in a capacity subscribed to that change type, at least once, "
                "in order per person. Apply each delivery's `key` once. Change types: "
                + ", ".join(CHANGE_TYPES)
                + "."
            ),
        },
        "servers": servers,
        "channels": {
            "publish": {
                "address": "changes.publish",
                "description": "Changes sent by a source (HTTP: POST /mutations/changes, a batch).",
                "messages": {"changeBatch": {"$ref": "#/components/messages/ChangeBatch"}},
            },
            "recipient": {
                "address": "kruispunt.changes.{recipient}",
                "description": (
                    "What one recipient receives, in order: its feed (GET /mutations/feed/{recipient}"
                    "?after=cursor, then POST …/ack), its signed push callback "
                    "(X-Kruispunt-Signature: t=…,v1=HMAC-SHA256), or this NATS subject."
                ),
                "parameters": {"recipient": {"description": "KBO number of the recipient"}},
                "messages": {"delivered": {"$ref": "#/components/messages/Delivered"}},
            },
        },
        "operations": {
            "publishChanges": {
                "action": "send",
                "channel": {"$ref": "#/channels/publish"},
                "summary": "A source publishes changes",
            },
            "receiveChanges": {
                "action": "receive",
                "channel": {"$ref": "#/channels/recipient"},
                "summary": "A recipient receives the changes it is subscribed to",
            },
        },
        "components": {
            "messages": {
                "ChangeBatch": {
                    "name": "ChangeBatch",
                    "payload": {"$ref": "#/components/schemas/ChangeBatch"},
                },
                "Delivered": {"name": "Delivered", "payload": {"$ref": "#/components/schemas/Delivered"}},
            },
            "schemas": schemas,
        },
        "x-subscriptions": [
            {
                "id": s.id,
                "title": s.title,
                "legalBasis": s.legal_basis,
                "sources": s.sources,
                "changeTypes": list(s.change_types),
                "kinds": list(s.kinds) if s.kinds else None,
                "recipients": [r.model_dump(exclude_none=True) for r in s.recipients],
            }
            for s in subscriptions.specs
        ],
    }
    rewritten: dict[str, Any] = _rewrite(doc)
    return rewritten
