"""A source that answers too late (run as a script: ``python slow_source.py PORT SECONDS``)."""

from __future__ import annotations

import asyncio
import base64
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def app(delay: float) -> Starlette:
    last: dict[str, str] = {}

    async def consult(request: Request) -> JSONResponse:
        body = await request.body()
        last.update(
            path=request.url.path,
            body=base64.b64encode(body).decode(),
            signature=request.headers.get("x-kruispunt-signature", ""),
        )
        await asyncio.sleep(delay)
        return JSONResponse({"status": "NO_DATA_FOUND", "data": None})

    async def last_request(_: Request) -> JSONResponse:
        """What the hub last forwarded (path, body, its signature header): for the signing tests."""
        return JSONResponse(last)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/consult/{name}", consult, methods=["POST"]),
            Route("/health", health),
            Route("/last-request", last_request),
        ]
    )


if __name__ == "__main__":
    uvicorn.run(app(float(sys.argv[2])), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
