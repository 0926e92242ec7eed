"""XSD derived from the catalogue's JSON Schemas: every message type compiles, and valid JSON examples —
built from the schemas themselves — render to XML that validates."""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from kruispunt.network.catalogue import Catalogue, MessageType
from kruispunt.network.xsd import (
    XSI,
    XsdError,
    message_xsd,
    reply_schema_of,
    root_name,
    schema_from_paths,
    shape_of,
    target_namespace,
    to_xml,
    translate_pattern,
    validate_xml,
    xml_schema,
)

CATALOGUE = Catalogue.load_default()
MESSAGE_TYPES = CATALOGUE.all()
IDS = [f"{mt.name}-v{mt.version}" for mt in MESSAGE_TYPES]
XS = "http://www.w3.org/2001/XMLSchema"

# ------------------------------------------------------------------------------------------------------------
# a small example builder: fills a JSON Schema with values that satisfy its patterns, enums and bounds


_CANDIDATES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_. /:"


def _in_class(ch: str, items: list[tuple[Any, Any]]) -> bool:
    negate = False
    hit = False
    for op, av in items:
        if op is sre_constants.NEGATE:
            negate = True
        elif op is sre_constants.LITERAL:
            hit = hit or ord(ch) == av
        elif op is sre_constants.RANGE:
            hit = hit or av[0] <= ord(ch) <= av[1]
        elif op is sre_constants.CATEGORY:
            hit = hit or {
                sre_constants.CATEGORY_DIGIT: ch.isdigit(),
                sre_constants.CATEGORY_NOT_DIGIT: not ch.isdigit(),
                sre_constants.CATEGORY_WORD: ch.isalnum() or ch == "_",
                sre_constants.CATEGORY_NOT_WORD: not (ch.isalnum() or ch == "_"),
                sre_constants.CATEGORY_SPACE: ch.isspace(),
                sre_constants.CATEGORY_NOT_SPACE: not ch.isspace(),
            }.get(av, False)
    return hit != negate


def _regex_text(parsed: Any, extra: int) -> str:
    out: list[str] = []
    for op, av in parsed:
        if op is sre_constants.LITERAL:
            out.append(chr(av))
        elif op is sre_constants.NOT_LITERAL:
            out.append("a" if av != ord("a") else "b")
        elif op is sre_constants.ANY:
            out.append("a")
        elif op is sre_constants.IN:
            out.append(next(c for c in _CANDIDATES if _in_class(c, av)))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = av
            count = low + extra if high is sre_constants.MAXREPEAT else min(low + extra, high)
            out.append("".join(_regex_text(sub, extra) for _ in range(count)))
        elif op is sre_constants.SUBPATTERN:
            out.append(_regex_text(av[-1], extra))
        elif op is sre_constants.BRANCH:
            branches = av[1]
            out.append(_regex_text(branches[-1] if extra else branches[0], extra))
        elif op is sre_constants.AT:
            continue
        else:  # pragma: no cover - a construct the catalogue does not use yet
            raise NotImplementedError(f"example for regex op {op}")
    return "".join(out)


def regex_example(pattern: str, extra: int = 0) -> str:
    return _regex_text(sre_parse.parse(pattern), extra)


def _types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    if not types and "properties" in schema:
        types = ["object"]
    return types


def _string(schema: Mapping[str, Any], mode: str) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        return "2024-05-17" if mode == "min" else "1999-12-31"
    if fmt == "date-time":
        return "2024-05-17T10:20:30Z" if mode == "min" else "2024-05-17T10:20:30.123456+02:00"
    if "pattern" in schema:
        text = regex_example(schema["pattern"], 0 if mode == "min" else 1)
        if not re.search(schema["pattern"], text):
            text = regex_example(schema["pattern"], 0)
        return text
    low = schema.get("minLength", 0)
    high = schema.get("maxLength", 40)
    text = "x" * max(low, 1) if mode == "min" else "Élise & Zoë <De Smet>"
    return text[:high] if len(text) > high else text


