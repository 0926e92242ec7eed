"""The service catalogue as data: complete, consistent with the network's services, searchable."""

from __future__ import annotations

import pytest

from kruispunt.portal.catalogue import (
    LANGUAGES,
    LEVELS,
    PUBLIC,
    CatalogueError,
    load_catalogue,
    normalise,
    parse_catalogue,
)
from kruispunt.portal.i18n import MessagesError, choose_language, load_messages, parse_messages
from kruispunt.up import OTHER_SERVICES, SOURCE_SERVICES

CATALOGUE = load_catalogue()

EXPECTED = {
    "dimona",
    "dmfa",
    "drs",
    "access-management",
    "my-file",
    "who-consulted",
    "my-rights",
    "my-attestations",
    "my-career",
    "statistics-global",
    "statistics-local",
    "statistics-household",
    "statistics-mobility-short",
    "statistics-mobility-long",
    "statistics-api",
    "research-requests",
    "network-operations",
}

KNOWN_SERVICES = {"hub", *SOURCE_SERVICES, *OTHER_SERVICES}


def test_every_online_service_is_declared() -> None:
    assert {s.id for s in CATALOGUE.services} == EXPECTED


def test_levels_follow_the_csam_scale_and_the_sensitive_services_need_a_strong_means() -> None:
    for s in CATALOGUE.services:
        assert s.level == PUBLIC or s.level in LEVELS
    assert CATALOGUE.get("who-consulted").level == 450  # type: ignore[union-attr]
    assert CATALOGUE.get("my-file").level >= 450  # type: ignore[union-attr]
    statistics = [s for s in CATALOGUE.services if s.id.startswith("statistics-")]
    assert len(statistics) == 6
    assert all(s.public for s in statistics)
    personal = CATALOGUE.for_audience("citizen")
    assert personal
    assert all(not s.public for s in personal)


def test_backends_and_sources_are_real_kruispunt_services() -> None:
    for s in CATALOGUE.services:
        assert s.backend in KNOWN_SERVICES, s.id
        for use in s.data:
            assert use.source in KNOWN_SERVICES | {"portal"}, (s.id, use.source)


def test_every_audience_area_has_services_and_paths_are_unique() -> None:
    for audience in ("citizen", "employer", "researcher", "operator", "public"):
        assert CATALOGUE.for_audience(audience), audience
    assert len({s.path for s in CATALOGUE.services}) == len(CATALOGUE)
    for s in CATALOGUE.services:
        assert CATALOGUE.by_path(s.path) is s


def test_warehouse_applications_link_to_the_warehouse_pages() -> None:
    links = {s.link for s in CATALOGUE.services if s.backend == "warehouse" and s.link}
    assert links == {
        "/apps/global",
        "/apps/local",
        "/apps/household",
        "/apps/mobility_short",
        "/apps/mobility_long",
        "/api/v2/tables",
    }


@pytest.mark.parametrize(
    ("lang", "query", "expected"),
    [
        ("nl", "loopbaan", "my-career"),
        ("fr", "carrière", "my-career"),
        ("en", "career", "my-career"),
        ("nl", "geraadpleegd", "who-consulted"),
        ("fr", "consulté", "who-consulted"),
        ("en", "consulted", "who-consulted"),
        ("nl", "risico", "drs"),
        ("fr", "risques", "drs"),
        ("en", "risk", "drs"),
    ],
)
def test_search_finds_a_service_by_a_word_in_each_language(lang: str, query: str, expected: str) -> None:
    found = [s.id for s in CATALOGUE.search(query, lang)]
    assert expected in found
    assert len(found) < len(CATALOGUE)


def test_search_is_per_language_accent_and_case_insensitive_and_needs_every_word() -> None:
    assert [s.id for s in CATALOGUE.search("CARRIERE", "fr")] == [
        s.id for s in CATALOGUE.search("carrière", "fr")
    ]
    assert CATALOGUE.search("loopbaan", "en") == []
    both = CATALOGUE.search("statistics household", "en")
    assert [s.id for s in both] == ["statistics-household"]
    assert CATALOGUE.search("", "nl") == list(CATALOGUE.services)
    assert CATALOGUE.search("xyzzy", "nl") == []


