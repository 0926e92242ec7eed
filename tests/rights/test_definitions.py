"""The catalogue is data, checked at load: a wrong reference is a clear error, never a right not granted."""

from __future__ import annotations

import datetime as dt

import pytest

from kruispunt.ids import is_valid_enterprise_number
from kruispunt.rights.definitions import DefinitionError, data_text, load_definitions, parse_definitions
from kruispunt.rights.rules import quarter_bounds, quarter_of, right_end, right_start


def test_packaged_catalogue_loads_and_links_sources_to_statuses() -> None:
    defs = load_definitions()
    assert defs.status_for(source="0212140186", kind="leefloon") == "leefloon_or_equivalent"
    assert defs.status_for(source="0367303366", kind="integration_allowance") == "disability_allowance"
    assert defs.status_for(source="0206738078", kind="igo") == "igo_or_guaranteed_income"
    assert defs.status_for(source="0206738078", kind="pension") is None
    energy = defs.rights["social_energy_tariff"]
    assert energy.extends_to == "household"
    assert energy.start == "quarter_start"
    assert energy.body.kbo == "0314595348"
    assert {"public_transport_reduction", "telecom_social_tariff", "municipal_tax_reduction"} <= set(
        defs.rights
    )
    for body in [*defs.bodies.values(), *defs.suppliers.values()]:
        assert is_valid_enterprise_number(body.kbo)


def _parse(*, statuses: str | None = None, rights: str | None = None, bodies: str | None = None) -> None:
    parse_definitions(
        statuses_text=statuses or data_text("statuses.yaml"),
        rights_text=rights or data_text("rights.yaml"),
        bodies_text=bodies or data_text("bodies.yaml"),
    )


def test_a_right_naming_an_unknown_status_is_refused() -> None:
    bad = data_text("rights.yaml").replace("[increased_reimbursement, leefloon_or_equivalent]", "[no_such]")
    with pytest.raises(
        DefinitionError, match="right public_transport_reduction names unknown status no_such"
    ):
        _parse(rights=bad)


def test_a_kind_the_source_does_not_hold_is_refused() -> None:
    bad = data_text("statuses.yaml").replace("kinds: [igo]", "kinds: [igo, leefloon]")
    with pytest.raises(DefinitionError, match="0206738078 holds no files of kind leefloon"):
        _parse(statuses=bad)


def test_an_invalid_body_kbo_is_refused() -> None:
    bad = data_text("bodies.yaml").replace('"0314595348"', '"0314595349"')
    with pytest.raises(DefinitionError, match=r"bodies\.yaml: bodies\.fod_economie\.kbo"):
        _parse(bodies=bad)


def test_an_unknown_rule_is_refused() -> None:
    bad = data_text("rights.yaml").replace("start: quarter_start", "start: whenever")
    with pytest.raises(DefinitionError, match=r"social_energy_tariff\.start"):
        _parse(rights=bad)


def test_rules() -> None:
    day = dt.date(2026, 11, 15)
    assert quarter_of(day) == 20264
    assert quarter_bounds(20264) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert quarter_bounds(20261) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert right_start("quarter_start", day) == dt.date(2026, 10, 1)
    assert right_start("month_start", day) == dt.date(2026, 11, 1)
    assert right_end("end_of_year", dt.date(2026, 2, 3)) == dt.date(2026, 12, 31)
    assert right_end("quarter_end", dt.date(2026, 2, 3)) == dt.date(2026, 3, 31)
    assert right_end("status_end", None) is None
    with pytest.raises(ValueError, match="not a quarter"):
        quarter_bounds(20265)
