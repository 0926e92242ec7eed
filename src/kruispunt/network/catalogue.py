"""The message catalogue (knowledge directory: which message types exist, who provides them); reply filter.

Every message type is defined once, as data, in ``data/messages.yaml``: its request schema (JSON Schema
2020-12, compiled once), its providers and how the hub decides that a provider knows a person, and the field
paths its reply may hold. Deliberations allow a subset of those paths; :func:`filter_reply` keeps only that
subset and reports what it removed (the hub copies that list to ``dataFilters.filteredElement``).

Field paths: dotted names, ``[]`` after a name marks the items of a list (``persons[].address.nis_code``). An
allowed path also allows everything below it (``persons[].address`` allows the whole address; ``persons``
the whole list). ``"*"`` allows everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

Knows = Literal["directory", "secondary_network", "national_register_numbers", "bis_numbers", "any_person"]
"""How the hub decides that a provider knows a person: an active directory line of the provider itself
(``directory``), of any member of the secondary network the provider manages (``secondary_network``: the
hub routes to the managing institution, which routes to the member), every national-register / bis
number, or whatever person the request names (``any_person``: a declaration sent to an institution that
need not know the person yet, as the social-risk declarations the RSZ forwards)."""

LIST_ITEMS = "[]"
_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[\])?$")


class CatalogueError(ValueError):
    """``messages.yaml`` is invalid."""


# ------------------------------------------------------------------------------------------------------------
# field paths and the reply filter


def path_tokens(path: str) -> tuple[str, ...]:
    """``persons[].address.street`` → ``("persons", "[]", "address", "street")``; ValueError if malformed."""
    tokens: list[str] = []
    for segment in path.split("."):
        if not _SEGMENT.match(segment):
            raise ValueError(f"bad field path {path!r}: segment {segment!r}")
        if segment.endswith("[]"):
            tokens.extend((segment[:-2], LIST_ITEMS))
        else:
            tokens.append(segment)
    return tuple(tokens)


class _Node:
    __slots__ = ("all", "children", "items")

    def __init__(self) -> None:
        self.all = False
        self.children: dict[str, _Node] = {}
        self.items: _Node | None = None


class FieldFilter:
    """A set of allowed field paths compiled into a tree once; apply it with :func:`filter_reply`."""

    __slots__ = ("_root", "paths")

    def __init__(self, paths: Iterable[str] | Literal["*"]) -> None:
        root = _Node()
        if paths == "*":
            root.all = True
            self.paths: tuple[str, ...] = ("*",)
        else:
            self.paths = tuple(sorted(set(paths)))
            if "*" in self.paths:
                root.all = True
            for path in self.paths:
                if path == "*":
                    continue
                node = root
                for token in path_tokens(path):
                    if node.all:
                        break
                    if token == LIST_ITEMS:
                        if node.items is None:
                            node.items = _Node()
                        node = node.items
                    else:
                        node = node.children.setdefault(token, _Node())
                node.all = True
        self._root = root

    @property
    def allows_all(self) -> bool:
        return self._root.all

    def __repr__(self) -> str:
        return f"FieldFilter({list(self.paths)!r})"

    def apply(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        if not isinstance(data, Mapping):  # a reply whose data is not an object: nothing can be kept
            return {}, ["(data)"]
        if self._root.all:
            return dict(data), []
        removed: dict[str, None] = {}
        result = _filter_dict(data, self._root, "", removed)
        return result, list(removed)


_DROP = object()


def _filter_dict(
    data: Mapping[str, Any], node: _Node, prefix: str, removed: dict[str, None]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    children = node.children
    for key, value in data.items():
        child = children.get(key)
        if child is None:
            removed[f"{prefix}{key}"] = None
        elif child.all or value is None:
            out[key] = value
        else:
            kept = _filter_value(value, child, f"{prefix}{key}", removed)
            if kept is not _DROP:
                out[key] = kept
    return out


def _filter_value(value: Any, node: _Node, path: str, removed: dict[str, None]) -> Any:
    if isinstance(value, Mapping) and node.children:
        return _filter_dict(value, node, path + ".", removed)
    items = node.items
    if isinstance(value, list) and items is not None:
        if items.all:
            return list(value)
        item_path = path + "[]"
        out: list[Any] = []
        for item in value:
            if item is None:
                out.append(None)
                continue
            kept = _filter_value(item, items, item_path, removed)
            if kept is not _DROP:
                out.append(kept)
        return out
    # the value's shape is not what the allowed paths describe (e.g. a scalar where a record was expected)
    removed[path] = None
    return _DROP


@lru_cache(maxsize=1024)
def _compiled(paths: tuple[str, ...]) -> FieldFilter:
    return FieldFilter(paths)


def compile_fields(allowed_fields: Iterable[str] | Literal["*"] | FieldFilter) -> FieldFilter:
    """A (cached) :class:`FieldFilter` for these paths."""
    if isinstance(allowed_fields, FieldFilter):
        return allowed_fields
    if allowed_fields == "*":
        return _compiled(("*",))
    return _compiled(tuple(sorted(set(allowed_fields))))


def filter_reply(
    data: Mapping[str, Any], allowed_fields: Iterable[str] | Literal["*"] | FieldFilter
) -> tuple[dict[str, Any], list[str]]:
    """The reply ``data`` with only the allowed field paths kept, and the paths that were removed.

    Removed paths are reported once each, in the path notation (``persons[].address.nis_code``), in the order
    first met. Unknown fields (not in the allowed set) are removed too: deny by default.
    """
    return compile_fields(allowed_fields).apply(data)


def _has_type(schema: Mapping[str, Any], kind: str) -> bool:
    declared = schema.get("type")
    return declared == kind or (isinstance(declared, list) and kind in declared)


def schema_leaf_paths(schema: Mapping[str, Any], base: str = "") -> list[str]:
    """The field paths of a reply JSON Schema: objects by ``properties``, lists by ``items`` (``name[]``).

    A scalar, a list of scalars or an object without ``properties`` is a leaf. This is how a message type's
    ``reply_fields`` are derived from its ``reply_schema``, so the reply is defined once.
    """
    properties = schema.get("properties")
    if _has_type(schema, "object") and isinstance(properties, Mapping) and properties:
        paths: list[str] = []
        for name, sub in properties.items():
            paths.extend(schema_leaf_paths(sub, f"{base}.{name}" if base else str(name)))
        return paths
    items = schema.get("items")
    if base and _has_type(schema, "array") and isinstance(items, Mapping):
        inner = items.get("properties")
        if _has_type(items, "object") and isinstance(inner, Mapping) and inner:
            return schema_leaf_paths(items, f"{base}[]")
    return [base] if base else []


def path_is_within(path: str, reply_fields: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``reply_fields`` or a prefix of one (at a segment boundary)."""
    tokens = path_tokens(path)
    n = len(tokens)
    return any(path_tokens(f)[:n] == tokens for f in reply_fields)


