"""A source that answers too late (run as a script: ``python slow_source.py PORT SECONDS``)."""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def app(delay: float) -> Starlette:
    async def consult(_: Request) -> JSONResponse:
        await asyncio.sleep(delay)
        return JSONResponse({"status": "NO_DATA_FOUND", "data": None})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/consult/{name}", consult, methods=["POST"]), Route("/health", health)])


if __name__ == "__main__":
    uvicorn.run(app(float(sys.argv[2])), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
