from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from kruispunt.network.catalogue import Catalogue
from kruispunt.network.deliberations import (
    DeliberationError,
    DeliberationIndex,
    RefusalReason,
    load_deliberations,
)
from kruispunt.network.registry import Institution, Registry

from .conftest import (
    CHILD_BENEFIT_FUND,
    DELIBERATIONS_DIR,
    HZIV,
    MUTUALITY,
    NATIONAL_REGISTER,
    OCMW_GENT,
    RSZ,
    RVA,
)

Inst = Callable[[str], Institution]
ON = dt.date(2025, 6, 1)


def test_repository_deliberations_load(deliberations: DeliberationIndex) -> None:
    assert [d.id for d in deliberations.all()][:5] == ["16/082", "24/001", "24/002", "24/003", "24/004"]
    social = deliberations.get("24/001")
    assert social is not None
    assert social.legal_contexts == ("PCSA:SOCIAL_INQUIRY",)
    assert social.capacities_for(17) == {1, 2, 3, 4}
    assert [(c.sector, c.code) for c in social.capacities] == [(17, 1), (17, 2), (17, 3), (17, 4)]
    assert social.requires_integration
    assert deliberations.get("99/999") is None
    assert len(deliberations) == len(list(DELIBERATIONS_DIR.glob("*.yaml")))
    assert deliberations.get("16/082").to_dict()["valid_to"] == "2019-12-31"  # type: ignore[union-attr]


def test_authorise_ok(deliberations: DeliberationIndex, inst: Inst) -> None:
    auth = deliberations.authorise(
        requester=inst(OCMW_GENT),
        message_type="address_history",
        version="1",
        legal_context="PCSA:SOCIAL_INQUIRY",
        on=ON,
    )
    assert auth.ok
    assert auth.deliberation is not None
    assert auth.deliberation.id == "24/001"
    assert auth.reason_code is None
    assert auth.diagnostic is None
    assert auth.capacities == {1, 2, 3, 4}
    assert auth.requires_integration
    assert auth.deliberation.allows_provider(NATIONAL_REGISTER)
    data, removed = auth.fields.apply({"addresses": [{"street": "s", "start": "2020-01-01", "x": 1}]})
    assert data == {"addresses": [{"street": "s", "start": "2020-01-01"}]}
    assert removed == ["addresses[].x"]


def test_legal_context_selects_the_deliberation(deliberations: DeliberationIndex, inst: Inst) -> None:
    search = deliberations.authorise(
        requester=inst(OCMW_GENT),
        message_type="identify_person",
        version="1",
        legal_context="PCSA:PERSON_IDENTIFICATION",
        on=ON,
    )
    assert search.deliberation is not None
    assert search.deliberation.id == "24/002"
    assert not search.requires_integration
    assert search.capacities == frozenset()
    kept, removed = search.fields.apply(
        {
            "persons": [
                {"insz": "1", "civil_state": "married", "address": {"street": "s", "postal_code": "9000"}}
            ]
        }
    )
    assert kept == {"persons": [{"insz": "1", "address": {"postal_code": "9000"}}]}
    assert set(removed) == {"persons[].civil_state", "persons[].address.street"}
    inquiry = deliberations.authorise(
        requester=inst(OCMW_GENT),
        message_type="identify_person",
        version="1",
        legal_context="PCSA:SOCIAL_INQUIRY",
        on=ON,
    )
    assert inquiry.deliberation is not None
    assert inquiry.deliberation.id == "24/001"
    star = deliberations.authorise(
        requester=inst(RVA),
        message_type="identify_person",
        version="1",
        legal_context="ONEM:UNEMPLOYMENT_INSURANCE",
        on=ON,
    )
    assert star.ok
    assert star.fields.allows_all
    assert star.capacities == {1, 4}


