"""XML Schemas of the message types, derived from their JSON Schemas, and JSON documents rendered as XML.

A message type is defined once, as data (``messages.yaml``); its XSD is generated from the request and reply
JSON Schemas, never written by hand. One XSD per message type holds two global elements, ``<Name>Request``
(the request body) and ``<Name>Reply`` (the reply ``data``), e.g. ``IdentifyPersonRequest``, in the target
namespace ``urn:kruispunt:messages:<name>:v<version>``. :func:`to_xml` renders a JSON document in the same
convention, so an XML client can validate what it sends and receives.

The convention (JSON Schema → XSD):

* **object** → an anonymous ``complexType`` whose ``sequence`` holds one element per property, in the order
  the schema lists them (:func:`to_xml` writes them in that order, whatever the order of the JSON members).
  Objects are closed, whether or not the JSON Schema says ``additionalProperties: false``: members the schema
  does not declare are not representable (a reply never holds any: the hub's filter removes them). An object
  without ``properties`` that is not closed is free-form: any content (``xs:any processContents="skip"``),
  rendered member by member.
* **required** → ``minOccurs="1"``, otherwise ``minOccurs="0"`` — in requests. In replies every element is
  optional: the hub removes the fields the requester's deliberation does not allow, so a field the reply
  schema requires may be absent from what a requester receives (the annotation still says "required").
* **array** → the property's element repeated (``maxOccurs="unbounded"`` or ``maxItems``); no wrapper
  element: ``{"members": [{…}, {…}]}`` is ``<members>…</members><members>…</members>``. An empty list and an
  absent list are both no element. A list directly inside a list (or as the whole document) repeats ``item``.
* **string** → ``xs:string`` with facets: ``pattern`` (the JSON Schema regex translated to the XSD dialect:
  anchors ``^…$`` dropped, an unanchored side padded with ``[\\s\\S]*``, ``\\d`` → ``[0-9]``, ``(?:`` → ``(``;
  a regex XSD cannot express is left out and named in an annotation), ``enum``/``const`` → ``enumeration``,
  ``minLength``/``maxLength``. ``format: date`` → ``xs:date``, ``date-time`` → ``xs:dateTime``, ``time`` →
  ``xs:time``.
* **integer** → ``xs:integer``, **number** → ``xs:decimal``, with ``minimum``/``maximum``/``exclusive…`` →
  ``minInclusive``/``maxInclusive``/``minExclusive``/``maxExclusive``; **boolean** → ``xs:boolean``
  (``true``/``false``). Several scalar types (``[string, integer]``) → ``xs:string``.
* **null** allowed (``type: [string, "null"]``, ``null`` in an ``enum``) → ``nillable="true"``; a JSON
  ``null`` is written ``xsi:nil="true"``.
* **oneOf / anyOf / not / if-then-else / dependentRequired** (as in ``identify_person``) → the union of the
  properties every alternative names, each optional (unless the object's own ``required`` lists it), with an
  ``xs:annotation`` stating which combinations the JSON Schema enforces — the XSD alone does not. ``allOf``
  is merged. Local ``$ref`` (``#/…``) is inlined; a recursive schema is refused.
* A schema without any type (``{}``) is any content, like a free-form object; a list given there is written
  as the element repeated.
* ``title``/``description`` become ``xs:documentation``. Keywords XSD cannot express (``multipleOf``,
  ``uniqueItems``, …) are named in the annotation.

A message type that still lists ``reply_fields`` instead of a ``reply_schema`` gets a reply schema derived
from those paths (:func:`reply_schema_of`): the structure is known, the leaf types are not (any content).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, Literal, cast

from lxml import etree

from kruispunt.network.catalogue import LIST_ITEMS, MessageType, path_tokens

XS: Final = "http://www.w3.org/2001/XMLSchema"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
ITEM: Final = "item"
"""The element of each item of a list that is directly inside a list (or is the whole document)."""

Role = Literal["request", "reply"]
ROLES: Final[tuple[Role, ...]] = ("request", "reply")

_ANY_TEXT: Final = r"[\s\S]*"
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# JSON Schema keywords that this convention does not express in XSD (they are named in an annotation)
_NOT_EXPRESSED: Final = (
    "multipleOf",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "propertyNames",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "prefixItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentSchemas",
)
_COMBINATORS: Final = ("oneOf", "anyOf", "not", "if", "then", "else", "dependentRequired")


class XsdError(ValueError):
    """A schema or a document cannot be expressed in the XML convention."""


def target_namespace(mt: MessageType) -> str:
    """``urn:kruispunt:messages:<name>:v<version>``."""
    return f"urn:kruispunt:messages:{mt.name}:v{mt.version}"


def root_name(mt: MessageType, role: Role) -> str:
    """The global element of a request or reply: ``identify_person`` → ``IdentifyPersonRequest``."""
    stem = "".join(part[:1].upper() + part[1:] for part in mt.name.split("_") if part)
    return f"{stem}{'Request' if role == 'request' else 'Reply'}"


def xsd_file_name(mt: MessageType) -> str:
    """How the XSD is named when served or saved: ``<name>.xsd``."""
    return f"{mt.name}.xsd"


# ------------------------------------------------------------------------------------------------------------
# the reply schema of a message type


def reply_schema_of(mt: MessageType) -> dict[str, Any]:
    """The reply JSON Schema: the catalogue's, or one derived from ``reply_fields`` (leaf types unknown)."""
    if mt.reply_schema is not None:
        return dict(mt.reply_schema)
    return schema_from_paths(mt.reply_fields)