def _scalar(schema: Mapping[str, Any], kind: str, mode: str) -> Any:
    if kind == "string":
        return _string(schema, mode)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        high = schema.get("maximum", low + 41)
        value = low if mode == "min" else high
        return value if kind == "integer" else value + 0.25 if value + 0.25 <= high else value
    if kind == "boolean":
        return mode == "min"
    return None


def _object(schema: Mapping[str, Any], mode: str, extra_required: list[str], forbidden: list[str]) -> Any:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = list(dict.fromkeys([*schema.get("required", []), *extra_required]))
    if not properties and schema.get("additionalProperties") is not False and mode != "min":
        return {"kind": "free-form", "count": 2, "nested": {"flag": True}}
    names = required if mode == "min" else [n for n in properties if n not in forbidden] + required
    out: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        out[name] = example(properties.get(name, {}), mode)
    return out


def example(schema: Mapping[str, Any], mode: str = "full") -> Any:
    """One instance of ``schema``; modes ``min`` (required only), ``full`` (everything), ``nulls``."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        values = list(schema["enum"])
        if mode == "nulls" and None in values:
            return None
        non_null = [v for v in values if v is not None] or values
        return non_null[0] if mode == "min" else non_null[-1]
    types = _types(schema)
    if mode == "nulls" and "null" in types:
        return None
    kinds = [t for t in types if t != "null"]
    if not kinds:
        return "anything" if not types else None
    kind = kinds[0]
    if kind == "object":
        return _object(schema, mode, [], [])
    if kind == "array":
        items = schema.get("items", {})
        count = max(schema.get("minItems", 0), 0 if mode == "min" else 2)
        count = min(count, schema.get("maxItems", count))
        return [example(items, "min" if i % 2 else mode) for i in range(count)]
    return _scalar(schema, kind, mode)


def examples(schema: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Candidate instances: minimal, full and with nulls, for the object and for each oneOf/anyOf branch."""
    branches = [*(schema.get("oneOf") or ()), *(schema.get("anyOf") or ())]
    for mode in ("min", "full", "nulls"):
        yield mode, example(schema, mode)
        for i, branch in enumerate(branches):
            not_part = branch.get("not", {})
            forbidden = list(not_part.get("required", []))
            for sub in not_part.get("anyOf", []):
                forbidden.extend(sub.get("required", []))
            yield f"{mode}-branch{i}", _object(schema, mode, list(branch.get("required", [])), forbidden)


def valid_examples(schema: Mapping[str, Any]) -> list[tuple[str, Any]]:
    validator = Draft202012Validator(schema)
    return [(label, doc) for label, doc in examples(schema) if validator.is_valid(doc)]


# ------------------------------------------------------------------------------------------------------------
# every message type of the catalogue


def test_the_catalogue_is_not_empty() -> None:
    assert len(MESSAGE_TYPES) >= 3


@pytest.mark.parametrize("mt", MESSAGE_TYPES, ids=IDS)
def test_xsd_compiles(mt: MessageType) -> None:
    text = message_xsd(mt)
    assert text.startswith("<?xml")
    doc = etree.fromstring(text.encode())
    assert (
        doc.get("targetNamespace")
        == target_namespace(mt)
        == f"urn:kruispunt:messages:{mt.name}:v{mt.version}"
    )
    assert doc.get("elementFormDefault") == "qualified"
    roots = [e.get("name") for e in doc.findall(f"{{{XS}}}element")]
    assert roots == [root_name(mt, "request"), root_name(mt, "reply")]
    etree.XMLSchema(doc)  # raises when lxml refuses it
    assert xml_schema(mt) is xml_schema(mt)  # compiled once


@pytest.mark.parametrize("mt", MESSAGE_TYPES, ids=IDS)
def test_request_examples_validate(mt: MessageType) -> None:
    found = valid_examples(mt.request_schema)
    assert found, f"no valid example could be built for the {mt.name} request schema"
    for label, doc in found:
        element = to_xml(mt, doc, role="request")
        assert validate_xml(mt, element) == [], (label, doc, etree.tostring(element))