@pytest.mark.parametrize(
    ("kbo", "message_type", "version", "context", "on", "reason", "diagnostic"),
    [
        (
            RSZ,
            "family_composition",
            "1",
            "PCSA:SOCIAL_INQUIRY",
            ON,
            RefusalReason.NO_DELIBERATION,
            "no deliberation authorises",
        ),
        (
            RSZ,
            "identify_person",
            "1",
            "PCSA:SOCIAL_INQUIRY",
            ON,
            RefusalReason.LEGAL_CONTEXT_NOT_ALLOWED,
            "RSZ:DIMONA",
        ),
        (OCMW_GENT, "identify_person", "2", "PCSA:SOCIAL_INQUIRY", ON, RefusalReason.NO_DELIBERATION, "v2"),
        (HZIV, "family_composition", "1", "NIC:ASSURABILITY", ON, RefusalReason.NO_DELIBERATION, "11/2"),
        (
            OCMW_GENT,
            "address_history",
            "1",
            "PCSA:PERSON_IDENTIFICATION",
            ON,
            RefusalReason.LEGAL_CONTEXT_NOT_ALLOWED,
            "'PCSA:PERSON_IDENTIFICATION' is not allowed",
        ),
        (
            MUTUALITY,
            "family_composition",
            "1",
            "PCSA:SOCIAL_INQUIRY",
            ON,
            RefusalReason.LEGAL_CONTEXT_NOT_ALLOWED,
            "NIC:ASSURABILITY",
        ),
        (
            CHILD_BENEFIT_FUND,
            "family_composition",
            "1",
            "FAMILY_BENEFITS:ENTITLEMENT",
            ON,
            RefusalReason.DELIBERATION_EXPIRED,
            "16/082 expired on 2019-12-31",
        ),
        (
            OCMW_GENT,
            "family_composition",
            "1",
            "PCSA:SOCIAL_INQUIRY",
            dt.date(2024, 1, 31),
            RefusalReason.DELIBERATION_NOT_YET_VALID,
            "24/001 is in force from 2024-02-01",
        ),
    ],
)
def test_authorise_refusals(
    deliberations: DeliberationIndex,
    inst: Inst,
    kbo: str,
    message_type: str,
    version: str,
    context: str,
    on: dt.date,
    reason: RefusalReason,
    diagnostic: str,
) -> None:
    auth = deliberations.authorise(
        requester=inst(kbo), message_type=message_type, version=version, legal_context=context, on=on
    )
    assert not auth.ok
    assert auth.deliberation is None
    assert auth.reason_code == reason
    assert auth.diagnostic is not None
    assert diagnostic in auth.diagnostic
    assert not auth.fields.apply({"a": 1})[0]


def test_validity_bounds_are_inclusive(deliberations: DeliberationIndex, inst: Inst) -> None:
    def ok(kbo: str, mt: str, context: str, on: dt.date) -> bool:
        return deliberations.authorise(
            requester=inst(kbo), message_type=mt, version="1", legal_context=context, on=on
        ).ok

    assert ok(OCMW_GENT, "family_composition", "PCSA:SOCIAL_INQUIRY", dt.date(2024, 2, 1))
    assert ok(CHILD_BENEFIT_FUND, "family_composition", "FAMILY_BENEFITS:ENTITLEMENT", dt.date(2019, 12, 31))
    assert ok(CHILD_BENEFIT_FUND, "family_composition", "FAMILY_BENEFITS:ENTITLEMENT", dt.date(2017, 1, 1))
    assert not ok(
        CHILD_BENEFIT_FUND, "family_composition", "FAMILY_BENEFITS:ENTITLEMENT", dt.date(2016, 12, 31)
    )
    assert not ok(
        CHILD_BENEFIT_FUND, "family_composition", "FAMILY_BENEFITS:ENTITLEMENT", dt.date(2020, 1, 1)
    )


# -- loading errors ------------------------------------------------------------------------------------------

BASE = """\
id: "25/010"
date: 2025-01-10
title: Test deliberation
legal_basis: Wet van 15 januari 1990, art. 15
requesters:
  - sector: 17
    institution_type: 1
providers: ["0362475538"]
message_types:
  - {name: family_composition, version: "1"}
legal_contexts: [PCSA:SOCIAL_INQUIRY]
capacities:
  - {sector: 17, code: 2}
fields:
  family_composition: [household_id, "members[].insz"]
valid_from: 2025-02-01
valid_to: null
retention_years: 10
"""


def _load(folder: Path, registry: Registry, catalogue: Catalogue) -> DeliberationIndex:
    return load_deliberations(folder, registry=registry, catalogue=catalogue)


