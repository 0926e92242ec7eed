"""The nomenclature of socio-economic position: structure, labels and the priority rule."""

from __future__ import annotations

import pytest

from kruispunt.simulate import KINDS
from kruispunt.warehouse import nomenclature as nom
from kruispunt.warehouse.nomenclature import ActiveFile, classify


def test_structure() -> None:
    n = nom.nomenclature()
    assert [g.code for g in n.groups] == ["1", "2", "3", "4"]
    codes = [p.code for p in n.positions]
    assert len(codes) == len(set(codes))
    assert all(len(c) == 3 and c.isdigit() for c in codes)
    assert {"111", "112", "121", "122", "123", "131", "132", "133"} <= set(codes)
    assert {p.subgroup for p in n.positions} == {s.code for s in n.subgroups}
    # priority order respects the main groups: working < job seeker < inactive < unknown
    assert [p.group for p in n.positions] == sorted(p.group for p in n.positions)
    assert n.fallback.code == "411"
    assert n.positions[-1] is n.fallback


def test_labels_in_three_languages() -> None:
    for p in nom.positions():
        for lang in ("nl", "fr", "en"):
            assert p.label.get(lang).strip()
        assert len({p.label.nl, p.label.en}) == 2, p.code
    with pytest.raises(ValueError, match="language"):
        nom.positions()[0].label.get("de")


def test_indicators_use_existing_kinds() -> None:
    assert {i.kind for i in nom.nomenclature().indicators} <= set(KINDS)


@pytest.mark.parametrize(
    ("files", "age", "expected"),
    [
        ([], 40, "411"),
        ([ActiveFile("dimona_period", "OTH"), ActiveFile("unemployment", "full")], 40, "111"),
        ([ActiveFile("pension", "retirement"), ActiveFile("dimona_period", "FLX")], 70, "112"),
        ([ActiveFile("pension", "retirement"), ActiveFile("health_insurance", "holder")], 70, "321"),
        ([ActiveFile("pension", "survivor")], 70, "322"),
        ([ActiveFile("pension", "other")], 70, "323"),
        ([ActiveFile("entitling_child"), ActiveFile("health_insurance", "dependant")], 5, "361"),
        ([ActiveFile("entitling_child")], 19, "362"),
        ([ActiveFile("entitling_child")], None, "362"),
        ([ActiveFile("unemployment", "full"), ActiveFile("work_incapacity", "maternity_leave")], 30, "211"),
        ([ActiveFile("unemployment", "weird")], 30, "221"),
        (
            [ActiveFile("work_incapacity", "invalidity"), ActiveFile("income_replacement_allowance", "B")],
            50,
            "332",
        ),
        ([ActiveFile("integration_allowance", "2")], 50, "341"),
        ([ActiveFile("leefloon", "single"), ActiveFile("other_aid", "food_aid")], 30, "351"),
        ([ActiveFile("career_break", "time_credit", 100)], 40, "311"),
        ([ActiveFile("career_break", "time_credit", 50)], 40, "411"),
        ([ActiveFile("career_break", "time_credit", 50), ActiveFile("dimona_period", "OTH")], 40, "111"),
        ([ActiveFile("health_insurance", "holder")], 40, "391"),
        ([ActiveFile("medical_recognition", "yes")], 40, "411"),
    ],
)
def test_classify(files: list[ActiveFile], age: int | None, expected: str) -> None:
    assert classify(files, age=age) == expected


def test_order_of_files_does_not_matter() -> None:
    files = [ActiveFile("pension", "retirement"), ActiveFile("unemployment", "full"), ActiveFile("leefloon")]
    assert classify(files, age=62) == classify(list(reversed(files)), age=62) == "211"


def test_case_sql_follows_priority() -> None:
    sql = nom.position_case_sql()
    assigned = [p.code for p in nom.positions() if p.when]
    offsets = [sql.index(f"THEN '{c}'") for c in assigned]
    assert offsets == sorted(offsets)
    assert sql.endswith("ELSE '411' END")
    assert "'121'" not in sql  # no source delivers self-employment yet
    assert sorted(nom.indicator_names()) == sorted(
        part.split(" AS i_")[1].strip(",") for part in nom.indicator_sql().split("\n")
    )
