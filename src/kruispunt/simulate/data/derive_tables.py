"""Derive the compact geo tables shipped in this folder from the Statbel files in ``reference/geo``.

Run once by hand when the reference files change (not imported at run time)::

    .venv/bin/python src/kruispunt/simulate/data/derive_tables.py ../shared/reference/geo

Writes ``postcodes_2020.csv`` (NIS code of the 581 municipalities of 2020 → postal codes) and
``household_types_2019.csv`` (private households per municipality and LIPRO household type).

Postal codes: ``NIS_POSTAL.csv`` (2011) maps each postal code to every NIS code it ever belonged to, including
the municipalities dissolved by the 1977/1983 fusions. We keep the pairs whose municipality was valid in 2011
(``TU_COM_REFNIS.txt`` validity dates) and carry them over the 2019 changes: seven Flemish mergers and the
recoding of eleven Hainaut municipalities (same name, new NIS code). A few Brussels postcodes that serve
organisations rather than homes are left out. The ``zip`` column of
``municipalities_2020.csv`` is not used: a few of its values are wrong (Diest 2100, Hamme 1785 …).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

# 2019 mergers: old NIS codes → new NIS code (Statbel REFNIS, validity 31/12/2018 → 01/01/2019).
MERGERS_2019 = {
    12030: 12041,
    12034: 12041,  # Puurs + Sint-Amands → Puurs-Sint-Amands
    44011: 44083,
    44049: 44083,  # Deinze + Nevele → Deinze
    44001: 44084,
    44029: 44084,  # Aalter + Knesselare → Aalter
    44036: 44085,
    44072: 44085,
    44080: 44085,  # Lovendegem + Waarschoot + Zomergem → Lievegem
    45017: 45068,
    45057: 45068,  # Kruishoutem + Zingem → Kruisem
    71047: 72042,
    72040: 72042,  # Opglabbeek + Meeuwen-Gruitrode → Oudsbergen
    72025: 72043,
    72029: 72043,  # Neerpelt + Overpelt → Pelt
}


# Brussels postcodes that serve organisations (press centre, parliament …), not homes.
NON_RESIDENTIAL = {"1031", "1041", "1051", "1052", "1071"}


def _day(text: str) -> date:
    return datetime.strptime(text.strip(), "%d/%m/%Y").date()


def main(geo: Path) -> None:
    municipalities = {
        int(row["NIS_code"]): row
        for row in csv.DictReader((geo / "municipalities_2020.csv").open(encoding="utf-8"))
    }
    valid_2011: set[int] = set()
    ended_2018: dict[int, str] = {}
    started_2019: dict[str, int] = {}
    with (geo / "TU_COM_REFNIS.txt").open(encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh, delimiter="|"):
            if row["LVL_REFNIS"] != "4":
                continue
            code, start, end = int(row["CD_REFNIS"]), _day(row["DT_VLDT_START"]), _day(row["DT_VLDT_END"])
            if start <= date(2011, 3, 12) <= end:
                valid_2011.add(code)
            if end == date(2018, 12, 31):
                ended_2018[code] = row["TX_REFNIS_FR"]
            if start == date(2019, 1, 1):
                started_2019[row["TX_REFNIS_FR"]] = code
    successor = dict(MERGERS_2019)
    for code, name in ended_2018.items():
        if code not in successor:
            successor[code] = started_2019[name]  # recoded, same name

    postcodes: dict[int, set[str]] = defaultdict(set)
    with (geo / "NIS_POSTAL.csv").open(encoding="latin-1") as fh:
        for line in fh:
            if line.startswith("#") or line.startswith("POSTAL_CODE"):
                continue
            postal, _seq, nis, expired, *_ = line.strip().split(";")
            code = int(nis)
            if expired or code not in valid_2011 or postal in NON_RESIDENTIAL:
                continue
            postcodes[successor.get(code, code)].add(postal)
    missing = sorted(set(municipalities) - set(postcodes))
    if missing:
        raise SystemExit(f"municipalities without a postal code: {missing}")
    with (HERE / "postcodes_2020.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["nis_code", "postal_code"])
        for code in sorted(municipalities):
            for postal in sorted(postcodes[code]):
                writer.writerow([code, postal])

    households: dict[int, list[int]] = defaultdict(lambda: [0] * 8)
    with (geo / "TF_CAR_HHTYPE_MUNTY.txt").open(encoding="utf-8-sig") as fh:
        for fields in csv.reader(fh, delimiter=";"):
            if fields[0] == "CD_YEAR":
                continue
            value = fields[7].strip().replace(".", "")
            households[int(fields[1])][int(fields[4]) - 1] += int(value) if value.isdigit() else 0
    if set(households) != set(municipalities):
        raise SystemExit("household table and municipality list disagree")
    with (HERE / "household_types_2019.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["nis_code", *(f"lipro_{i}" for i in range(1, 9))])
        for code in sorted(households):
            writer.writerow([code, *households[code]])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