def test_base_fixture_is_valid(tmp_path: Path, registry: Registry, catalogue: Catalogue) -> None:
    (tmp_path / "25-010.yaml").write_text(BASE)
    index = _load(tmp_path, registry, catalogue)
    assert [d.id for d in index.all()] == ["25/010"]
    assert index.get("25/010").requires_integration  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("title: Test deliberation", "title: [unclosed", "YAML syntax error"),
        ("title: Test deliberation\n", "", "title: missing key"),
        ("retention_years: 10", "retention_years: 10\ncolour: red", "colour: unknown key"),
        (
            "    institution_type: 1",
            "    institution_type: 1\n    sektor: 3",
            "requesters.0.sektor: unknown key",
        ),
        ("    institution_type: 1", "    institution_type: 2", "unknown sector/institution type 17/2"),
        ("  - sector: 17\n    institution_type: 1", "  - sector: 4", "requesters.0: unknown sector 4"),
        (
            "    institution_type: 1",
            '    institution_type: 1\n    institution: "0403019261"',
            "unknown institution 0403019261",
        ),
        (
            "    institution_type: 1",
            f'    institution_type: 1\n    institution: "{RVA}"',
            f"institution {RVA} is sector 18/0, not 17/1",
        ),
        ('providers: ["0362475538"]', 'providers: ["0403019261"]', "unknown provider institution 0403019261"),
        ('providers: ["0362475538"]', 'providers: ["0431150351"]', "0431150351 is not a valid KBO number"),
        ('providers: ["0362475538"]', 'providers: ["12345"]', "providers.0: String should match pattern"),
        (
            'providers: ["0362475538"]',
            f'providers: ["{RVA}"]',
            f"{RVA} provides none of the listed message types",
        ),
        (
            '{name: family_composition, version: "1"}',
            '{name: family_composition, version: "2"}',
            "unknown message type family_composition v2 (known versions: 1)",
        ),
        (
            '{name: family_composition, version: "1"}',
            '{name: pension, version: "1"}',
            "unknown message type pension v1 (no such message type)",
        ),
        ("{sector: 17, code: 2}", "{sector: 17, code: 101}", "unknown capacity 101 for sector 17"),
        ("{sector: 17, code: 2}", "{sector: 7, code: 101}", "capacity 7/101 is not of a requester's sector"),
        ("{sector: 17, code: 2}", "{sector: 4, code: 1}", "capacities.0: unknown sector 4"),
        (
            "capacities:\n  - {sector: 17, code: 2}",
            "capacities: []",
            "requires_integration is true but no capacity is listed",
        ),
        (
            '"members[].insz"',
            '"members[].iban"',
            "'members[].iban' is not a reply field of family_composition v1",
        ),
        ('"members[].insz"', '"members[]..insz"', "bad field path"),
        (
            "  family_composition: [household_id",
            "  address_history: [addresses]\n  family_composition: [household_id",
            "fields.address_history: not one of the deliberation's message types",
        ),
        (
            'fields:\n  family_composition: [household_id, "members[].insz"]',
            "fields: {}",
            "no allowed fields for message type family_composition",
        ),
        ("valid_to: null", "valid_to: 2025-01-31", "valid_to 2025-01-31 is before valid_from 2025-02-01"),
        ("legal_contexts: [PCSA:SOCIAL_INQUIRY]", "legal_contexts: [social inquiry]", "legal_contexts.0"),
        ('id: "25/010"', "id: 25-010", "id: String should match pattern"),
        ("retention_years: 10", "retention_years: 10\ntitle: again", "duplicate key 'title'"),
        ("requesters:", "requesters: []\nx:", "requesters: List should have at least 1 item"),
    ],
)
def test_deliberation_errors(
    tmp_path: Path, registry: Registry, catalogue: Catalogue, old: str, new: str, expected: str
) -> None:
    assert old in BASE
    (tmp_path / "bad-one.yaml").write_text(BASE.replace(old, new, 1))
    with pytest.raises(DeliberationError) as error:
        _load(tmp_path, registry, catalogue)
    assert any(p.startswith("bad-one.yaml: ") for p in error.value.problems), error.value.problems
    assert expected in str(error.value), error.value.problems


def test_duplicate_ids_and_every_problem_reported(
    tmp_path: Path, registry: Registry, catalogue: Catalogue
) -> None:
    (tmp_path / "a.yaml").write_text(BASE)
    (tmp_path / "b.yml").write_text(BASE)
    (tmp_path / "c.yaml").write_text("- just a list\n")
    (tmp_path / "d.yaml").write_text("")
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.raises(DeliberationError) as error:
        _load(tmp_path, registry, catalogue)
    problems = error.value.problems
    assert "b.yml: duplicate deliberation id 25/010 (also in a.yaml)" in problems
    assert "c.yaml: expected a mapping of deliberation keys, got list" in problems
    assert "d.yaml: expected a mapping of deliberation keys, got NoneType" in problems
    assert len(problems) == 3


