"""Synthetic employers of the nation, vectorised and deterministic by seed.

``generate_employers(seed, count)`` draws ``count`` employers, each with

* a valid, unique **KBO enterprise number** (first digit 0) from a sequence that starts at ``0870000000``,
  above the demo institutions' numbers (``02…``/``03…``/``04…``, ``0865863174``), in increasing steps of 1–2;
* a valid, unique definitive **RSZ employer number** (9 digits, :mod:`kruispunt.ids.rsz`), sequences
  100 000 … 1 999 999, shuffled against the KBO order;
* a **joint committee** (paritair comité) drawn from :data:`JOINT_COMMITTEES` with its share of employers;
* a plausible **name** in the language of the employer's region ("Bakkerij Peeters BV",
  "Transports Dubois SRL", "Woonzorgcentrum Sint-Jozef VZW");
* a **municipality** (NIS code), drawn in proportion to inhabitants (:mod:`kruispunt.simulate.geo`);
* a **size** weight, Zipf-like (``P(size ≥ x) ≈ x^-1.05``, capped at 30 000, times a factor per joint
  committee: hospitals and supermarkets are bigger, cafés smaller), read as an expected head count: most
  employers are tiny and a few employ thousands. People pick their employer in proportion to it.

Same ``(seed, count)`` → the same table; ``generate_employers(seed, n)`` is **not** a prefix of a larger
table (the KBO steps are drawn for the whole table). 500 000 employers take about 1.5 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from kruispunt.simulate import names as _names
from kruispunt.simulate.geo import AREA_BRUSSELS, AREA_FLEMISH, AREA_FRENCH, AREA_GERMAN, geography

Array = npt.NDArray[Any]

KBO_FIRST_SEQUENCE = 8_700_000
"""The first 8-digit KBO sequence: employers are ``0870000000``-``0999999999`` (first digit 0)."""
_KBO_LAST_SEQUENCE = 9_999_999
RSZ_FIRST_SEQUENCE = 100_000
_RSZ_LAST_SEQUENCE = 1_999_999
MAX_EMPLOYERS = _KBO_LAST_SEQUENCE - KBO_FIRST_SEQUENCE + 1
_MAX_SIZE = 30_000.0
_ZIPF_ALPHA = 1.05

JOINT_COMMITTEES: dict[str, float] = {
    "200": 0.24,  # aanvullend paritair comité voor de bedienden (white-collar, auxiliary)
    "100": 0.09,  # aanvullend paritair comité voor de werklieden (blue-collar, auxiliary)
    "124": 0.11,  # bouwbedrijf (construction)
    "302": 0.09,  # hotelbedrijf (hospitality)
    "118": 0.04,  # voedingsnijverheid (food industry)
    "111": 0.04,  # metaal-, machine- en elektrische bouw (metal)
    "140": 0.05,  # vervoer en logistiek (transport)
    "330": 0.05,  # gezondheidsinrichtingen en -diensten (health care)
    "322.01": 0.02,  # dienstenchequebedrijven (service vouchers)
    "152": 0.02,  # gesubsidieerde inrichtingen van het vrij onderwijs (education, workers)
    "201": 0.12,  # zelfstandige kleinhandel (independent retail)
    "311": 0.01,  # grote kleinhandelszaken (large retail)
    "319": 0.02,  # opvoedings- en huisvestingsinrichtingen (care and education homes)
    "209": 0.02,  # bedienden uit de metaalfabrikatennijverheid (metal, white-collar)
    "220": 0.02,  # bedienden uit de voedingsnijverheid (food, white-collar)
    "116": 0.01,  # scheikundige nijverheid (chemicals, blue-collar)
    "207": 0.01,  # bedienden uit de scheikundige nijverheid (chemicals, white-collar)
    "149.04": 0.04,  # metaalhandel / garages (car repair)
}
"""Joint committees and their share of employers (the size factor below shifts the share of workers)."""

_SIZE_FACTOR = {"330": 3.0, "311": 4.0, "152": 2.0, "322.01": 2.0, "302": 0.6, "201": 0.5, "319": 1.5}

# Activity words per joint committee and language (nl, fr, de); "{m}" is the municipality's name.
_ACTIVITY: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "200": (
        ("Boekhoudkantoor", "Adviesbureau", "Consultancy", "Verzekeringen", "Immo", "Architectenbureau"),
        ("Fiduciaire", "Bureau d'études", "Conseil", "Assurances", "Immobilière", "Cabinet"),
        ("Steuerbüro", "Beratung", "Versicherungen", "Immobilien"),
    ),
    "100": (
        ("Tuinaanleg", "Schrijnwerkerij", "Schoonmaak", "Drukkerij", "Garage"),
        ("Jardins", "Menuiserie", "Nettoyage", "Imprimerie", "Garage"),
        ("Gartenbau", "Schreinerei", "Reinigung", "Druckerei"),
    ),
    "124": (
        ("Bouwbedrijf", "Bouwwerken", "Dakwerken", "Renovatie", "Aannemingen"),
        ("Construction", "Toitures", "Rénovation", "Entreprise générale", "Travaux"),
        ("Bauunternehmen", "Dachdecker", "Bau"),
    ),
    "302": (
        ("Brasserie", "Restaurant", "Hotel", "Eetcafé", "Taverne"),
        ("Brasserie", "Restaurant", "Hôtel", "Taverne", "Friterie"),
        ("Gasthof", "Restaurant", "Hotel"),
    ),
    "118": (
        ("Bakkerij", "Slagerij", "Voeding", "Zuivel", "Brouwerij"),
        ("Boulangerie", "Boucherie", "Alimentation", "Biscuiterie", "Brasserie"),
        ("Bäckerei", "Metzgerei", "Molkerei"),
    ),
    "111": (
        ("Metaalwerken", "Staalbouw", "Machinebouw", "Elektrotechniek"),
        ("Constructions métalliques", "Ateliers", "Mécanique", "Électricité"),
        ("Metallbau", "Maschinenbau", "Elektro"),
    ),
    "140": (
        ("Transport", "Logistiek", "Koeriers", "Autocars"),
        ("Transports", "Logistique", "Messagerie", "Autocars"),
        ("Transporte", "Spedition", "Logistik"),
    ),
    "330": (
        ("Woonzorgcentrum", "Thuisverpleging", "Ziekenhuis", "Medisch Centrum"),
        ("Maison de repos", "Soins à domicile", "Centre hospitalier", "Clinique"),
        ("Seniorenheim", "Hauskrankenpflege", "Klinik"),
    ),
    "322.01": (
        ("Dienstencheques", "Huishoudhulp", "Poetsdienst"),
        ("Titres-services", "Aide ménagère", "Services à domicile"),
        ("Dienstleistungsschecks", "Haushaltshilfe"),
    ),
    "152": (
        ("Vrije Basisschool", "Sint-Jozefscollege", "Scholengroep", "Technisch Instituut"),
        ("Institut", "Collège", "École libre", "Athénée"),
        ("Schule", "Institut", "Pater-Damian-Schule"),
    ),
    "201": (
        ("Bloemen", "Kledij", "Schoenen", "Fietsen", "Boekhandel", "Optiek"),
        ("Fleurs", "Boutique", "Chaussures", "Vélos", "Librairie", "Optique"),
        ("Blumen", "Mode", "Schuhe", "Fahrräder"),
    ),
    "311": (
        ("Supermarkt", "Warenhuis", "Doe-het-zelf"),
        ("Supermarché", "Grand magasin", "Brico"),
        ("Supermarkt", "Kaufhaus"),
    ),
    "319": (
        ("Kinderdagverblijf", "Begeleidingscentrum", "Dagcentrum"),
        ("Crèche", "Centre d'accueil", "Service résidentiel"),
        ("Kinderkrippe", "Wohnheim"),
    ),
    "209": (
        ("Engineering", "Technics", "Industrie"),
        ("Engineering", "Industries", "Techniques"),
        ("Technik", "Industrie"),
    ),
    "220": (
        ("Foods", "Voedingsgroep", "Distributie"),
        ("Foods", "Groupe alimentaire", "Distribution"),
        ("Lebensmittel", "Vertrieb"),
    ),
    "116": (
        ("Chemie", "Coatings", "Kunststoffen"),
        ("Chimie", "Peintures", "Plastiques"),
        ("Chemie", "Kunststoffe"),
    ),
    "207": (
        ("Chemicals", "Pharma", "Labo"),
        ("Chemicals", "Pharma", "Laboratoires"),
        ("Pharma", "Labor"),
    ),
    "149.04": (
        ("Garage", "Autobedrijf", "Carrosserie", "Bandencentrale"),
        ("Garage", "Carrosserie", "Pneus", "Automobiles"),
        ("Autohaus", "Karosserie", "Reifen"),
    ),
}
_NONPROFIT = frozenset({"330", "152", "319"})
_FORMS = (("BV", "NV", "CommV", "CV"), ("SRL", "SA", "SComm", "SC"), ("GmbH", "AG", "KG", "Gen"))
_FORM_P = np.cumsum([0.72, 0.2, 0.04, 0.04])
_NONPROFIT_FORMS = ("VZW", "ASBL", "VoG")
_SAINTS = (
    ("Sint-Jozef", "Sint-Vincentius", "Heilig Hart", "Onze-Lieve-Vrouw", "Sint-Jan", "Sint-Elisabeth"),
    ("Saint-Joseph", "Saint-Vincent", "Sacré-Cœur", "Notre-Dame", "Saint-Jean", "Sainte-Élisabeth"),
    ("St. Josef", "St. Nikolaus", "Maria Hilf", "St. Vith"),
)
_FAMILY = (
    ("{s} & Zonen", "{s} & Co", "Gebroeders {s}"),
    ("{s} & Fils", "{s} & Cie", "{s} Frères"),
    ("{s} & Söhne", "{s} & Co", "Gebrüder {s}"),
)
_LANGS = ("nl", "fr", "de")


@dataclass
class EmployerTable:
    """One row per employer (column arrays).

    ``kbo`` <U10 enterprise number; ``rsz`` <U9 definitive RSZ number; ``name`` object; ``joint_committee``
    <U6 ("200", "322.01"); ``nis_code`` int32; ``size`` float64 weight (expected head count, Zipf-like).
    """

    kbo: Array
    rsz: Array
    name: Array
    joint_committee: Array
    nis_code: Array
    size: Array

    def __len__(self) -> int:
        return len(self.kbo)

    def records(self) -> Iterator[dict[str, Any]]:
        """One plain dict per employer (tests and small tools)."""
        names = [f.name for f in fields(self)]
        columns = [getattr(self, n).tolist() for n in names]
        for values in zip(*columns, strict=True):
            yield dict(zip(names, values, strict=True))


def _zero_padded(numbers: Array, width: int) -> Array:
    if len(numbers) == 0:
        return np.zeros(0, dtype=f"U{width}")
    return np.asarray(np.char.zfill(numbers.astype(f"U{width}"), width))


def _enterprise_numbers(seq8: Array) -> Array:
    """KBO enterprise numbers: ``seq8`` followed by the check digits ``97 - seq8 mod 97``."""
    seq = seq8.astype(np.int64)
    return _zero_padded(seq * 100 + (97 - seq % 97), 10)


def _rsz_numbers(seq7: Array) -> Array:
    """Definitive RSZ numbers: ``seq7`` and the check digits ``96 - (100 × seq7 mod 97)``."""
    seq = seq7.astype(np.int64)
    return _zero_padded(seq * 100 + (96 - (seq * 100) % 97), 9)


def _increasing(rng: np.random.Generator, first: int, last: int, count: int) -> Array:
    """``count`` increasing distinct integers from ``first`` in steps of 1–2 (1 when the range is tight)."""
    span = last - first + 1
    if count > span:
        raise ValueError(f"at most {span} employers")
    steps = rng.integers(1, 3, count) if 2 * count <= span else np.ones(count, dtype=np.int64)
    if count:
        steps[0] = 0
    return first + np.cumsum(steps)


def _choose(rng: np.random.Generator, options: tuple[str, ...], size: int) -> Array:
    pool = np.array(options, dtype=object)
    return np.asarray(pool[rng.integers(0, len(pool), size)])


_PARTICLES = frozenset({"van", "de", "den", "der", "le", "la", "di", "lo", "da", "dos", "d'"})


def _surnames(lang_code: str) -> Array:
    """The last names of one language, without the bare particles a line break left in the lists."""
    kept = [s for s in _names.LAST_NAMES[lang_code] if s.split()[-1].lower() not in _PARTICLES]
    return np.array(kept, dtype=object)


def _names_for(rng: np.random.Generator, committee: Array, lang: Array, municipality: Array) -> Array:
    """Company names by joint committee and language (0 nl, 1 fr, 2 de)."""
    n = len(committee)
    activity = np.empty(n, dtype=object)
    surname = np.empty(n, dtype=object)
    second = np.empty(n, dtype=object)
    family = np.empty(n, dtype=object)
    form = np.empty(n, dtype=object)
    place = np.asarray(municipality, dtype=object).copy()
    style = rng.random(n)
    nonprofit = np.isin(committee, list(_NONPROFIT))
    for li, lang_code in enumerate(_LANGS):
        surnames = _surnames(lang_code)
        in_lang = lang == li
        sel = np.flatnonzero(in_lang)
        m = len(sel)
        surname[sel] = surnames[rng.integers(0, len(surnames), m)]
        second[sel] = surnames[rng.integers(0, len(surnames), m)]
        family[sel] = _choose(rng, _FAMILY[li], m)
        form[sel] = np.array(_FORMS[li], dtype=object)[
            np.minimum(np.searchsorted(_FORM_P, rng.random(m), side="right"), len(_FORMS[li]) - 1)
        ]
        for jc, activities in _ACTIVITY.items():
            sub = np.flatnonzero((committee == jc) & in_lang)
            activity[sub] = _choose(rng, activities[li], len(sub))
        npo = np.flatnonzero(nonprofit & in_lang)
        form[npo] = _NONPROFIT_FORMS[li]
        saint = rng.random(len(npo)) < 0.5
        place[npo[saint]] = _choose(rng, _SAINTS[li], int(saint.sum()))
    pattern = np.select([nonprofit, style < 0.6, style < 0.75, style < 0.85], [4, 0, 1, 2], default=3)
    out = np.empty(n, dtype=object)
    for p in range(5):
        i = np.flatnonzero(pattern == p)
        a, s, f = activity[i], surname[i], form[i]
        if p == 0:
            out[i] = a + " " + s + " " + f
        elif p == 1:
            out[i] = s + " " + a + " " + f
        elif p == 2:
            head = family[i]
            leading = np.array([t.startswith("{s}") for t in head.tolist()], dtype=bool)
            words = np.array([t.replace("{s}", "").strip() for t in head.tolist()], dtype=object)
            out[i] = np.where(leading, s + " " + words, words + " " + s) + " " + f
        elif p == 3:
            out[i] = s + " & " + second[i] + " " + f
        else:
            out[i] = a + " " + place[i] + " " + f
    return out


def generate_employers(seed: int, count: int) -> EmployerTable:
    """``count`` employers of nation ``seed`` (deterministic)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    if count > MAX_EMPLOYERS:
        raise ValueError(f"at most {MAX_EMPLOYERS} employers")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x454D50, count]))
    geo = geography()

    kbo = _enterprise_numbers(_increasing(rng, KBO_FIRST_SEQUENCE, _KBO_LAST_SEQUENCE, count))
    rsz = _rsz_numbers(rng.permutation(_increasing(rng, RSZ_FIRST_SEQUENCE, _RSZ_LAST_SEQUENCE, count)))

    codes = np.array(list(JOINT_COMMITTEES), dtype="U6")
    shares = np.array(list(JOINT_COMMITTEES.values()), dtype=np.float64)
    cdf = np.cumsum(shares / shares.sum())
    committee = codes[np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), len(codes) - 1)]

    muni = geo.draw_municipalities(rng, count)
    area = geo.area[muni]
    lang = np.select(
        [area == AREA_FLEMISH, area == AREA_FRENCH, area == AREA_GERMAN, area == AREA_BRUSSELS],
        [0, 1, 2, np.where(rng.random(count) < 0.3, 0, 1)],
        default=1,
    )
    municipality = np.where(
        lang == 0, geo.name_nl[muni], np.where(lang == 2, geo.name_de[muni], geo.name_fr[muni])
    )

    factor = np.ones(count)
    for jc, f in _SIZE_FACTOR.items():
        factor[committee == jc] = f
    u = 1.0 - rng.random(count)  # (0, 1]
    size = np.minimum(np.floor(u ** (-1.0 / _ZIPF_ALPHA)) * factor, _MAX_SIZE)

    return EmployerTable(
        kbo=kbo,
        rsz=rsz,
        name=_names_for(rng, committee, lang, municipality),
        joint_committee=committee,
        nis_code=geo.nis_code[muni].astype(np.int32),
        size=size.astype(np.float64),
    )