@pytest.mark.parametrize("mt", MESSAGE_TYPES, ids=IDS)
def test_reply_examples_validate(mt: MessageType) -> None:
    schema = reply_schema_of(mt)
    found = valid_examples(schema)
    assert {label for label, _ in found} >= {"min", "full"}
    for label, doc in found:
        element = to_xml(mt, doc, role="reply")
        assert validate_xml(mt, element) == [], (label, doc, etree.tostring(element))


@pytest.mark.parametrize("mt", MESSAGE_TYPES, ids=IDS)
def test_a_filtered_reply_still_validates(mt: MessageType) -> None:
    """Replies lose the fields a deliberation does not allow: whatever is kept must stay valid XML."""
    doc = example(reply_schema_of(mt), "full")
    for path in mt.reply_fields[:3]:
        kept, _ = CATALOGUE.filter_reply(doc, [path])
        assert validate_xml(mt, to_xml(mt, kept)) == [], path


@pytest.mark.parametrize("mt", MESSAGE_TYPES, ids=IDS)
def test_a_wrong_value_does_not_validate(mt: MessageType) -> None:
    """The XSD is not a rubber stamp: a constrained field with a value outside its constraint fails."""
    for role, schema in (("request", mt.request_schema), ("reply", reply_schema_of(mt))):
        properties = schema.get("properties") or {}
        for name, sub in properties.items():
            if sub.get("type") == "string" and "pattern" in sub and "format" not in sub:
                bad = {name: "\u00a7 not matching \u00a7"}
                errors = validate_xml(mt, to_xml(mt, bad, role=role))  # type: ignore[arg-type]
                assert any("pattern" in e and name in e for e in errors), (role, name, errors)


# ------------------------------------------------------------------------------------------------------------
# the convention, on a hand-made message type


def _mt(request: Mapping[str, Any], reply: Mapping[str, Any]) -> MessageType:
    return MessageType(
        name="test_case",
        version="2",
        title="Test",
        description="A test message type.",
        person="required",
        providers=(),
        request_schema=request,
        reply_fields=("x",),
        reply_schema=reply,
    )


REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["period"],
    "properties": {
        "period": {
            "type": "object",
            "required": ["start"],
            "properties": {
                "start": {"type": "string", "format": "date"},
                "end": {"type": ["string", "null"], "format": "date"},
            },
        },
        "kinds": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
        "limit": {"type": "integer", "minimum": 1, "maximum": 5},
        "flag": {"type": "boolean"},
        "ratio": {"type": "number", "exclusiveMinimum": 0},
        "code": {"type": "string", "pattern": "^[A-Z]{2}\\d$"},
    },
}
REPLY = {
    "type": "object",
    "required": ["members"],
    "properties": {
        "members": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "insz": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        "extra": {"type": "object"},
        "anything": {},
    },
}


def test_convention_request() -> None:
    mt = _mt(REQUEST, REPLY)
    doc = {
        "code": "AB1",
        "limit": 3,
        "period": {"end": None, "start": "2024-01-01"},
        "kinds": ["a", "b"],
        "flag": False,
        "ratio": 0.5,
    }
    element = to_xml(mt, doc, role="request")
    assert validate_xml(mt, element) == []
    ns = target_namespace(mt)
    assert element.tag == f"{{{ns}}}TestCaseRequest"
    # schema order, not the JSON order; a list is its element repeated; null is xsi:nil
    assert [etree.QName(c).localname for c in element] == [
        "period",
        "kinds",
        "kinds",
        "limit",
        "flag",
        "ratio",
        "code",
    ]
    assert element.find(f"{{{ns}}}period/{{{ns}}}end").get(f"{{{XSI}}}nil") == "true"  # type: ignore[union-attr]
    assert element.findtext(f"{{{ns}}}flag") == "false"
    # required → minOccurs 1 in a request
    assert validate_xml(mt, to_xml(mt, {"code": "AB1"}, role="request"))
    for bad in ({"period": {"start": "2024-02-30"}}, {"period": {"start": "2024-01-01"}, "code": "AB12"}):
        assert validate_xml(mt, to_xml(mt, bad, role="request")), bad
    assert validate_xml(mt, to_xml(mt, {"period": {"start": "2024-01-01"}, "limit": 6}, role="request"))
    assert validate_xml(
        mt, to_xml(mt, {"period": {"start": "2024-01-01"}, "kinds": ["a"] * 3}, role="request")
    )


