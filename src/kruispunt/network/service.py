"""The public API of the network package for other packages (the hub): import from here.

Registry, catalogue and deliberations are immutable in-memory objects built once at start-up
(:func:`load_network`); the persons-directory functions take an explicit SQLAlchemy ``Connection``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kruispunt.network.catalogue import (
    Catalogue,
    FieldFilter,
    MessageType,
    Provider,
    compile_fields,
    filter_reply,
)
from kruispunt.network.deliberations import (
    Authorisation,
    Deliberation,
    DeliberationError,
    DeliberationIndex,
    RefusalReason,
    load_deliberations,
)
from kruispunt.network.directory import (
    DirectoryError,
    PersonLine,
    RegisterResult,
    bulk_load,
    institutions_knowing,
    integration,
    list_lines,
    register,
    seed_registry,
    set_endpoint,
    unregister,
)
from kruispunt.network.registry import Capacity, Institution, Registry, Sector, UnknownInstitution

__all__ = [
    "Authorisation",
    "Capacity",
    "Catalogue",
    "Deliberation",
    "DeliberationError",
    "DeliberationIndex",
    "DirectoryError",
    "FieldFilter",
    "Institution",
    "MessageType",
    "Network",
    "PersonLine",
    "Provider",
    "RefusalReason",
    "RegisterResult",
    "Registry",
    "Sector",
    "UnknownInstitution",
    "bulk_load",
    "compile_fields",
    "filter_reply",
    "institutions_knowing",
    "integration",
    "list_lines",
    "load_deliberations",
    "load_network",
    "register",
    "seed_registry",
    "set_endpoint",
    "unregister",
]


@dataclass(frozen=True, slots=True)
class Network:
    registry: Registry
    catalogue: Catalogue
    deliberations: DeliberationIndex


def load_network(*, deliberations_dir: Path, registry: Registry | None = None) -> Network:
    """Registry (default: package data), catalogue and checked deliberations (DeliberationError if bad)."""
    reg = registry or Registry.load_default()
    cat = Catalogue.load_default()
    return Network(reg, cat, load_deliberations(deliberations_dir, registry=reg, catalogue=cat))
