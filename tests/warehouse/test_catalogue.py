"""The variable catalogue: a fiche per snapshot column, code lists, dimensions."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from kruispunt.warehouse import catalogue, nomenclature
from kruispunt.warehouse.schemas import PERSON_QUARTER, TOTAL


def test_every_snapshot_column_has_a_fiche() -> None:
    cat = catalogue.catalogue()
    assert set(PERSON_QUARTER.names) <= set(cat)
    for var in cat.values():
        assert var.definition
        assert var.sources
        assert var.level in ("nominal", "ordinal", "ratio")
        assert all(var.label.get(lang) for lang in ("nl", "fr", "en"))
        assert var.valid_to is None or var.valid_to >= var.valid_from


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("nace_section", tuple("ABCDEFGHIJKLMNOPQRSTU")),
        ("work_regime", ("FT", "PT")),
        ("sex", ("M", "F", "U")),
        ("nationality_group", ("BE", "EU", "NON_EU", "UNKNOWN")),
        ("household_type", ("1", "2", "3", "4", "5", "6", "7", "9")),
        ("region", ("VLG", "WAL", "BRU", "ABROAD", "UNK")),
        ("position_group", ("1", "2", "3", "4")),
    ],
)
def test_code_lists(code: str, expected: tuple[str, ...]) -> None:
    assert catalogue.variable(code).code_list() == expected


def test_code_lists_from_the_nomenclature_and_refnis() -> None:
    assert catalogue.variable("position").code_list() == tuple(p.code for p in nomenclature.positions())
    assert catalogue.variable("position_group_before").code_list()[-1] == "0"
    municipalities = catalogue.variable("nis_code").codes or ()
    assert len(municipalities) == 581
    assert len(catalogue.variable("arrondissement").code_list()) == 43
    ms = {m.nis_code: m for m in catalogue.municipalities()}
    assert (ms[21004].region, ms[21004].arrondissement, ms[21004].province) == ("BRU", 21000, None)
    assert (ms[44021].name_nl, ms[44021].region, ms[44021].province) == ("Gent", "VLG", 40000)
    assert (ms[25005].region, ms[25005].province) == ("WAL", 20002)  # Waals-Brabant
    assert ms[21004].label("en") == "Bruxelles / Brussel"


@pytest.mark.parametrize("code", ["age_class", "wage_class", "employer_size", "household_size_class"])
def test_classes_are_contiguous(code: str) -> None:
    classes = [c for c in catalogue.variable(code).codes or () if not c.unknown]
    assert classes[0].min == 0 or code == "household_size_class"
    for a, b in itertools.pairwise(classes):
        assert a.max == b.min
    assert sum(c.unknown for c in catalogue.variable(code).codes or ()) == 1


def test_dimension_total_first_and_labels() -> None:
    d = catalogue.dimension("region", lang="fr")
    assert d.codes() == (TOTAL, "VLG", "WAL", "BRU", "ABROAD", "UNK")
    assert d.values[0].label == "Total"
    assert d.values[1].label == "Région flamande"
    assert d.label == "Région de résidence"
    assert not d.time
    assert catalogue.dimension("sex", codes=["F", "M"]).codes() == (TOTAL, "M", "F")
    with pytest.raises(ValueError, match="unknown codes"):
        catalogue.dimension("sex", codes=["X"])


def test_time_dimension_has_no_total() -> None:
    d = catalogue.dimension("quarter", codes=["2024Q1", "2024Q2"])
    assert d.time
    assert d.codes() == ("2024Q1", "2024Q2")
    with pytest.raises(ValueError, match="must give"):
        catalogue.dimension("quarter")


def test_dimension_validity_filter() -> None:
    d = catalogue.dimension("nis_code", between=(dt.date(2024, 1, 1), dt.date(2024, 12, 31)))
    assert len(d.values) == 582
    assert catalogue.dimension("nis_code", between=(dt.date(1960, 1, 1), dt.date(1960, 12, 31))).codes() == (
        TOTAL,
    )


def test_no_code_list_no_dimension() -> None:
    with pytest.raises(ValueError, match="no code list"):
        catalogue.dimension("person_id")
    with pytest.raises(KeyError):
        catalogue.variable("nope")


def test_class_case_sql() -> None:
    sql = catalogue.class_case_sql("employer_size", "w")
    assert sql.startswith("CASE WHEN w IS NULL THEN 'UNK'")
    assert "WHEN w >= 1000 AND w < 100000000 THEN 'S_GE1000'" in sql
    with pytest.raises(ValueError, match="class variable"):
        catalogue.class_case_sql("sex", "x")
