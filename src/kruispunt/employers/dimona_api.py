"""Routes of the Dimona declarations (REST like Dimona v2, XML files): not yet part of the service."""

from __future__ import annotations

from fastapi import APIRouter

from kruispunt.employers.context import EmployersContext


def router(ctx: EmployersContext) -> APIRouter:
    return APIRouter()
