from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from kruispunt.network.directory import DirectoryError, seed_registry, set_endpoint
from kruispunt.network.registry import (
    Capacity,
    Institution,
    Registry,
    RegistryError,
    UnknownInstitution,
    is_valid_kbo,
    parse_capacities,
    parse_institutions,
    parse_sectors,
)

from .conftest import KSZ, NATIONAL_REGISTER, OCMW_GENT, RVA


def test_sector_list_is_read_with_sub_types(registry: Registry) -> None:
    sectors = registry.sectors()
    assert len(sectors) == 209  # (sector, type) pairs; blank rows skipped
    assert len({s.code for s in sectors}) == 85  # sector codes
    assert {s.institution_type for s in sectors if s.code == 17} == {0, 1, 3}
    assert {s.institution_type for s in sectors if s.code == 11} == {0, 1, 2, 3, 4, 5}
    ocmw = registry.sector(17, 1)
    assert ocmw is not None
    assert ocmw.short_name == "OCMW"
    assert ocmw.short_name_fr == "CPAS"
    assert ocmw.name_fr == "Centres publics d'action sociale"
    assert registry.sector(25, 0) is not None
    assert registry.sector(25, 0).name_nl == "Kruispuntbank van de Sociale Zekerheid"  # type: ignore[union-attr]
    assert registry.sector(94, 0) is not None  # last sector before the blank rows


def test_sector_names_are_whitespace_collapsed(registry: Registry) -> None:
    bipt = registry.sector(44, 0)
    assert bipt is not None
    assert "\n" not in bipt.name_nl
    assert bipt.name_nl.startswith("Institut belge des services postaux")


def test_sector_known(registry: Registry) -> None:
    assert registry.sector_known(17, 1)
    assert not registry.sector_known(17, 2)
    assert registry.sector_known(17)
    assert not registry.sector_known(4)


def test_capacities_include_network_wide_codes(registry: Registry) -> None:
    assert len(registry.capacities()) == 106
    provisional = registry.capacity(17, 902)
    assert provisional == Capacity(None, 902, "Inscription provisoire", "Voorlopige inschrijving")
    assert registry.capacity(5, 0) is not None
    assert registry.capacity(5, 0).sector is None
    leefloon = registry.capacity(17, 2)
    assert leefloon is not None
    assert (leefloon.sector, leefloon.label_nl, leefloon.label_de) == (
        17,
        "Leefloon",
        "Eingliederungseinkommen",
    )
    assert registry.capacity(17, 101) is None
    assert registry.capacity(7, 101) is not None
    assert registry.capacity(11, 1) is not None
    codes = {c.code for c in registry.capacities(17)}
    assert {0, 902, 999, 1, 2, 3, 4, 40} <= codes
    assert 101 not in codes


def test_demo_institutions(registry: Registry) -> None:
    institutions = registry.institutions()
    assert len(institutions) >= 14
    assert all(is_valid_kbo(i.kbo) for i in institutions)
    ksz = registry.institution(KSZ)
    assert ksz is not None
    assert (ksz.sector, ksz.institution_type, ksz.service) == (25, 0, "bis_register")
    assert [i.kbo for i in registry.institutions_for_service("national_register")] == [NATIONAL_REGISTER]
    assert len(registry.institutions_in(17, 1)) == 3
    assert registry.institutions_in(11, 1)
    assert registry.institutions_in(7, 1)
    assert ksz.register == "PRIMARY"
    assert registry.institution(OCMW_GENT).register == "SECONDARY"  # type: ignore[union-attr]


def test_identify_by_cbe(registry: Registry) -> None:
    assert registry.identify(cbe_number=OCMW_GENT).name == "OCMW Gent"
    assert registry.identify(cbe_number=OCMW_GENT, sector=17, institution_type=1).kbo == OCMW_GENT
    with pytest.raises(UnknownInstitution) as unknown:
        registry.identify(cbe_number="0403019261")
    assert unknown.value.code == "UNKNOWN_CBE"
    with pytest.raises(UnknownInstitution) as mismatch:
        registry.identify(cbe_number=OCMW_GENT, sector=18, institution_type=0)
    assert mismatch.value.code == "MISMATCH"


def test_identify_by_sector_pair(registry: Registry) -> None:
    assert registry.identify(sector=0, institution_type=0).kbo == NATIONAL_REGISTER
    assert registry.identify(sector=18).kbo == RVA  # no type: the managing body (type 0)
    with pytest.raises(UnknownInstitution) as ambiguous:
        registry.identify(sector=17, institution_type=1)
    assert ambiguous.value.code == "AMBIGUOUS"
    assert "ambiguous" in ambiguous.value.reason
    assert "identify with cbeNumber" in ambiguous.value.reason
    with pytest.raises(UnknownInstitution) as unknown:
        registry.identify(sector=99, institution_type=9)
    assert unknown.value.code == "UNKNOWN_SECTOR"
    with pytest.raises(UnknownInstitution) as empty:
        registry.identify(sector=2, institution_type=0)  # a real sector without an institution in the demo
    assert empty.value.code == "NO_INSTITUTION"
    with pytest.raises(UnknownInstitution) as missing:
        registry.identify()
    assert missing.value.code == "MISSING"