def schema_from_paths(paths: Iterable[str]) -> dict[str, Any]:
    """A JSON Schema with the structure the field paths describe; every leaf is any value."""
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for path in paths:
        node = root
        tokens = path_tokens(path)
        for i, token in enumerate(tokens):
            if token == LIST_ITEMS:
                continue
            last = i == len(tokens) - 1
            listed = not last and tokens[i + 1] == LIST_ITEMS
            ends_listed = listed and i + 1 == len(tokens) - 1
            props = node.setdefault("properties", {})
            if last or ends_listed:
                props.setdefault(token, {"type": "array", "items": {}} if ends_listed else {})
                break
            child = props.setdefault(token, {})
            if listed:
                child.setdefault("type", "array")
                node = child.setdefault("items", {"type": "object", "properties": {}})
            else:
                child.setdefault("type", "object")
                child.setdefault("properties", {})
                node = child
    root["$comment"] = "derived from reply_fields: the structure is known, the leaf types are not"
    return root


# ------------------------------------------------------------------------------------------------------------
# JSON Schema regex → XSD regex


class _Untranslatable(Exception):
    pass


_OUTSIDE_META: Final = frozenset("\\|.-^?*+{}()[]")
_INSIDE_META: Final = frozenset("\\[]-^")
_QUANTIFIER = re.compile(r"\{[0-9]+(,[0-9]*)?\}")


def _xml_char_ok(ch: str) -> bool:
    cp = ord(ch)
    return (
        cp in (0x9, 0xA, 0xD) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or 0x10000 <= cp <= 0x10FFFF
    )


def _literal(ch: str, in_class: bool) -> str:
    if not _xml_char_ok(ch):
        raise _Untranslatable
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    meta = _INSIDE_META if in_class else _OUTSIDE_META
    return "\\" + ch if ch in meta else ch