def test_title_matches_rank_before_purpose_matches() -> None:
    found = [s.id for s in CATALOGUE.search("dimona", "en")]
    assert found[0] == "dimona"
    assert "my-career" in found  # mentions Dimona in its purpose only


def test_unknown_search_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        CATALOGUE.search("dimona", "de")


def test_normalise_drops_case_and_accents() -> None:
    assert normalise("Société Générale") == "societe generale"


def _entry(**overrides: object) -> dict[str, object]:
    texts = {lang: f"text {lang}" for lang in LANGUAGES}
    entry: dict[str, object] = {
        "id": "x",
        "audience": ["citizen"],
        "level": 400,
        "backend": "hub",
        "path": "/citizen/x",
        "title": texts,
        "purpose": texts,
        "data": [{"what": texts, "source": "hub"}],
    }
    entry.update(overrides)
    return entry


def _yaml(*entries: dict[str, object]) -> str:
    import yaml

    return yaml.safe_dump({"services": list(entries)})


def test_a_well_formed_entry_loads() -> None:
    catalogue = parse_catalogue(_yaml(_entry()))
    entry = catalogue.get("x")
    assert entry is not None
    assert entry.level == 400


@pytest.mark.parametrize(
    "bad",
    [
        {"level": 300},
        {"level": True},
        {"audience": ["martians"]},
        {"audience": []},
        {"path": "citizen/x"},
        {"path": "//evil.example/x"},
        {"title": {"nl": "a", "fr": "b"}},
        {"purpose": {"nl": "a", "fr": "b", "en": ""}},
        {"data": []},
        {"id": "<script>"},
        {"colour": "red"},
    ],
)
def test_malformed_entries_are_refused_at_load_time(bad: dict[str, object]) -> None:
    with pytest.raises(CatalogueError):
        parse_catalogue(_yaml(_entry(**bad)))


def test_duplicate_ids_and_paths_are_refused() -> None:
    with pytest.raises(CatalogueError):
        parse_catalogue(_yaml(_entry(), _entry(path="/citizen/y")))
    with pytest.raises(CatalogueError):
        parse_catalogue(_yaml(_entry(), _entry(id="y")))
    with pytest.raises(CatalogueError):
        parse_catalogue("services: 3")


def test_messages_are_complete_in_every_language_and_cover_every_level_and_audience() -> None:
    messages = load_messages()
    for level in (PUBLIC, *LEVELS):
        assert f"level_{level}" in messages
    for means in LEVELS.values():
        assert f"means_{means}" in messages
    for audience in ("citizen", "employer", "researcher", "operator", "public"):
        assert f"audience_{audience}" in messages
    texts = {lang: messages["nav_login"][lang] for lang in LANGUAGES}
    assert len(set(texts.values())) == 3


def test_incomplete_messages_are_refused() -> None:
    with pytest.raises(MessagesError):
        parse_messages("hello: {nl: hallo, fr: bonjour}")
    with pytest.raises(MessagesError):
        parse_messages("hello: {nl: hallo, fr: bonjour, en: ''}")


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        (None, None, None, "nl"),
        ("fr", "en", "nl", "fr"),
        ("xx", "en", "fr", "en"),
        (None, None, "de-DE,fr;q=0.5,en;q=0.9", "en"),
        (None, None, "fr-BE", "fr"),
        (None, None, "de, en;q=0", "nl"),
        (None, None, "en;q=bogus, fr;q=0.1", "fr"),
        ("EN", None, None, "en"),
    ],
)
def test_language_choice(query: str | None, cookie: str | None, accept: str | None, expected: str) -> None:
    assert choose_language(query, cookie, accept) == expected
