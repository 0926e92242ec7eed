"""The portal's service catalogue: typed loading of ``data/services.yaml`` and search by words.

Why data and not code: the catalogue is what the portal *promises* (audience, purpose, minimum security
level, which data from which source); keeping it in one reviewed file lets the pages, the search and the
access checks all read the same declaration, and a wrong entry is refused at load time, not on a page.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

LANGUAGES: tuple[str, ...] = ("nl", "fr", "en")
"""The portal's languages; the first is the default."""

LEVELS: dict[int, str] = {500: "eid", 450: "itsme", 400: "app_or_sms", 200: "password"}
"""Authentication means by level (CSAM scale), highest first."""

PUBLIC = 0
"""Level of a service that needs no login."""

AUDIENCES: tuple[str, ...] = ("citizen", "employer", "researcher", "operator", "public")


class CatalogueError(ValueError):
    """The catalogue file is malformed; raised at load time so that no page shows a half entry."""


@dataclass(frozen=True, slots=True)
class DataUse:
    """One kind of data a service uses, and the kruispunt service that is its source."""

    what: Mapping[str, str]
    source: str


@dataclass(frozen=True, slots=True)
class Service:
    """One online service as declared in the catalogue."""

    id: str
    audience: tuple[str, ...]
    title: Mapping[str, str]
    purpose: Mapping[str, str]
    level: int
    data: tuple[DataUse, ...]
    backend: str | None
    path: str
    link: str | None = None

    @property
    def public(self) -> bool:
        return self.level == PUBLIC


def normalise(text: str) -> str:
    """Case- and accent-insensitive form, so that "societe" finds "société"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _texts(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or set(raw) != set(LANGUAGES):
        raise CatalogueError(f"{where}: needs exactly the languages {', '.join(LANGUAGES)}")
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        value = raw[lang]
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(f"{where}.{lang}: must be a non-empty string")
        out[lang] = value.strip()
    return out


def _service(raw: Any, index: int) -> Service:
    if not isinstance(raw, dict):
        raise CatalogueError(f"services[{index}]: must be a mapping")
    ident = raw.get("id")
    if not isinstance(ident, str) or not ident or not all(c.isalnum() or c == "-" for c in ident):
        raise CatalogueError(f"services[{index}].id: must be letters, digits and dashes")
    where = f"service {ident}"
    known = {"id", "audience", "title", "purpose", "level", "data", "backend", "path", "link"}
    if extra := set(raw) - known:
        raise CatalogueError(f"{where}: unknown fields {sorted(extra)}")
    audience = raw.get("audience")
    if not isinstance(audience, list) or not audience or not set(audience) <= set(AUDIENCES):
        raise CatalogueError(f"{where}.audience: a non-empty list of {', '.join(AUDIENCES)}")
    level = raw.get("level")
    if not isinstance(level, int) or isinstance(level, bool) or (level != PUBLIC and level not in LEVELS):
        raise CatalogueError(f"{where}.level: one of 0, {', '.join(str(x) for x in sorted(LEVELS))}")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        raise CatalogueError(f"{where}.path: must be an absolute portal path")
    link = raw.get("link")
    if link is not None and (not isinstance(link, str) or not link.startswith("/")):
        raise CatalogueError(f"{where}.link: must be a path on the backend service")
    backend = raw.get("backend")
    if backend is not None and (not isinstance(backend, str) or not backend):
        raise CatalogueError(f"{where}.backend: must be a service key")
    data_raw = raw.get("data")
    if not isinstance(data_raw, list) or not data_raw:
        raise CatalogueError(f"{where}.data: must list the data the service uses")
    data: list[DataUse] = []
    for k, item in enumerate(data_raw):
        if not isinstance(item, dict) or not isinstance(item.get("source"), str):
            raise CatalogueError(f"{where}.data[{k}]: needs what and source")
        data.append(DataUse(what=_texts(item.get("what"), f"{where}.data[{k}].what"), source=item["source"]))
    return Service(
        id=ident,
        audience=tuple(audience),
        title=_texts(raw.get("title"), f"{where}.title"),
        purpose=_texts(raw.get("purpose"), f"{where}.purpose"),
        level=level,
        data=tuple(data),
        backend=backend,
        path=path,
        link=link,
    )


class Catalogue:
    """The services in catalogue order, by id, and searchable in one language."""

    def __init__(self, services: Iterable[Service]) -> None:
        self.services: tuple[Service, ...] = tuple(services)
        self._by_id: dict[str, Service] = {}
        paths: set[str] = set()
        for s in self.services:
            if s.id in self._by_id:
                raise CatalogueError(f"service {s.id}: declared twice")
            if s.path in paths:
                raise CatalogueError(f"service {s.id}: path {s.path} already used")
            self._by_id[s.id] = s
            paths.add(s.path)

    def __len__(self) -> int:
        return len(self.services)

    def get(self, service_id: str) -> Service | None:
        return self._by_id.get(service_id)

    def for_audience(self, audience: str) -> list[Service]:
        return [s for s in self.services if audience in s.audience]

    def by_path(self, path: str) -> Service | None:
        return next((s for s in self.services if s.path == path), None)

    def search(self, query: str, lang: str) -> list[Service]:
        """Services whose title or purpose in ``lang`` contains every word of ``query``.

        Titles count more than purposes, so that "Dimona" lists the Dimona service before "my career".
        An empty query returns the whole catalogue.
        """
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        words = [w for w in normalise(query).split() if w]
        if not words:
            return list(self.services)
        scored: list[tuple[int, int, Service]] = []
        for order, s in enumerate(self.services):
            title = normalise(s.title[lang])
            purpose = normalise(s.purpose[lang])
            if all(w in title or w in purpose for w in words):
                score = sum(2 if w in title else 1 for w in words)
                scored.append((-score, order, s))
        return [s for _, _, s in sorted(scored, key=lambda t: (t[0], t[1]))]


def parse_catalogue(text: str) -> Catalogue:
    """A catalogue from YAML text (the format of ``data/services.yaml``)."""
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise CatalogueError("the catalogue needs a top-level list 'services'")
    return Catalogue(_service(raw, i) for i, raw in enumerate(document["services"]))


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The packaged catalogue, or the one at ``path``."""
    if path is not None:
        return parse_catalogue(path.read_text(encoding="utf-8"))
    text = resources.files("kruispunt.portal").joinpath("data/services.yaml").read_text(encoding="utf-8")
    return parse_catalogue(text)