def test_convention_reply() -> None:
    mt = _mt(REQUEST, REPLY)
    doc = {
        "members": [{"insz": "1", "tags": ["x", "y"]}, {}],
        "grid": [[1, 2], []],
        "extra": {"a": 1, "b": [True, None], "c": {"d": "e"}},
        "anything": [1, "two"],
    }
    element = to_xml(mt, doc)
    assert validate_xml(mt, element) == []
    text = etree.tostring(element).decode()
    assert "<members><insz>1</insz><tags>x</tags><tags>y</tags></members><members/>" in text
    assert "<grid><item>1</item><item>2</item></grid><grid/>" in text
    assert "<anything>1</anything><anything>two</anything>" in text
    # replies: the reply schema's required fields are optional (the deliberation filter may remove them)
    assert validate_xml(mt, to_xml(mt, {})) == []


def test_members_the_schema_does_not_declare_are_refused() -> None:
    mt = _mt(REQUEST, REPLY)
    with pytest.raises(XsdError, match="surprise"):
        to_xml(mt, {"members": [], "surprise": 1})
    with pytest.raises(XsdError, match="null is not allowed"):
        to_xml(mt, {"period": None}, role="request")
    with pytest.raises(XsdError, match="expected a list"):
        to_xml(mt, {"members": "x"})


def test_one_of_becomes_optional_union_with_an_annotation() -> None:
    mt = CATALOGUE.get("identify_person", "1")
    assert mt is not None
    doc = etree.fromstring(message_xsd(mt).encode())
    request = doc.find(f"{{{XS}}}element[@name='IdentifyPersonRequest']")
    assert request is not None
    notes = " ".join(d.text or "" for d in request.iterfind(f"{{{XS}}}annotation/{{{XS}}}documentation"))
    assert "Exactly one of" in notes
    assert "requires 'insz'" in notes
    assert "forbids 'insz'" in notes
    assert "enforced by the JSON Schema, not by this XSD" in notes
    fields = request.findall(f"{{{XS}}}complexType/{{{XS}}}sequence/{{{XS}}}element")
    assert fields
    assert {f.get("minOccurs") for f in fields} == {"0"}
    # both alternatives validate as XML; so does a combination only JSON Schema refuses
    assert validate_xml(mt, to_xml(mt, {"insz": "85073003328"}, role="request")) == []
    both = {"insz": "85073003328", "last_name": "Peeters", "birth_date": "1985-07-30"}
    assert validate_xml(mt, to_xml(mt, both, role="request")) == []
    assert CATALOGUE.validate_request(mt, both)


def test_properties_only_named_in_branches_are_declared() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "anyOf": [{"required": ["a"]}, {"properties": {"b": {"type": "integer"}}, "required": ["b"]}],
        "allOf": [{"$ref": "#/$defs/c"}],
        "$defs": {"c": {"properties": {"c": {"type": "boolean"}}}},
    }
    shape = shape_of(schema)
    assert [p.name for p in shape.properties] == ["c", "a", "b"] or {p.name for p in shape.properties} == {
        "a",
        "b",
        "c",
    }
    assert any(n.startswith("At least one of") for n in shape.notes)


def test_recursive_schemas_are_refused() -> None:
    schema = {
        "$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}},
        "$ref": "#/$defs/n",
    }
    with pytest.raises(XsdError, match="recursive"):
        shape_of(schema)


def test_bad_element_names_are_refused() -> None:
    with pytest.raises(XsdError, match="not a valid XML element name"):
        shape_of({"type": "object", "properties": {"two words": {"type": "string"}}})