def test_with_endpoints_returns_a_new_registry(registry: Registry) -> None:
    wired = registry.with_endpoints({"national_register": "http://127.0.0.1:8001", "nothing": "http://x"})
    assert wired.institution(NATIONAL_REGISTER).endpoint == "http://127.0.0.1:8001"  # type: ignore[union-attr]
    assert wired.institution(KSZ).endpoint is None  # type: ignore[union-attr]
    assert registry.institution(NATIONAL_REGISTER).endpoint is None  # type: ignore[union-attr]
    assert wired.institutions_for_service("national_register")[0].endpoint == "http://127.0.0.1:8001"


def test_registry_refuses_bad_reference_data(registry: Registry) -> None:
    sectors = registry.sectors()
    with pytest.raises(RegistryError, match="not a valid KBO"):
        Registry(sectors=sectors, capacities=[], institutions=[Institution("0431150351", "x", 17, 1)])
    with pytest.raises(RegistryError, match="not in the sector list"):
        Registry(sectors=sectors, capacities=[], institutions=[Institution(KSZ, "x", 17, 9)])
    with pytest.raises(RegistryError, match="twice"):
        Registry(sectors=sectors, capacities=[], institutions=[Institution(KSZ, "x", 25, 0)] * 2)


def test_parsers_refuse_bad_rows() -> None:
    header = "Sector;;verkorte naam;Omschrijving;Abréviation;Nom\ncode;type;naam;;naam;\n"
    with pytest.raises(RegistryError, match="listed twice"):
        parse_sectors(header + "1;0;A;a;A;a\n;0;A;a;A;a\n")
    with pytest.raises(RegistryError, match="not a number"):
        parse_sectors(header + "x;0;A;a;A;a\n")
    with pytest.raises(RegistryError, match="before any sector"):
        parse_sectors(header + ";1;A;a;A;a\n")
    assert [
        (s.code, s.institution_type) for s in parse_sectors(header + "3;0;A;a;A;a\n ;2;B;b;B;b\n;;;;;\n")
    ] == [
        (3, 0),
        (3, 2),
    ]
    with pytest.raises(RegistryError, match="bad sector/code"):
        parse_capacities("sector;capacity_code;label_fr;label_nl\nx;1;a;b\n")
    with pytest.raises(RegistryError, match="listed twice"):
        parse_capacities("sector;capacity_code;label_fr;label_nl\n*;1;a;b\n*;1;a;b\n")
    with pytest.raises(RegistryError, match="unknown keys"):
        parse_institutions(
            "institutions:\n  - {kbo: '0244640631', name: x, sector: 25, institution_type: 0, y: 1}\n"
        )
    with pytest.raises(RegistryError, match="needs kbo"):
        parse_institutions("institutions:\n  - {kbo: '0244640631'}\n")
    with pytest.raises(RegistryError, match="expected a mapping"):
        parse_institutions("- 1\n")


@given(st.integers(min_value=0, max_value=19_999_999))
def test_kbo_check(sequence: int) -> None:
    base = f"{sequence:08d}"
    check = 97 - int(base) % 97
    number = f"{base}{check:02d}"
    assert is_valid_kbo(number)
    wrong = f"{base}{(check % 97) + 1:02d}"
    assert not is_valid_kbo(wrong)
    assert not is_valid_kbo("2" + number[1:])


def test_known_kbo_vectors() -> None:
    for valid in ("0403019261", "0428759497", "0202239951", "0468561072", "0244640631", "0212344876"):
        assert is_valid_kbo(valid)
    for invalid in ("0431150351", "BE0000000000", "244640631", "２244640631"):
        assert not is_valid_kbo(invalid)


def test_seed_and_load_from_db(hub_engine: Engine, registry: Registry) -> None:
    with hub_engine.begin() as conn:
        first = seed_registry(conn, registry)
    assert first == {"sectors": 209, "capacities": 106, "institutions": len(registry.institutions())}
    with hub_engine.begin() as conn:
        assert seed_registry(conn, registry) == {"sectors": 0, "capacities": 0, "institutions": 0}
        set_endpoint(conn, NATIONAL_REGISTER, "http://127.0.0.1:8001")
        with pytest.raises(DirectoryError) as unknown:
            set_endpoint(conn, "0403019261", "http://x")
        assert unknown.value.code == "UNKNOWN_INSTITUTION"
    with hub_engine.begin() as conn:
        assert seed_registry(conn, registry)["institutions"] == 0  # the endpoint set in the DB is kept
        loaded = Registry.from_db(conn)
    assert loaded.sectors() == registry.sectors()
    assert loaded.capacities() == registry.capacities()
    assert loaded.institution(NATIONAL_REGISTER).endpoint == "http://127.0.0.1:8001"  # type: ignore[union-attr]
    assert [i.kbo for i in loaded.institutions()] == [i.kbo for i in registry.institutions()]
    with hub_engine.begin() as conn:
        assert seed_registry(conn, registry.with_endpoints({"bis_register": "http://b"}))["institutions"] == 1
        assert Registry.from_db(conn).institution(KSZ).endpoint == "http://b"  # type: ignore[union-attr]
