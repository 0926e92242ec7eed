"""The provider stub and the bare pass-through proxy of the hub benchmark (each run as its own process).

The stub answers every consultation at once with a fixed identify_person reply, so the benchmark
measures what sits between the caller and the source: the bare proxy (baseline) or the hub pipeline.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kruispunt.hub.forwarding import Forwarder
from kruispunt.up import _reuse_port_socket

_REPLY = orjson.dumps(
    {
        "status": "DATA_FOUND",
        "data": {
            "persons": [
                {
                    "insz": "85073003328",
                    "last_name": "Peeters",
                    "first_names": "Jan",
                    "birth_date": "1985-07-30",
                    "sex": "M",
                    "nationality": "BE",
                    "civil_state": "10",
                    "death_date": None,
                    "address": {
                        "street": "Kerkstraat",
                        "house_number": "12",
                        "postal_code": "9000",
                        "municipality": "Gent",
                        "nis_code": "44021",
                    },
                }
            ]
        },
    }
)


def stub_app() -> Starlette:
    async def consult(_: Request) -> Response:
        return Response(_REPLY, media_type="application/json")

    async def health(_: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[Route("/consult/{message_type}", consult, methods=["POST"]), Route("/health", health)]
    )


def proxy_app(target: str) -> Starlette:
    """Reads the body and posts it to the stub with the hub's own HTTP client; nothing else."""
    forwarder = Forwarder(timeout_s=5.0)

    async def forward(request: Request) -> Response:
        body = await request.body()
        status, reply = await forwarder.post_raw(url=f"{target}/consult/identify_person", body=body)
        return Response(reply, status_code=status, media_type="application/json")

    async def health(_: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await forwarder.start()
        yield
        await forwarder.close()

    return Starlette(
        routes=[Route("/hub/messages", forward, methods=["POST"]), Route("/health", health)],
        lifespan=lifespan,
    )


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    app = stub_app() if kind == "stub" else proxy_app(sys.argv[3])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, proxy_headers=False
    )
    # several proxy processes share the port exactly as the hub's workers do (SO_REUSEPORT)
    uvicorn.Server(config).run(sockets=[_reuse_port_socket("127.0.0.1", port)])
