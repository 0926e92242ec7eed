"""Helpers of the social-source tests (imported relatively: ``from .helpers import envelope``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from kruispunt.sources.social.api import create_members_app, create_source_app
from kruispunt.sources.social.clients import HubDirectory, ManagingDirectory
from kruispunt.sources.social.definitions import definition
from kruispunt.sources.social.service import SocialSource

from .data import P1, TODAY

REQUESTER = {"institution": "0212140186", "sector": 17, "institution_type": 1}


def envelope(
    message_type: str,
    request: dict[str, Any] | None = None,
    *,
    person: str | None = P1,
    provider: str | None = None,
    version: str = "1",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ticket": "7b0c3c5e-2f5c-4a4e-9d59-3f6f8f0b1a11",
        "message_type": message_type,
        "version": version,
        "person": person,
        "request": request if request is not None else {},
        "requester": REQUESTER,
    }
    if provider is not None:
        doc["provider"] = provider
    return doc


def source_app(service: str, url: str, keys_dir: Path | None, hub: HubDirectory | None = None) -> FastAPI:
    """A primary source whose clock says :data:`TODAY`."""
    d = definition(service)
    return create_source_app(
        d,
        url=url,
        keys_dir=keys_dir,
        hub_url=None,
        source=SocialSource.of(d, keys_dir=keys_dir, today=lambda: TODAY),
        hub=hub,
    )


def members_app(
    service: str,
    urls: dict[str, str],
    keys_dir: Path | None,
    *,
    hub: HubDirectory | None = None,
    managing: ManagingDirectory | None = None,
    sources: dict[str, SocialSource] | None = None,
) -> FastAPI:
    d = definition(service)
    sources = sources or {
        kbo: SocialSource.of(d, keys_dir=keys_dir, institutions=[kbo], today=lambda: TODAY)
        for kbo in d.institutions
    }
    return create_members_app(
        d,
        urls=urls,
        keys_dir=keys_dir,
        hub_url=None,
        managing_url=None,
        sources=sources,
        hub=hub,
        managing=managing,
    )
