"""``sources.yaml`` agrees with the institutions, the capacity codes, the hub's message catalogue and the
simulated statuses; a bad file is refused when loaded."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kruispunt.network.catalogue import Catalogue
from kruispunt.network.registry import Registry
from kruispunt.sources.social import SERVICES
from kruispunt.sources.social.definitions import (
    AttestationHandler,
    DefinitionError,
    ListAttestationsHandler,
    RecordsHandler,
    load_definitions,
    parse_definitions,
)


def test_services_match_the_institutions_and_their_capacities() -> None:
    defs = load_definitions()
    assert sorted(defs) == sorted(SERVICES)
    registry = Registry.load_default()
    for name, d in defs.items():
        assert {i.kbo for i in registry.institutions_for_service(name)} == set(d.institutions), name
        for kbo in d.institutions:
            institution = registry.institution(kbo)
            assert institution is not None
            for kind in d.kinds.values():
                assert registry.capacity(institution.sector, kind.capacity) is not None, (name, kind.name)
    assert defs["nic"].message_types == defs["mutualities"].message_types
    assert defs["pod_mi"].message_types == defs["ocmws"].message_types


def test_every_message_type_is_in_the_catalogue_with_this_provider() -> None:
    catalogue = Catalogue.load_default()
    defs = load_definitions()
    for d in defs.values():
        if d.role == "members":
            continue  # reached through their managing institution
        for name, handler in d.message_types.items():
            mt = catalogue.get(name, "1")
            assert mt is not None, name
            providers = set(mt.provider_kbos)
            assert providers & set(d.institutions), (d.name, name)
            schema = mt.reply_schema or {}
            keys = set(schema.get("properties", {}))
            if isinstance(handler, RecordsHandler) and keys:
                assert {key for key, _ in handler.groups} <= keys, (d.name, name)
            if isinstance(handler, AttestationHandler | ListAttestationsHandler) and keys:
                assert keys == {"attestations"}


def test_kinds_follow_the_simulated_statuses() -> None:
    lives = pytest.importorskip("kruispunt.simulate.lives")
    kinds: dict[str, Any] = lives.KINDS
    defs = load_definitions()
    served = {}
    for d in defs.values():
        for kind in d.kinds.values():
            if kind.name not in d.declaration_kinds:  # filled by declarations received, not simulated
                served[kind.name] = (d.statuses, kind.capacity, kind.attrs)
    assert set(served) == set(kinds)
    for name, info in kinds.items():
        assert served[name] == (info.source, info.capacity, tuple(info.attrs)), name


def _doc(**change: Any) -> dict[str, Any]:
    service: dict[str, Any] = {
        "title": "t",
        "role": "primary",
        "institutions": ["0206731645"],
        "statuses": "rsz",
        "kinds": {"dimona_period": {"capacity": 30, "attrs": ["employer_kbo"]}},
        "message_types": {"dimona_periods": {"records": {"dimona_periods": ["dimona_period"]}}},
    }
    service.update(change)
    return {"services": {"rsz": service}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"message_types": {"x": {"records": {"k": ["unknown"]}}}}, "unknown kind"),
        (
            {"message_types": {"x": {"records": {"k": ["dimona_period"]}, "list_attestations": {}}}},
            "exactly one",
        ),
        ({"institutions": ["0206731646"]}, "KBO"),
        ({"kinds": {"dimona_period": {"capacity": 30, "attrs": ["start"]}}}, "reserved"),
        ({"role": "members"}, "component"),
        ({"colour": "blue"}, "sources.yaml"),
    ],
)
def test_a_bad_definition_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        parse_definitions(_doc(**change))
    assert (
        parse_definitions(yaml.safe_load(yaml.safe_dump(_doc())))["rsz"].kinds["dimona_period"].capacity == 30
    )
