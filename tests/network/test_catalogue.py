from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruispunt.network.catalogue import (
    Catalogue,
    CatalogueError,
    FieldFilter,
    compile_fields,
    filter_reply,
    path_is_within,
    path_tokens,
)
from kruispunt.network.registry import Registry

from .conftest import KSZ, NATIONAL_REGISTER, PERSON_A


def test_default_catalogue(catalogue: Catalogue, registry: Registry) -> None:
    names = [(m.name, m.version) for m in catalogue.all()]
    assert len(names) >= 30
    assert names == sorted(names)
    assert {("address_history", "1"), ("family_composition", "1"), ("identify_person", "1")} <= set(names)
    identify = catalogue.get("identify_person", "1")
    assert identify is not None
    assert identify.person == "optional"
    assert not identify.person_required
    assert [(p.institution, p.knows) for p in identify.providers] == [
        (NATIONAL_REGISTER, "national_register_numbers"),
        (KSZ, "bis_numbers"),
    ]
    assert "persons[].address.nis_code" in identify.reply_fields
    assert catalogue.by_soap("OCMWCPASIdentifyPerson", "20050930") is identify
    assert catalogue.get("identify_person", "2") is None
    assert catalogue.versions("identify_person") == ("1",)
    assert catalogue.versions("nope") == ()
    family = catalogue.get("family_composition", "1")
    assert family is not None
    assert family.person_required
    for mt in catalogue.all():
        for provider in mt.providers:
            assert registry.institution(provider.institution) is not None
    assert Catalogue.load_default() is catalogue


@pytest.mark.parametrize(
    "body",
    [
        {"insz": PERSON_A},
        {"last_name": "Peeters", "birth_date": "1985-07-30"},
        {
            "last_name": "Peeters",
            "first_name": "Jan",
            "birth_date": "1985-00-00",
            "sex": "M",
            "tolerance_years": 2,
            "maximum": 10,
        },
    ],
)
def test_identify_person_valid_bodies(catalogue: Catalogue, body: dict[str, Any]) -> None:
    mt = catalogue.get("identify_person", "1")
    assert mt is not None
    assert catalogue.validate_request(mt, body) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"insz": "123"}, "insz: '123' does not match"),
        ({"insz": PERSON_A, "last_name": "Peeters"}, "must match one of: search by INSZ"),
        ({}, "must match one of"),
        ({"last_name": "Peeters"}, "phonetic search: give 'last_name' and 'birth_date'"),
        ({"last_name": "P", "birth_date": "1985-13-01"}, "birth_date: '1985-13-01' does not match"),
        (
            {"insz": PERSON_A, "colour": "red"},
            "Additional properties are not allowed ('colour' was unexpected)",
        ),
        (
            {"last_name": "P", "birth_date": "1985-01-01", "maximum": 0},
            "maximum: 0 is less than the minimum of 1",
        ),
        ([], "(body): [] is not of type 'object'"),
    ],
)
def test_identify_person_invalid_bodies(catalogue: Catalogue, body: Any, expected: str) -> None:
    mt = catalogue.get("identify_person", "1")
    assert mt is not None
    errors = catalogue.validate_request(mt, body)
    assert errors, body
    assert any(expected in e for e in errors), errors


def test_type_error_hides_alternative_noise(catalogue: Catalogue) -> None:
    mt = catalogue.get("identify_person", "1")
    assert mt is not None
    assert catalogue.validate_request(mt, "x") == ["(body): 'x' is not of type 'object'"]


def test_empty_body_message_types(catalogue: Catalogue) -> None:
    for name in ("family_composition", "address_history"):
        mt = catalogue.get(name, "1")
        assert mt is not None
        assert catalogue.validate_request(mt, {}) == []
        assert catalogue.validate_request(mt, {"x": 1})


def test_a_date_that_is_not_a_day_is_a_schema_violation(catalogue: Catalogue) -> None:
    """Formats are asserted: the caller's impossible date is refused by the hub, not by the source."""
    mt = catalogue.get("attestation_unemployment", "1")
    assert mt is not None
    assert catalogue.validate_request(mt, {"on": "2025-02-28"}) == []
    assert catalogue.validate_request(mt, {"on": "2025-13-45"}) == ["on: '2025-13-45' is not a 'date'"]
    period = catalogue.get("employment_history", "1")
    assert period is not None
    assert catalogue.validate_request(period, {"period": {"start": "2025-02-30"}})


REPLY = {
    "persons": [
        {
            "insz": PERSON_A,
            "last_name": "Peeters",
            "first_names": ["Jan", "Karel"],
            "address": {"street": "Kerkstraat", "house_number": "1", "nis_code": "44021"},
            "secret": True,
        },
        {"insz": "75060898009", "last_name": "Janssens", "address": None},
    ],
    "extra": {"a": 1},
}