def _split_alternatives(pattern: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1  # "[]…" — an empty class in ECMA; refused later
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _escape(body: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape at ``body[i]`` (a backslash); return the XSD text and the next index."""
    if i + 1 >= len(body):
        raise _Untranslatable
    e = body[i + 1]
    simple = {
        "d": ("0-9", "[0-9]"),
        "w": ("A-Za-z0-9_", "[A-Za-z0-9_]"),
        "s": ("\\s", "\\s"),
        "S": ("\\S", "\\S"),
        "n": ("\\n", "\\n"),
        "r": ("\\r", "\\r"),
        "t": ("\\t", "\\t"),
    }
    if e in simple:
        return simple[e][0 if in_class else 1], i + 2
    if e in "DW":
        if in_class:
            raise _Untranslatable
        return ("[^0-9]" if e == "D" else "[^A-Za-z0-9_]"), i + 2
    if e in "pP" and body[i + 2 : i + 3] == "{":
        end = body.find("}", i + 3)
        if end < 0:
            raise _Untranslatable
        return body[i : end + 1], end + 1
    if e == "x":
        digits = body[i + 2 : i + 4]
        if len(digits) != 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise _Untranslatable
        return _literal(chr(int(digits, 16)), in_class), i + 4
    if e == "u":
        if body[i + 2 : i + 3] == "{":
            end = body.find("}", i + 3)
            digits = body[i + 3 : end] if end > 0 else ""
            nxt = end + 1
        else:
            digits = body[i + 2 : i + 6]
            nxt = i + 6
        if not digits or len(digits) > 6 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise _Untranslatable
        return _literal(chr(int(digits, 16)), in_class), nxt
    if e.isalnum():  # \b \B \f \v \0 \c… \k<…> and back references have no XSD equivalent
        raise _Untranslatable
    return _literal(e, in_class), i + 2


def _translate_body(body: str) -> str:
    out: list[str] = []
    i = 0
    in_class = False
    class_start = False
    after_quantifier = False
    while i < len(body):
        c = body[i]
        if c == "\\":
            text, i = _escape(body, i, in_class)
            out.append(text)
            class_start = False
            after_quantifier = False
            continue
        if in_class:
            if c == "]" and not class_start:
                in_class = False
                out.append("]")
            elif c == "^" and class_start and out[-1] == "[":
                out.append("^")
                i += 1
                if body[i : i + 1] == "]":
                    raise _Untranslatable  # "[^]": any character including newlines
                continue
            elif c == "]":
                raise _Untranslatable  # "[]": an empty class
            else:
                out.append(c if c == "-" else _literal(c, True))
            class_start = False
            i += 1
            continue
        if c == "[":
            in_class = True
            class_start = True
            out.append("[")
            i += 1
            after_quantifier = False
            continue
        if c == "(":
            if body.startswith("(?:", i):
                out.append("(")
                i += 3
            elif body.startswith("(?<", i) and body[i + 3 : i + 4] not in ("=", "!"):
                end = body.find(">", i)
                if end < 0:
                    raise _Untranslatable
                out.append("(")
                i = end + 1
            elif body.startswith("(?", i):
                raise _Untranslatable  # look-around
            else:
                out.append("(")
                i += 1
            after_quantifier = False
            continue
        if c in "^$":
            raise _Untranslatable  # an anchor inside the pattern
        if c == "?" and after_quantifier:  # a lazy quantifier matches the same strings
            after_quantifier = False
            i += 1
            continue
        if c == "{":
            m = _QUANTIFIER.match(body, i)
            if m is not None:
                out.append(m.group(0))
                i = m.end()
                after_quantifier = True
                continue
            out.append("\\{")
            i += 1
            after_quantifier = False
            continue
        if c == "}":
            out.append("\\}")
        elif c in "*+?":
            out.append(c)
            after_quantifier = True
            i += 1
            continue
        else:
            if not _xml_char_ok(c):
                raise _Untranslatable
            out.append(c)
        after_quantifier = False
        i += 1
    if in_class:
        raise _Untranslatable
    return "".join(out)


def _trailing_dollar(alt: str) -> bool:
    if not alt.endswith("$"):
        return False
    backslashes = len(alt) - 1 - len(alt[:-1].rstrip("\\"))
    return backslashes % 2 == 0


def translate_pattern(pattern: str) -> str | None:
    """The XSD regex matching the same strings as a JSON Schema (ECMA-262) ``pattern``; None if not possible.

    JSON Schema searches anywhere in the string unless anchored; an XSD pattern always matches the whole
    value. So each top-level alternative loses its ``^``/``$`` or gains ``[\\s\\S]*`` on the open side.
    """
    try:
        parts = []
        for alt in _split_alternatives(pattern):
            anchored_start = alt.startswith("^")
            if anchored_start:
                alt = alt[1:]
            anchored_end = _trailing_dollar(alt)
            if anchored_end:
                alt = alt[:-1]
            body = _translate_body(alt)
            parts.append(("" if anchored_start else _ANY_TEXT) + body + ("" if anchored_end else _ANY_TEXT))
    except _Untranslatable:
        return None
    return "|".join(parts)


# ------------------------------------------------------------------------------------------------------------
# JSON Schema → shape


Kind = Literal["object", "array", "scalar", "any"]


@dataclass(frozen=True)
class Prop:
    name: str
    shape: Shape
    required: bool


@dataclass(frozen=True)
class Shape:
    """A JSON Schema reduced to what the XML convention (and the docs) need."""

    kind: Kind
    nullable: bool = False
    title: str | None = None
    description: str | None = None
    notes: tuple[str, ...] = ()
    # object
    properties: tuple[Prop, ...] = ()
    closed: bool = True
    # array
    items: Shape | None = None
    min_items: int = 0
    max_items: int | None = None
    # scalar
    json_types: tuple[str, ...] = ()
    base: str = "xs:string"
    format: str | None = None
    pattern: str | None = None
    xsd_pattern: str | None = None
    enum: tuple[Any, ...] = ()
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    exclusive_minimum: int | float | None = None
    exclusive_maximum: int | float | None = None

    def prop(self, name: str) -> Prop | None:
        return next((p for p in self.properties if p.name == name), None)


_SCALAR_BASE: Final = {
    "string": "xs:string",
    "integer": "xs:integer",
    "number": "xs:decimal",
    "boolean": "xs:boolean",
}
_FORMAT_BASE: Final = {"date": "xs:date", "date-time": "xs:dateTime", "time": "xs:time"}


class _Resolver:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.active: list[str] = []
        self.depth = 0

    def deref(self, schema: Any) -> Mapping[str, Any]:
        if schema is True or schema is None:
            return {}
        if schema is False:
            raise XsdError("a schema that allows nothing (false) has no XML form")
        if not isinstance(schema, Mapping):
            raise XsdError(f"not a schema: {schema!r}")
        return schema

    def pointer(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            raise XsdError(f"only local $ref is supported, not {ref!r}")
        node: Any = self.root
        for raw in ref[1:].split("/")[1:] if ref != "#" else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise XsdError(f"$ref {ref!r} points nowhere")
        return self.deref(node)


def _merge_all_of(schema: Mapping[str, Any], resolver: _Resolver) -> dict[str, Any]:
    """``schema`` with its ``$ref`` and ``allOf`` merged into one mapping (properties and required united)."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k not in ("allOf", "$ref")}
    parts: list[Mapping[str, Any]] = []
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in resolver.active:
            raise XsdError(f"recursive schema ($ref {ref}) has no finite XSD form in this convention")
        resolver.active.append(ref)
        try:
            parts.append(_merge_all_of(resolver.pointer(ref), resolver))
        finally:
            resolver.active.pop()
    for sub in schema.get("allOf") or ():
        parts.append(_merge_all_of(resolver.deref(sub), resolver))
    for part in parts:
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**dict(value), **dict(merged.get("properties") or {})}
            elif key == "required":
                merged["required"] = list(dict.fromkeys([*(merged.get("required") or []), *value]))
            elif key in _COMBINATORS and key in merged:
                merged.setdefault("x-merged", []).append({key: value})
            else:
                merged.setdefault(key, value)
    return merged


def _json_types(schema: Mapping[str, Any]) -> tuple[list[str], bool]:
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    nullable = "null" in types
    values: list[Any] = []
    if "enum" in schema and isinstance(schema["enum"], list):
        values = list(schema["enum"])
    elif "const" in schema:
        values = [schema["const"]]
    if values and None in values:
        nullable = True
    non_null = [t for t in types if t != "null"]
    if not non_null and values:
        inferred: list[str] = []
        for v in values:
            if v is None:
                continue
            kind = (
                "boolean"
                if isinstance(v, bool)
                else "integer"
                if isinstance(v, int)
                else "number"
                if isinstance(v, float)
                else "string"
                if isinstance(v, str)
                else "object"
                if isinstance(v, Mapping)
                else "array"
            )
            if kind not in inferred:
                inferred.append(kind)
        non_null = inferred
    if not non_null and not types:
        if "properties" in schema or "additionalProperties" in schema or "required" in schema:
            non_null = ["object"]
        elif "items" in schema:
            non_null = ["array"]
    return non_null, nullable


def _words(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _required_names(schema: Any) -> list[str]:
    if isinstance(schema, Mapping) and isinstance(schema.get("required"), list):
        return [str(n) for n in schema["required"]]
    return []


def _forbidden(schema: Mapping[str, Any]) -> list[str]:
    """Names a ``not`` forbids: ``not: {required: [x]}`` or ``not: {anyOf: [{required: [x]}, …]}``."""
    negated = schema.get("not")
    if not isinstance(negated, Mapping):
        return []
    names = _required_names(negated) if len(_required_names(negated)) == 1 else []
    for sub in negated.get("anyOf") or negated.get("oneOf") or ():
        subnames = _required_names(sub)
        if len(subnames) == 1:
            names.extend(subnames)
    return list(dict.fromkeys(names))


def _branch_text(branch: Any, number: int) -> str:
    if not isinstance(branch, Mapping):
        return f"alternative {number}"
    label = branch.get("description") or branch.get("title")
    facts = []
    required = _required_names(branch)
    if required:
        facts.append(f"requires {_words(required)}")
    forbidden = _forbidden(branch)
    if forbidden:
        facts.append(f"forbids {_words(forbidden)}")
    elif "not" in branch:
        facts.append("with a 'not' condition")
    others = sorted(
        k
        for k in branch
        if k not in ("title", "description", "required", "not", "properties", "$comment", "type")
    )
    if others:
        facts.append("and " + ", ".join(others))
    text = " ".join(str(label).split()) if label else f"alternative {number}"
    return f"{text} ({'; '.join(facts)})" if facts else text


def combination_notes(schema: Mapping[str, Any]) -> list[str]:
    """Sentences stating the combinations of properties a JSON Schema object enforces beyond ``required``."""
    notes: list[str] = []
    for keyword, lead in (("oneOf", "Exactly one of"), ("anyOf", "At least one of")):
        branches = schema.get(keyword)
        if isinstance(branches, list) and branches:
            listed = "; ".join(f"({i}) {_branch_text(b, i)}" for i, b in enumerate(branches, 1))
            notes.append(f"{lead}: {listed}.")
    if isinstance(schema.get("not"), Mapping):
        forbidden = _forbidden(schema)
        notes.append(
            f"Must not give {' or '.join(repr(n) for n in forbidden)}."
            if forbidden
            else "Must not match the schema under 'not'."
        )
    if "if" in schema:
        cond = _branch_text(schema["if"], 1)
        parts = [f"If {cond}"]
        if "then" in schema:
            parts.append(f"then {_branch_text(schema['then'], 2)}")
        if "else" in schema:
            parts.append(f"else {_branch_text(schema['else'], 3)}")
        notes.append(", ".join(parts) + ".")
    dependent = schema.get("dependentRequired")
    if isinstance(dependent, Mapping):
        for name, needs in dependent.items():
            notes.append(f"If '{name}' is given, {_words(needs)} must be given too.")
    for merged in schema.get("x-merged") or ():
        notes.extend(combination_notes(merged))
    return notes


def _branch_properties(schema: Mapping[str, Any], resolver: _Resolver) -> dict[str, Any]:
    """Properties named only inside oneOf/anyOf/not/if/then/else (with a schema when the branch gives one)."""
    found: dict[str, Any] = {}

    def visit(node: Any) -> None:
        if isinstance(node, bool) or not isinstance(node, Mapping):
            return
        node = _merge_all_of(resolver.deref(node), resolver)
        for name, sub in (node.get("properties") or {}).items():
            found.setdefault(str(name), sub)
        for name in _required_names(node):
            found.setdefault(name, True)
        for key in ("oneOf", "anyOf"):
            for sub in node.get(key) or ():
                visit(sub)
        for key in ("not", "if", "then", "else"):
            if key in node:
                visit(node[key])

    for key in ("oneOf", "anyOf"):
        for sub in schema.get(key) or ():
            visit(sub)
    for key in ("not", "if", "then", "else"):
        if key in schema:
            visit(schema[key])
    for merged in schema.get("x-merged") or ():
        for key, value in merged.items():
            visit({key: value})
    for name, needs in (schema.get("dependentRequired") or {}).items():
        found.setdefault(str(name), True)
        for n in needs:
            found.setdefault(str(n), True)
    return found


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _check_name(name: str, where: str) -> str:
    if not _NCNAME.match(name):
        raise XsdError(f"{where}: property name {name!r} is not a valid XML element name")
    return name


_MAX_DEPTH: Final = 64


def _shape(schema: Any, resolver: _Resolver, where: str) -> Shape:
    if resolver.depth >= _MAX_DEPTH:
        raise XsdError(f"{where}: nested too deep — a recursive schema has no finite XSD form here")
    resolver.depth += 1
    try:
        return _shape_of(schema, resolver, where)
    finally:
        resolver.depth -= 1


def _shape_of(schema: Any, resolver: _Resolver, where: str) -> Shape:
    s = _merge_all_of(resolver.deref(schema), resolver)
    types, nullable = _json_types(s)
    title = s.get("title") if isinstance(s.get("title"), str) else None
    description = s.get("description") if isinstance(s.get("description"), str) else None
    unexpressed = [
        k if isinstance(s[k], Mapping | list) else f"{k} {s[k]!r}" for k in _NOT_EXPRESSED if k in s
    ]
    notes = []
    if unexpressed:
        notes.append(
            "Not expressed in this XSD, enforced by the JSON Schema: " + "; ".join(unexpressed) + "."
        )
    common: dict[str, Any] = {"nullable": nullable, "title": title, "description": description}
    if types == ["object"]:
        declared = dict(s.get("properties") or {})
        closed = s.get("additionalProperties") is False
        combos = combination_notes(s)
        extra_props = _branch_properties(s, resolver) if combos else {}
        if not declared and not extra_props and not closed:  # free-form
            return Shape(kind="any", json_types=("object",), notes=tuple(notes), **common)
        required = set(_required_names(s))
        props: list[Prop] = []
        for name, sub in declared.items():
            props.append(
                Prop(
                    _check_name(str(name), where), _shape(sub, resolver, f"{where}.{name}"), name in required
                )
            )
        for name, sub in extra_props.items():
            if name in declared:
                continue
            sub_schema = sub if isinstance(sub, Mapping) else {}
            props.append(
                Prop(
                    _check_name(name, where),
                    _shape(sub_schema, resolver, f"{where}.{name}"),
                    name in required,
                )
            )
        missing = [n for n in required if n not in {p.name for p in props}]
        for name in missing:
            props.append(Prop(_check_name(name, where), Shape(kind="any"), True))
        notes = [*combos, *notes]
        if combos:
            notes.append("Those combinations are enforced by the JSON Schema, not by this XSD.")
        return Shape(kind="object", properties=tuple(props), closed=closed, notes=tuple(notes), **common)
    if types == ["array"]:
        items = s.get("items")
        item_shape = _shape(items if items is not None else {}, resolver, f"{where}[]")
        min_items = int(s["minItems"]) if isinstance(s.get("minItems"), int) else 0
        max_items = int(s["maxItems"]) if isinstance(s.get("maxItems"), int) else None
        return Shape(
            kind="array",
            items=item_shape,
            min_items=min_items,
            max_items=max_items,
            notes=tuple(notes),
            **common,
        )
    if not types or any(t in ("object", "array") for t in types):
        common["nullable"] = nullable or not types  # a schema without a type allows null too
        return Shape(kind="any", json_types=tuple(types), notes=tuple(notes), **common)
    # scalars
    fmt = s.get("format") if isinstance(s.get("format"), str) else None
    if len(types) == 1:
        base = _SCALAR_BASE.get(types[0], "xs:string")
        if types[0] == "string" and fmt in _FORMAT_BASE:
            base = _FORMAT_BASE[fmt]
    else:
        base = "xs:decimal" if set(types) <= {"integer", "number"} else "xs:string"
    values = list(s["enum"]) if isinstance(s.get("enum"), list) else [s["const"]] if "const" in s else []
    enum = tuple(v for v in values if v is not None)
    pattern = s.get("pattern") if isinstance(s.get("pattern"), str) else None
    xsd_pattern = translate_pattern(pattern) if pattern is not None else None
    if pattern is not None and xsd_pattern is None:
        notes.append(f"The pattern {pattern!r} has no XSD equivalent; it is enforced by the JSON Schema.")
    return Shape(
        kind="scalar",
        json_types=tuple(types),
        base=base,
        format=fmt,
        pattern=pattern,
        xsd_pattern=xsd_pattern,
        enum=enum,
        min_length=s.get("minLength") if isinstance(s.get("minLength"), int) else None,
        max_length=s.get("maxLength") if isinstance(s.get("maxLength"), int) else None,
        minimum=_number(s.get("minimum")),
        maximum=_number(s.get("maximum")),
        exclusive_minimum=_number(s.get("exclusiveMinimum")),
        exclusive_maximum=_number(s.get("exclusiveMaximum")),
        notes=tuple(notes),
        **common,
    )


def shape_of(schema: Mapping[str, Any]) -> Shape:
    """The shape of a JSON Schema (``$ref`` inlined, ``allOf`` merged, combinations as notes)."""
    return _shape(schema, _Resolver(schema), "(root)")


@lru_cache(maxsize=256)
def message_shape(mt: MessageType, role: Role) -> Shape:
    """The shape of a message type's request body or reply data (cached per message type object)."""
    return shape_of(mt.request_schema if role == "request" else reply_schema_of(mt))


# ------------------------------------------------------------------------------------------------------------
# shape → XSD


def _nsmap(default: str, **prefixed: str) -> Any:
    """An nsmap with a default namespace (lxml-stubs only type prefixed ones)."""
    mapping: dict[str | None, str] = {None: default}
    mapping.update(prefixed)
    return mapping


def _xs(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{XS}}}{tag}")
    for key, value in attrs.items():
        node.set(key, value)
    return node


def _lexical(value: Any, base: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if base == "xs:integer" and isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def _documentation(
    node: etree._Element, shape: Shape, extra: Sequence[str] = (), lead: Sequence[str] = ()
) -> None:
    texts = [t for t in (shape.title, shape.description) if t]
    texts = [*lead, *(" ".join(t.split()) for t in texts), *shape.notes, *extra]
    if texts:
        annotation = _xs(node, "annotation")
        for text in texts:
            _xs(annotation, "documentation").text = text


def _facets(restriction: etree._Element, shape: Shape) -> None:
    base = shape.base
    if base == "xs:boolean":
        if shape.enum:
            _xs(restriction, "pattern", value="|".join(sorted({_lexical(v, base) for v in shape.enum})))
        return
    numeric = base in ("xs:integer", "xs:decimal")
    bounds: list[tuple[str, int | float | None]] = [
        ("minInclusive", shape.minimum),
        ("maxInclusive", shape.maximum),
        ("minExclusive", shape.exclusive_minimum),
        ("maxExclusive", shape.exclusive_maximum),
    ]
    if numeric:
        for tag, bound in bounds:
            if bound is None:
                continue
            if base == "xs:integer" and isinstance(bound, float) and not bound.is_integer():
                bound = math.ceil(bound) if tag.startswith("min") else math.floor(bound)
                tag = tag.replace("Exclusive", "Inclusive")
            _xs(restriction, tag, value=_lexical(bound, base))
    elif base == "xs:string":
        if shape.min_length is not None:
            _xs(restriction, "minLength", value=str(shape.min_length))
        if shape.max_length is not None:
            _xs(restriction, "maxLength", value=str(shape.max_length))
    for value in shape.enum:
        _xs(restriction, "enumeration", value=_lexical(value, base))
    if shape.xsd_pattern is not None:
        _xs(restriction, "pattern", value=shape.xsd_pattern)


def _has_facets(shape: Shape) -> bool:
    return bool(
        shape.enum
        or shape.xsd_pattern is not None
        or (shape.base == "xs:string" and (shape.min_length is not None or shape.max_length is not None))
        or (
            shape.base in ("xs:integer", "xs:decimal")
            and any(
                b is not None
                for b in (shape.minimum, shape.maximum, shape.exclusive_minimum, shape.exclusive_maximum)
            )
        )
    )


def _any_content(element: etree._Element) -> None:
    complex_type = _xs(element, "complexType", mixed="true")
    sequence = _xs(complex_type, "sequence")
    _xs(sequence, "any", processContents="skip", minOccurs="0", maxOccurs="unbounded", namespace="##any")
    _xs(complex_type, "anyAttribute", processContents="skip", namespace="##any")


def _content(element: etree._Element, shape: Shape, role: Role) -> None:
    """Give ``element`` the type of ``shape`` (an anonymous type, or a built-in via ``type``)."""
    if shape.kind == "any":
        _any_content(element)
    elif shape.kind == "object":
        complex_type = _xs(element, "complexType")
        if shape.properties:
            sequence = _xs(complex_type, "sequence")
            for prop in shape.properties:
                _declare(sequence, prop.name, prop.shape, required=prop.required, role=role)
    elif shape.kind == "array":
        assert shape.items is not None
        sequence = _xs(_xs(element, "complexType"), "sequence")
        _declare(sequence, ITEM, shape, required=shape.min_items > 0, role=role)
    elif _has_facets(shape):
        restriction = _xs(_xs(element, "simpleType"), "restriction", base=shape.base)
        _facets(restriction, shape)
    else:
        element.set("type", shape.base)


def _repeats(shape: Shape) -> bool:
    """Whether a property of unknown shape may be a list, written as its element repeated."""
    return shape.kind == "any" and (not shape.json_types or "array" in shape.json_types)


def _declare(parent: etree._Element, name: str, shape: Shape, *, required: bool, role: Role) -> None:
    """The element(s) for one property: repeated for a list, nillable when null is allowed."""
    element = _xs(parent, "element", name=name)
    extra: list[str] = []
    if required and role == "reply":
        extra.append("Required in the reply schema; absent when the requester's deliberation removes it.")
    if shape.kind == "array":
        assert shape.items is not None
        items = shape.items
        if shape.nullable:
            extra.append("A null list is written as no element.")
        minimum = shape.min_items if required and role == "request" else 0
        element.set("minOccurs", str(minimum))
        element.set("maxOccurs", str(shape.max_items) if shape.max_items is not None else "unbounded")
        if items.nullable:
            element.set("nillable", "true")
        _documentation(element, shape, extra)
        _content(element, items, role)
        return
    element.set("minOccurs", "1" if required and role == "request" else "0")
    if _repeats(shape):
        element.set("maxOccurs", "unbounded")  # a list given where the type is unknown: repeated element
    if shape.nullable:
        element.set("nillable", "true")
    _documentation(element, shape, extra)
    _content(element, shape, role)


def _root(schema_node: etree._Element, mt: MessageType, role: Role) -> None:
    shape = message_shape(mt, role)
    element = _xs(schema_node, "element", name=root_name(mt, role))
    if shape.nullable:
        element.set("nillable", "true")
    what = "The request body" if role == "request" else "The reply data (after the hub's field filter)"
    _documentation(element, shape, lead=[f"{what} of {mt.name} v{mt.version}."])
    _content(element, shape, role)


@lru_cache(maxsize=256)
def message_xsd(mt: MessageType) -> str:
    """The XSD of a message type: global elements ``<Name>Request`` and ``<Name>Reply``."""
    ns = target_namespace(mt)
    schema = etree.Element(f"{{{XS}}}schema", nsmap=_nsmap(ns, xs=XS))
    schema.set("targetNamespace", ns)
    schema.set("elementFormDefault", "qualified")
    schema.set("version", mt.version)
    annotation = _xs(schema, "annotation")
    _xs(annotation, "documentation").text = f"{mt.name} v{mt.version}: {' '.join(mt.title.split())}"
    _xs(annotation, "documentation").text = " ".join(mt.description.split())
    _xs(annotation, "documentation").text = (
        "Generated by kruispunt from the message catalogue (messages.yaml): do not edit. Convention: "
        "one element per JSON member in schema order; a list is its element repeated (a list in a list "
        "repeats 'item'); JSON null is xsi:nil; objects are closed (members a schema does not declare "
        "are not represented); reply elements are all optional (the hub's deliberation filter)."
    )
    for role in ROLES:
        _root(schema, mt, role)
    text = etree.tostring(schema, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return text.decode("utf-8")


def request_xsd(mt: MessageType) -> str:
    """The XSD holding ``<Name>Request`` (the same document as :func:`message_xsd`)."""
    return message_xsd(mt)


def reply_xsd(mt: MessageType) -> str:
    """The XSD holding ``<Name>Reply`` (the same document as :func:`message_xsd`)."""
    return message_xsd(mt)


@lru_cache(maxsize=256)
def xml_schema(mt: MessageType) -> etree.XMLSchema:
    """The compiled XSD of a message type; :class:`XsdError` when lxml refuses it."""
    try:
        return etree.XMLSchema(etree.fromstring(message_xsd(mt).encode("utf-8")))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise XsdError(f"{mt.name} v{mt.version}: the generated XSD does not compile: {exc}") from exc


# ------------------------------------------------------------------------------------------------------------
# JSON → XML


def _scalar_text(shape: Shape, value: Any, where: str) -> str:
    if isinstance(value, Mapping | list):
        raise XsdError(f"{where}: expected a {shape.base} value, got {type(value).__name__}")
    return _lexical(value, shape.base)


def _set_text(node: etree._Element, text: str, where: str) -> None:
    try:
        node.text = text
    except ValueError as exc:
        raise XsdError(f"{where}: {exc}") from exc


def _tag(parent: etree._Element, name: str) -> str:
    ns = etree.QName(parent).namespace
    return f"{{{ns}}}{name}" if ns else name


def _fill_any(node: etree._Element, value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            name = _check_name(str(key), where)
            for item in sub if isinstance(sub, list) else [sub]:
                _fill_any(etree.SubElement(node, _tag(node, name)), item, f"{where}.{name}")
    elif isinstance(value, list):
        for item in value:
            _fill_any(etree.SubElement(node, _tag(node, ITEM)), item, f"{where}[]")
    elif value is None:
        node.set(f"{{{XSI}}}nil", "true")
    else:
        _set_text(node, _lexical(value, "xs:string"), where)


def _fill(node: etree._Element, shape: Shape, value: Any, where: str) -> None:
    if value is None:
        if not shape.nullable:
            raise XsdError(f"{where}: null is not allowed here")
        node.set(f"{{{XSI}}}nil", "true")
        return
    if shape.kind == "any":
        _fill_any(node, value, where)
    elif shape.kind == "object":
        if not isinstance(value, Mapping):
            raise XsdError(f"{where}: expected an object, got {type(value).__name__}")
        known = {p.name for p in shape.properties}
        unknown = [str(k) for k in value if k not in known]
        if unknown:
            raise XsdError(f"{where}: member(s) {', '.join(unknown)} not declared by the schema")
        for prop in shape.properties:
            if prop.name not in value:
                continue
            _member(node, prop.name, prop.shape, value[prop.name], f"{where}.{prop.name}")
    elif shape.kind == "array":
        assert shape.items is not None
        if not isinstance(value, list):
            raise XsdError(f"{where}: expected a list, got {type(value).__name__}")
        for item in value:
            _fill(etree.SubElement(node, _tag(node, ITEM)), shape.items, item, f"{where}[]")
    else:
        _set_text(node, _scalar_text(shape, value, where), where)


def _member(parent: etree._Element, name: str, shape: Shape, value: Any, where: str) -> None:
    tag = _tag(parent, name)
    if shape.kind == "array":
        assert shape.items is not None
        if value is None:
            return  # a null list is written as no element
        if not isinstance(value, list):
            raise XsdError(f"{where}: expected a list, got {type(value).__name__}")
        for item in value:
            _fill(etree.SubElement(parent, tag), shape.items, item, f"{where}[]")
    elif _repeats(shape) and isinstance(value, list):
        for item in value:
            _fill(etree.SubElement(parent, tag), shape, item, f"{where}[]")
    else:
        _fill(etree.SubElement(parent, tag), shape, value, where)


def to_xml(mt: MessageType, data: Any, role: Role = "reply") -> etree._Element:
    """A JSON request body (``role="request"``) or reply data (``"reply"``) as XML in the message's namespace.

    :class:`XsdError` when the document cannot be written in the convention (a member the schema does not
    declare, a value of the wrong kind). The result is not validated: see :func:`validate_xml`.
    """
    ns = target_namespace(mt)
    root = etree.Element(f"{{{ns}}}{root_name(mt, role)}", nsmap=_nsmap(ns, xsi=XSI))
    _fill(root, message_shape(mt, role), data, root_name(mt, role))
    return root


def validate_xml(mt: MessageType, element: etree._Element) -> list[str]:
    """The XSD errors of an XML request or reply of ``mt`` (empty when valid)."""
    schema = xml_schema(mt)
    if schema.validate(element):
        return []
    return [f"line {e.line}: {e.message}" for e in cast(Iterable[Any], schema.error_log)]


# ------------------------------------------------------------------------------------------------------------
# descriptions shared with the generated docs


def type_label(shape: Shape) -> str:
    """A short type for humans: ``string``, ``date``, ``integer or null``, ``list of object``."""
    if shape.kind == "object":
        label = "object"
    elif shape.kind == "array":
        assert shape.items is not None
        label = f"list of {type_label(shape.items)}"
    elif shape.kind == "any":
        label = " or ".join(shape.json_types) if shape.json_types else "any"
    elif shape.format in _FORMAT_BASE and shape.json_types == ("string",):
        label = shape.format
    else:
        label = " or ".join(shape.json_types) or "string"
    return f"{label} or null" if shape.nullable and shape.kind != "array" else label


def _bound(value: int | float) -> str:
    return _lexical(value, "xs:decimal")


def constraints(shape: Shape) -> list[str]:
    """The constraints of a value in words (pattern, lengths, bounds, allowed values, list sizes)."""
    if shape.kind == "array":
        assert shape.items is not None
        out = []
        if shape.min_items or shape.max_items is not None:
            most = str(shape.max_items) if shape.max_items is not None else "any number of"
            out.append(f"{shape.min_items}–{most} items" if shape.min_items else f"at most {most} items")
        return out + constraints(shape.items)
    out = []
    if shape.enum:
        out.append("one of " + ", ".join(f"`{_lexical(v, shape.base)}`" for v in shape.enum))
    if shape.pattern is not None:
        out.append(f"pattern `{shape.pattern}`")
    if shape.min_length is not None and shape.max_length is not None:
        out.append(f"{shape.min_length}–{shape.max_length} characters")
    elif shape.min_length is not None:
        out.append(f"at least {shape.min_length} characters")
    elif shape.max_length is not None:
        out.append(f"at most {shape.max_length} characters")
    low = (
        f"{_bound(shape.minimum)} ≤ "
        if shape.minimum is not None
        else f"{_bound(shape.exclusive_minimum)} < "
        if shape.exclusive_minimum is not None
        else ""
    )
    high = (
        f" ≤ {_bound(shape.maximum)}"
        if shape.maximum is not None
        else f" < {_bound(shape.exclusive_maximum)}"
        if shape.exclusive_maximum is not None
        else ""
    )
    if low or high:
        out.append(f"{low}value{high}")
    return out


@dataclass(frozen=True)
class FieldRow:
    """One field of a schema, flattened for a table: ``persons[].address.street``."""

    path: str
    shape: Shape
    required: bool


def field_rows(shape: Shape, base: str = "") -> list[FieldRow]:
    """Every field below an object shape, depth first: containers first, then what they hold."""
    rows: list[FieldRow] = []
    target = shape
    if shape.kind == "array" and shape.items is not None:
        target = shape.items
    for prop in target.properties if target.kind == "object" else ():
        path = f"{base}.{prop.name}" if base else prop.name
        rows.append(FieldRow(path, prop.shape, prop.required))
        inner = prop.shape
        if inner.kind == "array" and inner.items is not None and inner.items.kind == "object":
            rows.extend(field_rows(inner.items, f"{path}[]"))
        elif inner.kind == "object":
            rows.extend(field_rows(inner, path))
    return rows


def find_field(shape: Shape, path: str) -> Shape | None:
    """The shape at a field path (``persons[].address.street``) of an object shape, if any."""
    node: Shape | None = shape
    for token in path_tokens(path):
        if node is None:
            return None
        if token == LIST_ITEMS:
            node = node.items if node.kind == "array" else None
        else:
            prop = node.prop(token) if node.kind == "object" else None
            node = prop.shape if prop is not None else None
    return node
