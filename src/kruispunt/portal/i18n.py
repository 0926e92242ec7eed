"""The portal's user-interface strings in Dutch, French and English, and the choice of language.

Why a YAML table with every language on one key: a missing translation is refused when the portal starts
(:func:`load_messages`), not discovered by a user on a page. The language comes from, in this order,
``?lang=``, the ``kp_lang`` cookie, the browser's ``Accept-Language``, and otherwise Dutch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

import yaml

from kruispunt.portal.catalogue import LANGUAGES

DEFAULT_LANGUAGE = LANGUAGES[0]
LANG_COOKIE = "kp_lang"

Translate = Callable[..., str]


class MessagesError(ValueError):
    """A UI string is missing a language or is not text."""


def parse_messages(text: str) -> dict[str, dict[str, str]]:
    """The table key → language → text, checked complete."""
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise MessagesError("messages: a mapping of keys is expected")
    table: dict[str, dict[str, str]] = {}
    for key, texts in document.items():
        if not isinstance(key, str) or not isinstance(texts, dict) or set(texts) != set(LANGUAGES):
            raise MessagesError(f"message {key!r}: needs exactly the languages {', '.join(LANGUAGES)}")
        if not all(isinstance(texts[lang], str) and texts[lang].strip() for lang in LANGUAGES):
            raise MessagesError(f"message {key!r}: every language needs a non-empty text")
        table[key] = {lang: str(texts[lang]).strip() for lang in LANGUAGES}
    return table


def load_messages() -> dict[str, dict[str, str]]:
    """Every ``data/messages*.yaml`` of the portal (one per area), merged; a key defined twice is refused."""
    folder = resources.files("kruispunt.portal").joinpath("data")
    table: dict[str, dict[str, str]] = {}
    names = sorted(
        f.name for f in folder.iterdir() if f.name.startswith("messages") and f.name.endswith("yaml")
    )
    for name in names:
        part = parse_messages(folder.joinpath(name).read_text(encoding="utf-8"))
        twice = sorted(set(part) & set(table))
        if twice:
            raise MessagesError(f"{name}: messages defined in another file too: {', '.join(twice)}")
        table.update(part)
    return table


def parse_accept_language(header: str | None) -> str | None:
    """The portal language the browser prefers most, or ``None`` if it accepts none of them."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        fields = part.strip().split(";")
        tag = fields[0].strip().lower()
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def choose_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """``?lang=`` first, then the cookie, then Accept-Language, then Dutch; unknown values are ignored."""
    for candidate in (query, cookie):
        if candidate and candidate.lower() in LANGUAGES:
            return candidate.lower()
    return parse_accept_language(accept_language) or DEFAULT_LANGUAGE


def translator(messages: Mapping[str, Mapping[str, str]], lang: str) -> Translate:
    """``t(key, **values)`` in ``lang``; an unknown key is a programming error and raises."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")

    def t(key: str, /, **values: Any) -> str:
        text = messages[key][lang]
        return text.format(**values) if values else text

    return t
