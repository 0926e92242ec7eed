"""Bulk forwarding (``Forwarder.post_many``) against small in-process HTTP sources: one call per provider,
per-item answers and errors judged like single answers, split calls, and the per-envelope fallback for a
source without the bulk route."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web

from kruispunt.hub import errors, forwarding
from kruispunt.hub.forwarding import Forwarder
from kruispunt.hub.signatures import Signatures
from kruispunt.network import KSZ
from kruispunt.trust.envelopes import SIGNATURE_HEADER
from kruispunt.trust.receiver import open_verifier
from tests.trust.shared_ca import ksz, network_ca

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def source(routes: dict[str, Handler]) -> AsyncIterator[str]:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def envelopes(n: int) -> list[dict[str, Any]]:
    return [{"ticket": f"t{k}", "person": f"p{k}", "request": {"k": k}} for k in range(n)]


@asynccontextmanager
async def running_forwarder() -> AsyncIterator[Forwarder]:
    forwarder = Forwarder(timeout_s=5)
    await forwarder.start()
    try:
        yield forwarder
    finally:
        await forwarder.close()


async def post_many(routes: dict[str, Handler], count: int) -> list[forwarding.ProviderAnswer]:
    """``count`` envelopes of message type ``x`` forwarded in bulk to provider P, a source with ``routes``."""
    async with source(routes) as url, running_forwarder() as forwarder:
        return await forwarder.post_many(
            provider="P", endpoint=url, message_type="x", payloads=envelopes(count)
        )


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def test_one_call_per_provider_with_per_item_answers() -> None:
    calls: list[int] = []

    async def bulk(request: web.Request) -> web.Response:
        items = (await request.json())["items"]
        calls.append(len(items))
        answers: list[dict[str, Any]] = []
        for item in items:
            k = item["request"]["k"]
            if k == 1:
                answers.append({"error": {"status": 422, "code": "INVALID_REQUEST", "message": "bad"}})
            elif k == 2:
                answers.append({"status": "NO_DATA_FOUND", "data": None})
            elif k == 3:
                answers.append({"status": "WHAT"})
            else:
                answers.append({"status": "DATA_FOUND", "data": {"person": item["person"]}})
        return web.json_response({"items": answers})

    answers = run(post_many({"/consult-batch/x": bulk}, 5))
    assert calls == [5]
    assert answers[0].status == "DATA_FOUND"
    assert answers[0].data == {"person": "p0"}
    assert (answers[1].failure, answers[1].diagnostic) == (errors.PROVIDER_BAD_REPLY, "P answered HTTP 422")
    assert answers[2].status == "NO_DATA_FOUND"
    assert answers[3].failure is errors.PROVIDER_BAD_REPLY
    assert answers[4].data == {"person": "p4"}


def test_a_source_without_the_bulk_route_gets_one_call_per_envelope() -> None:
    singles: list[str] = []

    async def single(request: web.Request) -> web.Response:
        body = await request.json()
        singles.append(body["ticket"])
        return web.json_response({"status": "DATA_FOUND", "data": {"ticket": body["ticket"]}})

    answers = run(post_many({"/consult/x": single}, 4))
    assert sorted(singles) == ["t0", "t1", "t2", "t3"]
    assert [a.data for a in answers] == [{"ticket": f"t{k}"} for k in range(4)]


def test_large_bulk_calls_are_split_and_answers_stay_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarding, "BULK_BODY_BYTES", 300)
    sizes: list[int] = []

    async def bulk(request: web.Request) -> web.Response:
        items = (await request.json())["items"]
        sizes.append(len(items))
        return web.json_response(
            {"items": [{"status": "DATA_FOUND", "data": {"t": i["ticket"]}} for i in items]}
        )

    answers = run(post_many({"/consult-batch/x": bulk}, 20))
    assert len(sizes) > 1
    assert sum(sizes) == 20
    assert [a.data for a in answers] == [{"t": f"t{k}"} for k in range(20)]


def test_a_wrong_bulk_reply_or_a_dead_source_fails_every_envelope() -> None:
    async def short(request: web.Request) -> web.Response:
        return web.json_response({"items": [{"status": "DATA_FOUND"}]})

    async def scenario() -> tuple[list[forwarding.ProviderAnswer], list[forwarding.ProviderAnswer]]:
        async with source({"/consult-batch/x": short}) as url, running_forwarder() as forwarder:
            wrong = await forwarder.post_many(
                provider="P", endpoint=url, message_type="x", payloads=envelopes(3)
            )
            dead = await forwarder.post_many(
                provider="P", endpoint="http://127.0.0.1:9", message_type="x", payloads=envelopes(2)
            )
            return wrong, dead

    wrong, dead = run(scenario())
    assert [a.failure for a in wrong] == [errors.PROVIDER_BAD_REPLY] * 3
    assert [a.failure for a in dead] == [errors.PROVIDER_UNAVAILABLE] * 2


def test_bulk_calls_are_signed_by_the_hub_like_single_ones() -> None:
    verifier = open_verifier(network_ca().folder)
    signers: list[str] = []

    async def bulk(request: web.Request) -> web.Response:
        body = await request.read()
        verified = verifier.verify(
            request.headers.get(SIGNATURE_HEADER), body, method="POST", path=request.path
        )
        signers.append(verified.kbo)
        items = orjson.loads(body)["items"]
        return web.json_response({"items": [{"status": "NO_DATA_FOUND", "data": None} for _ in items]})

    async def forwarded() -> list[forwarding.ProviderAnswer]:
        async with source({"/consult-batch/x": bulk}) as url, running_forwarder() as forwarder:
            forwarder.sign = Signatures("verify", verifier, ksz()).forwarding_signer()
            return await forwarder.post_many(
                provider="P", endpoint=url, message_type="x", payloads=envelopes(3)
            )

    answers = run(forwarded())
    assert [a.status for a in answers] == ["NO_DATA_FOUND"] * 3  # a bad signature would have raised: 500
    assert signers == [KSZ]