def test_reply_fields_only_gives_a_derived_schema() -> None:
    schema = schema_from_paths(["household_id", "members[].insz", "members[].address.street", "tags[]"])
    assert schema["properties"]["members"]["type"] == "array"
    assert schema["properties"]["members"]["items"]["properties"]["address"]["properties"] == {"street": {}}
    mt = MessageType(
        name="legacy",
        version="1",
        title="Legacy",
        description="Only reply_fields.",
        person="required",
        providers=(),
        request_schema={"type": "object", "properties": {}, "additionalProperties": False},
        reply_fields=("household_id", "members[].insz", "members[].address.street", "tags[]"),
    )
    doc = {
        "household_id": 7,
        "members": [{"insz": "1", "address": {"street": "Kerkstraat"}}],
        "tags": ["a", "b"],
    }
    assert validate_xml(mt, to_xml(mt, doc)) == []
    assert validate_xml(mt, to_xml(mt, {}, role="request")) == []


# ------------------------------------------------------------------------------------------------------------
# regex translation: JSON Schema (search, ECMA) vs XSD (whole value)


def _xsd_matches(xsd_pattern: str, value: str) -> bool:
    schema = etree.XMLSchema(
        etree.fromstring(
            f'<xs:schema xmlns:xs="{XS}"><xs:element name="v"><xs:simpleType>'
            f'<xs:restriction base="xs:string"><xs:pattern value="{_attr(xsd_pattern)}"/></xs:restriction>'
            "</xs:simpleType></xs:element></xs:schema>"
        )
    )
    element = etree.Element("v")
    element.text = value
    return bool(schema.validate(element))


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


@pytest.mark.parametrize(
    ("pattern", "values"),
    [
        ("^[0-9]{11}$", ["85073003328", "8507300332", "850730033281", "x5073003328"]),
        ("^[01][0-9]{9}$", ["0212140186", "2212140186"]),
        ("abc", ["abc", "xxabcxx", "ab", "a\nabc\n"]),
        ("^abc", ["abcdef", "xabc"]),
        ("abc$", ["xxabc", "abcx"]),
        ("^a|b$", ["ax", "xb", "xa", "bx"]),
        ("^\\d{2}(?:-\\d{2})?$", ["12", "12-34", "12-", "1234"]),
        ("^[A-Za-z .'\\-]+$", ["De Smet", "O'Neil-X", "A_B"]),
        ("^\\w+@\\w+\\.be$", ["a@b.be", "a@b.com"]),
        ("^[^/]+/\\d+$", ["ab/12", "a/b/12"]),
        ("^\\$[0-9]+$", ["$12", "12"]),
        ("^a{2,}?$", ["aa", "aaaa", "a"]),
        ("^\\u00e9+$", ["é", "éé", "e"]),
        ("^[0-9]{4}-(0[0-9]|1[0-2])-([0-2][0-9]|3[01])$", ["1985-00-00", "1985-13-01", "1985-07-30"]),
    ],
)
def test_translated_patterns_match_like_json_schema(pattern: str, values: list[str]) -> None:
    translated = translate_pattern(pattern)
    assert translated is not None
    for value in values:
        assert _xsd_matches(translated, value) == bool(re.search(pattern, value)), (
            pattern,
            translated,
            value,
        )


@pytest.mark.parametrize("pattern", ["^(?=a)a$", "^(a)\\1$", "\\bword\\b", "a^b", "^[]$"])
def test_untranslatable_patterns_are_left_out_with_a_note(pattern: str) -> None:
    assert translate_pattern(pattern) is None
    shape = shape_of({"type": "string", "pattern": pattern})
    assert shape.xsd_pattern is None
    assert any("no XSD equivalent" in n for n in shape.notes)


def test_catalogue_patterns_translate() -> None:
    """Every pattern in the catalogue has an XSD form, and its examples match both dialects."""

    def patterns(node: Any) -> Iterator[str]:
        if isinstance(node, Mapping):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"]
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    found = {p for mt in MESSAGE_TYPES for s in (mt.request_schema, reply_schema_of(mt)) for p in patterns(s)}
    assert found
    for pattern in found:
        translated = translate_pattern(pattern)
        assert translated is not None, pattern
        for extra in (0, 1, 2):
            value = regex_example(pattern, extra)
            assert _xsd_matches(translated, value) == bool(re.search(pattern, value)), (pattern, value)
            mutated = value + "\u00a7"
            assert _xsd_matches(translated, mutated) == bool(re.search(pattern, mutated)), (pattern, mutated)
