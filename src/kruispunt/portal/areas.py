"""The portal's areas (citizen, employer, researcher, operator), assembled for ``kruispunt serve portal``.

Each area module exposes ``create_router(ctx: AreaContext) -> APIRouter``; :data:`AREA_MODULES` lists them
in mounting order. What an area needs from the deployment (the services' URLs, the data folder, the
roles) is in :class:`AreaContext`, so an area is built the same way in ``up`` and in a test.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter

from kruispunt.portal.roles import PortalRoles

AREA_MODULES: tuple[str, ...] = ("citizen", "operator", "researcher", "employer")


@dataclass(frozen=True)
class AreaContext:
    service_urls: Mapping[str, str]
    data_dir: Path
    roles: PortalRoles = field(default_factory=PortalRoles)


def area_routers(ctx: AreaContext, modules: tuple[str, ...] = AREA_MODULES) -> list[APIRouter]:
    routers = []
    for name in modules:
        module = importlib.import_module(f"kruispunt.portal.{name}")
        routers.append(module.create_router(ctx))
    return routers