# ------------------------------------------------------------------------------------------------------------
# message types


@dataclass(frozen=True, slots=True)
class Provider:
    institution: str
    knows: Knows


@dataclass(frozen=True, slots=True)
class SoapBinding:
    service_id: str
    version: str


@dataclass(frozen=True, eq=False)
class MessageType:
    name: str
    version: str
    title: str
    description: str
    person: Literal["required", "optional"]
    providers: tuple[Provider, ...]
    request_schema: Mapping[str, Any]
    reply_fields: tuple[str, ...]
    soap: SoapBinding | None = None
    reply_schema: Mapping[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def person_required(self) -> bool:
        return self.person == "required"

    @property
    def provider_kbos(self) -> tuple[str, ...]:
        return tuple(p.institution for p in self.providers)


class _ProviderModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    institution: str = Field(pattern=r"^[01][0-9]{9}$")
    knows: Knows


class _SoapModel(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    service_id: str
    version: str


class _MessageTypeModel(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    version: str = Field(pattern=r"^[0-9A-Za-z._-]{1,16}$")
    title: str
    description: str
    person: Literal["required", "optional"]
    providers: list[_ProviderModel] = Field(min_length=1)
    request_schema: dict[str, Any]
    reply_schema: dict[str, Any] | None = None
    reply_fields: list[str] | None = Field(default=None, min_length=1)
    soap: _SoapModel | None = None


class _CatalogueModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definitions: dict[str, Any] | None = None  # YAML anchors shared by the message types; not used directly
    message_types: list[_MessageTypeModel]


def _format_validation_error(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    if error.validator in ("oneOf", "anyOf") and isinstance(error.validator_value, list):
        alternatives = [
            str(s.get("description") or s.get("title") or f"alternative {i + 1}")
            if isinstance(s, dict)
            else f"alternative {i + 1}"
            for i, s in enumerate(error.validator_value)
        ]
        if error.context:
            return f"{where}: must match one of: " + "; or ".join(alternatives)
        return f"{where}: matches more than one of: " + "; ".join(alternatives)
    return f"{where}: {error.message}"


class Catalogue:
    """All message types, with their request validators compiled once."""

    def __init__(self, message_types: Iterable[MessageType]) -> None:
        by_key: dict[tuple[str, str], MessageType] = {}
        by_soap: dict[tuple[str, str], MessageType] = {}
        for mt in message_types:
            if mt.key in by_key:
                raise CatalogueError(f"message type {mt.name} v{mt.version} defined twice")
            by_key[mt.key] = mt
            if mt.soap is not None:
                by_soap[(mt.soap.service_id, mt.soap.version)] = mt
        self._by_key = by_key
        self._by_soap = by_soap
        # formats are asserted (a `format: date` that is not a real day is the caller's error, refused here
        # rather than by the source as a "bad reply")
        self._validators = {
            key: Draft202012Validator(mt.request_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
            for key, mt in by_key.items()
        }
        # the hot path: a compiled (Rust) validator answers "valid?" in about a microsecond; the pure-Python
        # one above is only asked for the wording of the errors when a body is not valid
        self._fast = {
            key: jsonschema_rs.Draft202012Validator(dict(mt.request_schema), validate_formats=True)
            for key, mt in by_key.items()
        }
        versions: dict[str, list[str]] = {}
        for name, version in by_key:
            versions.setdefault(name, []).append(version)
        self._versions = {k: tuple(sorted(v)) for k, v in versions.items()}

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        return cls.parse(path.read_text(encoding="utf-8"), source=str(path))

    @classmethod
    def load_default(cls) -> Catalogue:
        """The catalogue from the package data (parsed once per process)."""
        return _default_catalogue()

    @classmethod
    def parse(cls, text: str, *, source: str = "messages.yaml") -> Catalogue:
        try:
            doc = yaml.safe_load(text)
            model = _CatalogueModel.model_validate(doc)
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{source}: {exc}") from exc
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise CatalogueError(f"{source}: {problems}") from exc
        types: list[MessageType] = []
        for m in model.message_types:
            label = f"{source}: {m.name} v{m.version}"
            try:
                Draft202012Validator.check_schema(m.request_schema)
            except SchemaError as exc:
                raise CatalogueError(
                    f"{label}: request_schema is not a valid JSON Schema: {exc.message}"
                ) from exc
            if (m.reply_schema is None) == (m.reply_fields is None):
                raise CatalogueError(f"{label}: give exactly one of reply_schema and reply_fields")
            if m.reply_schema is not None:
                try:
                    Draft202012Validator.check_schema(m.reply_schema)
                except SchemaError as exc:
                    raise CatalogueError(
                        f"{label}: reply_schema is not a valid JSON Schema: {exc.message}"
                    ) from exc
                reply_fields = schema_leaf_paths(m.reply_schema)
                if not reply_fields:
                    raise CatalogueError(f"{label}: reply_schema describes no fields")
            else:
                assert m.reply_fields is not None
                reply_fields = m.reply_fields
            for path in reply_fields:
                try:
                    path_tokens(path)
                except ValueError as exc:
                    raise CatalogueError(f"{label}: {exc}") from exc
            if len(set(reply_fields)) != len(reply_fields):
                raise CatalogueError(f"{label}: reply_fields lists a path twice")
            types.append(
                MessageType(
                    name=m.name,
                    version=m.version,
                    title=m.title,
                    description=m.description,
                    person=m.person,
                    providers=tuple(Provider(p.institution, p.knows) for p in m.providers),
                    request_schema=m.request_schema,
                    reply_fields=tuple(reply_fields),
                    soap=SoapBinding(m.soap.service_id, m.soap.version) if m.soap else None,
                    reply_schema=m.reply_schema,
                )
            )
        return cls(types)

    def all(self) -> list[MessageType]:
        return [self._by_key[k] for k in sorted(self._by_key)]

    def get(self, name: str, version: str) -> MessageType | None:
        return self._by_key.get((name, version))

    def versions(self, name: str) -> tuple[str, ...]:
        return self._versions.get(name, ())

    def by_soap(self, service_id: str, version: str) -> MessageType | None:
        """The message type bound to a classic CBSS SOAP service (ServiceId, Version)."""
        return self._by_soap.get((service_id, version))

    def validate_request(self, mt: MessageType, body: Any) -> list[str]:
        """Human-readable schema errors of a request body (empty list when valid)."""
        known = self._by_key.get(mt.key) is mt
        fast = self._fast.get(mt.key) if known else None
        if fast is not None and fast.is_valid(body):
            return []
        validator = self._validators.get(mt.key) if known else None
        if validator is None:
            validator = Draft202012Validator(
                mt.request_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        errors = sorted(
            validator.iter_errors(body), key=lambda e: (list(map(str, e.absolute_path)), e.message)
        )
        # a value of the wrong type also fails every oneOf/anyOf alternative: report the type error only
        wrong_type = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
        problems = [
            _format_validation_error(e)
            for e in errors
            if not (e.validator in ("oneOf", "anyOf") and tuple(e.absolute_path) in wrong_type)
        ]
        # the two validators disagree only on corner cases (regex dialects); refuse rather than let it pass
        if not problems and fast is not None:
            return [f"the body does not match the {mt.name} v{mt.version} request schema"]
        return problems

    @staticmethod
    def filter_reply(
        data: Mapping[str, Any], allowed_fields: Iterable[str] | Literal["*"] | FieldFilter
    ) -> tuple[dict[str, Any], list[str]]:
        return filter_reply(data, allowed_fields)


@cache
def _default_catalogue() -> Catalogue:
    text = (resources.files("kruispunt.network") / "data" / "messages.yaml").read_text(encoding="utf-8")
    return Catalogue.parse(text, source="messages.yaml")