def test_missing_folder(tmp_path: Path, registry: Registry, catalogue: Catalogue) -> None:
    with pytest.raises(DeliberationError, match="not a folder"):
        _load(tmp_path / "nope", registry, catalogue)


def test_most_specific_deliberation_wins(
    tmp_path: Path, registry: Registry, catalogue: Catalogue, inst: Inst
) -> None:
    shutil.copy(DELIBERATIONS_DIR / "24-001-ocmw-social-inquiry.yaml", tmp_path)
    specific = BASE.replace(
        "    institution_type: 1", f'    institution_type: 1\n    institution: "{OCMW_GENT}"'
    )
    (tmp_path / "25-010.yaml").write_text(specific)
    index = _load(tmp_path, registry, catalogue)
    for kbo, expected in ((OCMW_GENT, "25/010"), ("0212059420", "24/001")):
        auth = index.authorise(
            requester=inst(kbo),
            message_type="family_composition",
            version="1",
            legal_context="PCSA:SOCIAL_INQUIRY",
            on=ON,
        )
        assert auth.deliberation is not None
        assert auth.deliberation.id == expected
    # before 25/010 is in force, Gent falls back on the sector-wide 24/001
    early = index.authorise(
        requester=inst(OCMW_GENT),
        message_type="family_composition",
        version="1",
        legal_context="PCSA:SOCIAL_INQUIRY",
        on=dt.date(2025, 1, 15),
    )
    assert early.deliberation is not None
    assert early.deliberation.id == "24/001"


def test_sector_wide_requester(tmp_path: Path, registry: Registry, catalogue: Catalogue, inst: Inst) -> None:
    wide = BASE.replace("  - sector: 17\n    institution_type: 1", "  - sector: 17")
    (tmp_path / "25-010.yaml").write_text(wide)
    index = _load(tmp_path, registry, catalogue)
    for kbo in (OCMW_GENT, "0865863174"):  # 17/1 and 17/0
        assert index.authorise(
            requester=inst(kbo),
            message_type="family_composition",
            version="1",
            legal_context="PCSA:SOCIAL_INQUIRY",
            on=ON,
        ).ok


def test_the_rsz_identifies_workers_and_sends_social_risk_declarations(
    deliberations: DeliberationIndex, inst: Inst
) -> None:
    identify = deliberations.authorise(
        requester=inst(RSZ), message_type="identify_person", version="1", legal_context="RSZ:DIMONA", on=ON
    )
    assert identify.deliberation is not None
    assert identify.deliberation.id == "24/010"
    assert not identify.requires_integration
    kept, removed = identify.fields.apply(
        {"persons": [{"insz": "1", "last_name": "P", "birth_date": "1980-01-01", "civil_state": 1}]}
    )
    assert kept == {"persons": [{"insz": "1", "last_name": "P", "birth_date": "1980-01-01"}]}
    assert removed == ["persons[].civil_state"]
    for message_type in ("drs_wech001", "drs_wech005", "drs_zima001", "drs_aoat001"):
        sent = deliberations.authorise(
            requester=inst(RSZ),
            message_type=message_type,
            version="1",
            legal_context="RSZ:SOCIAL_RISK_DECLARATION",
            on=ON,
        )
        assert sent.deliberation is not None, message_type
        assert sent.deliberation.id == "24/011", message_type
        assert not sent.requires_integration
    read = deliberations.authorise(
        requester=inst(RVA),
        message_type="social_risk_declarations",
        version="1",
        legal_context="ONEM:UNEMPLOYMENT_INSURANCE",
        on=ON,
    )
    assert read.deliberation is not None
    assert read.deliberation.id == "24/012"
    assert read.requires_integration
    assert 902 in read.capacities
    # the RVA may not send a declaration in the RSZ's name
    assert not deliberations.authorise(
        requester=inst(RVA),
        message_type="drs_wech001",
        version="1",
        legal_context="RSZ:SOCIAL_RISK_DECLARATION",
        on=ON,
    ).ok