def test_filter_reply_nested_lists() -> None:
    data, removed = filter_reply(
        REPLY, ["persons[].insz", "persons[].first_names", "persons[].address.street"]
    )
    assert data == {
        "persons": [
            {"insz": PERSON_A, "first_names": ["Jan", "Karel"], "address": {"street": "Kerkstraat"}},
            {"insz": "75060898009", "address": None},
        ]
    }
    assert removed == [
        "persons[].last_name",
        "persons[].address.house_number",
        "persons[].address.nis_code",
        "persons[].secret",
        "extra",
    ]
    assert REPLY["persons"][0]["secret"] is True  # the input is not changed


def test_filter_reply_prefixes_and_star() -> None:
    data, removed = filter_reply(REPLY, ["persons[].address", "persons"])
    assert data == {"persons": REPLY["persons"]}
    assert removed == ["extra"]
    data, removed = filter_reply(REPLY, ["persons[]"])
    assert data == {"persons": REPLY["persons"]}
    assert removed == ["extra"]
    assert filter_reply(REPLY, "*") == (REPLY, [])
    assert filter_reply(REPLY, ["*"]) == (REPLY, [])
    assert filter_reply(REPLY, []) == ({}, ["persons", "extra"])


def test_filter_reply_shape_mismatch_is_removed() -> None:
    data, removed = filter_reply({"persons": "not a list", "a": [1, {"b": 2}]}, ["persons[].insz", "a[].b"])
    assert data == {"a": [{"b": 2}]}
    assert removed == ["persons", "a[]"]


def test_compiled_filters_are_cached() -> None:
    first = compile_fields(["b", "a"])
    assert compile_fields(("a", "b")) is first
    assert compile_fields(first) is first
    assert isinstance(first, FieldFilter)
    assert first.paths == ("a", "b")
    assert compile_fields("*").allows_all


def test_field_paths() -> None:
    assert path_tokens("persons[].address.street") == ("persons", "[]", "address", "street")
    for bad in ("", "a..b", "a[]]", "a.[]", "1a", "a b"):
        with pytest.raises(ValueError, match="bad field path"):
            path_tokens(bad)
    fields = ["persons[].address.street", "household_id"]
    assert path_is_within("persons", fields)
    assert path_is_within("persons[]", fields)
    assert path_is_within("persons[].address", fields)
    assert path_is_within("household_id", fields)
    assert not path_is_within("persons[].addr", fields)
    assert not path_is_within("persons[].address.street.x", fields)


VALID_TYPE = """
message_types:
  - name: ping
    version: "1"
    title: Ping
    description: test
    person: optional
    providers: [{institution: "0244640631", knows: directory}]
    request_schema: {type: object}
    reply_fields: [pong]
"""


def test_catalogue_parse_errors() -> None:
    assert Catalogue.parse(VALID_TYPE).get("ping", "1") is not None
    with pytest.raises(CatalogueError, match=r"messages\.yaml"):
        Catalogue.parse("message_types: [")
    with pytest.raises(CatalogueError, match="Extra inputs"):
        Catalogue.parse(VALID_TYPE + "    colour: red\n")
    with pytest.raises(CatalogueError, match="not a valid JSON Schema"):
        Catalogue.parse(VALID_TYPE.replace("{type: object}", "{type: 12}"))
    with pytest.raises(CatalogueError, match="bad field path"):
        Catalogue.parse(VALID_TYPE.replace("[pong]", "['po ng']"))
    with pytest.raises(CatalogueError, match="defined twice"):
        Catalogue.parse(VALID_TYPE + VALID_TYPE.split("message_types:\n")[1])
    with pytest.raises(CatalogueError, match="knows"):
        Catalogue.parse(VALID_TYPE.replace("knows: directory", "knows: everything"))


# -- property: the filter never leaks a path that is not allowed ---------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3))
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=3)),
    max_leaves=12,
)
PATHS = st.lists(
    st.lists(st.tuples(KEYS, st.booleans()), min_size=1, max_size=3).map(
        lambda segs: ".".join(f"{k}[]" if is_list else k for k, is_list in segs)
    ),
    max_size=4,
)


def _leaves(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Token paths of every non-null scalar in ``value``."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*prefix, k))]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v, (*prefix, "[]"))]
    return [] if value is None else [prefix]


def _covered(leaf: tuple[str, ...], paths: list[str]) -> bool:
    return any(leaf[: len(t)] == t for t in map(path_tokens, paths))


@settings(max_examples=300)
@given(st.dictionaries(KEYS, JSON, max_size=4), PATHS)
def test_filter_never_leaks(data: dict[str, Any], allowed: list[str]) -> None:
    kept, removed = filter_reply(data, allowed)
    for leaf in _leaves(kept):
        assert _covered(leaf, allowed), (leaf, allowed)
    # everything in the input is either kept or reported as removed
    kept_leaves = set(_leaves(kept))
    for leaf in _leaves(data):
        assert leaf in kept_leaves or _covered(leaf, removed), (leaf, kept, removed)
    # filtering again changes nothing
    assert filter_reply(kept, allowed) == (kept, [])


def test_filter_reply_of_a_non_object() -> None:
    assert filter_reply([1, 2], ["a"]) == ({}, ["(data)"])  # type: ignore[arg-type]
    assert filter_reply("x", "*") == ({}, ["(data)"])  # type: ignore[arg-type]
