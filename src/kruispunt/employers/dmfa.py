"""DmfA: the quarterly multifunctional declaration — validation, storage, modifications, delivery.

One path for every channel: an XML file (streamed, :mod:`dmfa_xml`), a JSON declaration (turned into the same
XML and read by the same code) and a modification (DMFAUPD, XML or JSON). Each rule gives an anomaly
``ZZZZZ-EEE`` (zone of the data in error + annex-30 code) with its class:

* header: quarter (YYYYQ, not after the last closed quarter), RSZ number (check digits, in the repertory),
  CompanyID (check digits, the repertory's), no second original for the same employer and quarter — **B**;
* natural person: INSZ check digits (**B**), the same INSZ twice (**B**);
* worker record: employer category (annex 27, valid that year, the repertory's), worker code (annex 2,
  presence 1 or 3, valid that year), the quarter's first and last day — **B**;
* occupation: start present, start ≤ end, the occupation lies in the quarter (it may start before it: the
  start is the hiring date while nothing changed), joint committee format, covered by a Dimona period of
  that employer and worker (``dimona_period``; periods of worker type DWD, "Dimona without DmfA", do not
  count) — **B**; service codes (annex 8) and remuneration codes (annex 7) valid in the DmfA that year —
  **B**;
* contributions recomputed from the wages (:mod:`contributions`, a simplified model) and compared with the
  declared ``WorkerContribution`` of the worker code: more than the tolerance apart — **P** with both values;
* ``NetOwedAmount`` against the declared contributions minus the declared deductions — **NP**.

**A blocking anomaly anywhere refuses the whole declaration** (result B), as the real DmfA does (Diagnosis 3,
"blocking anomalies"): a quarter's declaration is one whole, so half of it is never kept. The declaration is
still stored with its anomalies (the notification lists them); its worker records are not.

Storage: one transaction per **file** — the Forms of a file are processed in order, worker records are bulk
inserted per chunk of :data:`CHUNK` natural persons (one ``executemany``, and one query for the Dimona
periods of the whole chunk); a schema error met halfway (the reader validates while it streams) rolls the
whole file back and the receipt says NOK with the line. An accepted declaration enqueues, in the same
transaction, one delivery per natural person to the RSZ source (``rsz_dmfa``: the person's ``dmfa_quarter``
file, worker records of the person summed; a person's several worker records share one file key).

Modifications (DMFAUPD, ``DmfAUpdate_20223.xsd``): ``EmployerDeclarationPID`` names the declaration — its
permanent id is the ``declaration`` id of the original (version 1), shown by
``GET /dmfa/{employer}/{quarter}``.
A modification builds version n+1 in full: the worker records of version n are copied, then each
``WorkerRecordUpdate`` (keyed by INSZ, employer category and worker code) applies its ``UpdateAction``
(zone 00618, as we read it: 0 unchanged, 1 added, 3 replaced, 9 deleted) and the changed records go through
the same rules. Accepted → version n is marked superseded (and stays readable); refused → version n stays
the current one. Only an existing declaration of that employer and quarter can be modified (else B).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import IO, Any

from sqlalchemy import BigInteger, Connection, Engine, delete, insert, literal, select, update

from kruispunt.employers import codes, contributions, service
from kruispunt.employers import dmfa_xml as dx
from kruispunt.employers.anomalies import (
    DUPLICATE,
    EMPLOYER_NOT_IN_REPERTORY,
    END_BEFORE_START,
    INCOMPATIBLE_PERIOD,
    INCOMPATIBLE_REPERTORY,
    INVALID,
    INVALID_CHECK_DIGIT,
    NOT_IN_DOMAIN,
    NOT_PRESENT,
    TOTAL_DIFFERS,
    Anomaly,
    AnomalyClass,
    anomaly,
    as_json,
)
from kruispunt.employers.errors import DeclarationRefused
from kruispunt.employers.models import (
    declaration_table,
    dimona_period_table,
    dmfa_declaration_table,
    dmfa_worker_record_table,
)
from kruispunt.employers.service import EmployerRef
from kruispunt.employers.xmlsafe import XmlRefused
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number, validate_insz, validate_rsz_number

CHUNK = 1000
"""Natural persons per chunk: one Dimona query and one bulk insert each."""
MAX_STORED_ANOMALIES = 10_000
"""Anomalies kept per declaration (the count says how many there were)."""
ANSWER_ANOMALIES = 100
"""Anomalies listed per declaration in an HTTP answer (the notification has them all)."""

KIND = "DMFA"
KIND_UPDATE = "DMFAUPD"
TARGET = "rsz_dmfa"

# error codes of annex 30 used here beyond the named ones of ``anomalies``
ALREADY_DECLARED = "272"
NOT_IN_DIMONA = "208"
AFTER_THE_QUARTER = "145"
QUARTER_MISMATCH = "034"

_JOINT_COMMITTEE = re.compile(r"\d{3}(\.\d{2}){0,2}")
_PRESENCE_WORKER_LINE = frozenset({"1", "3"})


# ---------------------------------------------------------------------------------------------- quarters


@dataclass(frozen=True, slots=True)
class Quarter:
    code: int
    year: int
    number: int
    start: dt.date
    end: dt.date

    @property
    def label(self) -> str:
        """The form of the RSZ source's ``dmfa_quarter`` files (``simulate.lives``): ``"2024-3"``."""
        return f"{self.year}-{self.number}"


def quarter_of(code: int | str) -> Quarter | None:
    """``20243`` (or ``"2024-3"``, ``"2024-Q3"``, ``"2024Q3"``) as a :class:`Quarter`; None when not one."""
    text = str(code).strip().upper().replace("-Q", "").replace("Q", "").replace("-", "")
    if len(text) != 5 or not text.isdigit() or text[4] not in "1234":
        return None
    year, number = int(text[:4]), int(text[4])
    if year < 1900:
        return None
    start = dt.date(year, 3 * number - 2, 1)
    end = dt.date(year + 1, 1, 1) if number == 4 else dt.date(year, 3 * number + 1, 1)
    return Quarter(year * 10 + number, year, number, start, end - dt.timedelta(days=1))


def last_closed_quarter(today: dt.date) -> int:
    """The last calendar quarter that has ended on ``today`` (zone 00013: current YYYYQ - 1)."""
    number = (today.month - 1) // 3 + 1
    return today.year * 10 + number - 1 if number > 1 else (today.year - 1) * 10 + 4


# ---------------------------------------------------------------------------------------------- summaries


@dataclass
class DeclarationSummary:
    """What became of one Form of a file."""

    sequence: int
    id: int
    kind: str
    employer_kbo: str | None
    quarter: int | None
    version: int | None
    result: str
    anomalies: list[Anomaly]
    anomalies_total: int
    worker_records: int

    def as_json(self, *, limit: int = ANSWER_ANOMALIES) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "id": self.id,
            "kind": self.kind,
            "employer": self.employer_kbo,
            "quarter": self.quarter,
            "version": self.version,
            "result": self.result,
            "workerRecords": self.worker_records,
            "anomalyCount": self.anomalies_total,
            "anomalies": as_json(self.anomalies[:limit]),
        }


@dataclass
class FileSummary:
    """The outcome of a file (or a JSON declaration): its receipt and its declarations."""

    ticket: str
    form: str
    result_code: int
    error: dict[str, Any] | None = None
    declarations: list[DeclarationSummary] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ticket": self.ticket,
            "form": self.form,
            "resultCode": self.result_code,
            "declarations": [d.as_json() for d in self.declarations],
            "links": {
                "acrf": f"/submissions/{self.ticket}/acrf",
                "notification": f"/submissions/{self.ticket}/notification",
            },
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def log_summary(log: service.DeclarationLog, summary: FileSummary, *, declarant: str) -> None:
    """Write each declaration of a processed file to the declarations log (after the commit)."""
    for d in summary.declarations:
        blocking = next((a.error_id for a in d.anomalies if a.klass == "B"), None)
        log.record(
            ticket=summary.ticket,
            kind=d.kind,
            declarant=declarant,
            employer=d.employer_kbo,
            insz=None,
            result=d.result,
            reason=blocking,
        )
    if summary.result_code == 0:
        log.record(
            ticket=summary.ticket,
            kind=summary.form,
            declarant=declarant,
            employer=None,
            insz=None,
            result="B",
            reason="SCHEMA_VIOLATION",
        )


# ------------------------------------------------------------------------------------------------ code sets


@cache
def _valid(name: str, year: int) -> frozenset[Any]:
    """The codes of an annex valid in ``year`` in the form the reader gives them (``"015"``, ``1``)."""
    found = codes.annex(name)
    if name == "worker_codes":
        return frozenset(
            c.code
            for c in found.values()
            if c.valid_in(year)
            and c.extra.get("presence") in _PRESENCE_WORKER_LINE
            and c.code not in {"848", "849"}
        )
    if name == "employer_categories":
        return frozenset(c.code for c in found.values() if c.valid_in(year))
    if name in ("remuneration_codes", "working_time_codes"):
        return frozenset(
            int(c.code)
            for c in found.values()
            if c.code.isdigit() and c.valid_in(year) and c.extra.get("DMFA", "Yes") == "Yes"
        )
    return frozenset(c.code for c in found.values() if c.valid_in(year))


@cache
def _unrelated_codes(year: int) -> frozenset[str]:
    return frozenset(
        c.code
        for c in codes.annex("worker_codes").values()
        if c.valid_in(year) and c.extra.get("presence") == "4"
    )


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------- one worker line


@dataclass
class Totals:
    declared: int = 0
    computed: int = 0
    deductions: int = 0

    def add(self, other: Totals, sign: int = 1) -> None:
        self.declared += sign * other.declared
        self.computed += sign * other.computed
        self.deductions += sign * other.deductions


@dataclass
class RecordFacts:
    """What one worker record adds up to (for its row and the totals)."""

    gross: int = 0
    days: int = 0
    hours: int = 0
    totals: Totals = field(default_factory=Totals)


_OTHER_CONTRIBUTIONS = (
    ("StudentContribution", "StudentContributionAmount"),
    ("EarlyRetirementContribution", "EarlyRetirementContributionAmount"),
    ("DismissedStatutoryWorkerContribution", "GrossRefRemunContributionAmount"),
)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class FormCheck:
    """The rules of one Form (one employer declaration): its header, then its natural persons chunk by
    chunk, then its tail; collects the anomalies (bounded) and the totals."""

    def __init__(
        self,
        conn: Connection,
        *,
        shape: dx.Shape,
        index: int,
        declarant_kbo: str,
        today: dt.date,
    ) -> None:
        self.conn = conn
        self.shape = shape
        self.index = index
        self.declarant_kbo = declarant_kbo
        self.today = today
        self.root = f"/{shape.root}/Form[{index}]/{shape.declaration}"
        self.anomalies: list[Anomaly] = []
        self.anomaly_count = 0
        self.blocking = False
        self.quarter: Quarter | None = None
        self.employer: EmployerRef | None = None
        self.company_id: str | None = None
        self.seen: set[str] = set()
        self.totals = Totals()
        self.records = 0
        self.persons = 0

    # ----------------------------------------------------------------------------------- anomalies

    def add(
        self,
        zone: str,
        error: str,
        klass: AnomalyClass,
        message: str,
        *,
        tag: str | None = None,
        value: object = None,
        location: str | None = None,
        line: int | None = None,
    ) -> None:
        self.anomaly_count += 1
        if klass == "B":
            self.blocking = True
        if len(self.anomalies) < MAX_STORED_ANOMALIES:
            self.anomalies.append(
                anomaly(zone, error, klass, message, tag=tag, value=value, location=location, line=line)
            )

    # -------------------------------------------------------------------------------------- header

    def check_head(self, head: dx.FormHead) -> None:
        """Quarter, RSZ number, CompanyID and the employer in the repertory; then the mandate (raises
        :class:`DeclarationRefused` when the declarant may not declare for that employer)."""
        h = head.declaration
        where = self.root
        line = head.line
        raw_quarter = h.get("Quarter")
        quarter = quarter_of(raw_quarter) if raw_quarter is not None else None
        if quarter is None or quarter.code < 20031:
            self.add(
                "00013",
                INVALID,
                "B",
                "the quarter is not YYYYQ from 20031 on",
                tag="Quarter",
                value=raw_quarter,
                location=f"{where}/Quarter",
                line=line,
            )
        elif quarter.code > last_closed_quarter(self.today):
            self.add(
                "00013",
                NOT_IN_DOMAIN,
                "B",
                f"quarter {quarter.code} has not ended yet: the last closed quarter is "
                f"{last_closed_quarter(self.today)}",
                tag="Quarter",
                value=quarter.code,
                location=f"{where}/Quarter",
                line=line,
            )
            self.quarter = quarter
        else:
            self.quarter = quarter
        rsz = None
        raw_rsz = h.get("NOSSRegistrationNbr")
        try:
            rsz = validate_rsz_number(str(raw_rsz))
        except InvalidIdentifier as exc:
            self.add(
                "00011",
                INVALID_CHECK_DIGIT,
                "B",
                f"RSZ number: {exc}",
                tag="NOSSRegistrationNbr",
                value=raw_rsz,
                location=f"{where}/NOSSRegistrationNbr",
                line=line,
            )
        raw_company = str(h.get("CompanyID", "0"))
        if raw_company.strip("0"):
            try:
                self.company_id = validate_enterprise_number(raw_company.zfill(10))
            except InvalidIdentifier as exc:
                self.add(
                    "00014",
                    INVALID_CHECK_DIGIT,
                    "B",
                    f"CompanyID: {exc}",
                    tag="CompanyID",
                    value=raw_company,
                    location=f"{where}/CompanyID",
                    line=line,
                )
        if rsz is not None:
            self.employer = service.find_employer(self.conn, rsz=rsz)
            if self.employer is None:
                self.add(
                    "00011",
                    EMPLOYER_NOT_IN_REPERTORY,
                    "B",
                    f"no employer with RSZ number {rsz} in the repertory",
                    tag="NOSSRegistrationNbr",
                    value=rsz,
                    location=f"{where}/NOSSRegistrationNbr",
                    line=line,
                )
            elif self.company_id is not None and self.employer.kbo != self.company_id:
                self.add(
                    "00014",
                    INCOMPATIBLE_REPERTORY,
                    "B",
                    f"CompanyID {self.company_id} is not the enterprise number of RSZ number {rsz} "
                    f"({self.employer.kbo}) in the repertory",
                    tag="CompanyID",
                    value=self.company_id,
                    location=f"{where}/CompanyID",
                    line=line,
                )
        if self.employer is None and self.company_id is not None:
            self.employer = service.find_employer(self.conn, kbo=self.company_id)
        if self.employer is not None:
            service.require_mandate(
                self.conn, declarant_kbo=self.declarant_kbo, employer_kbo=self.employer.kbo, on=self.today
            )

    # ------------------------------------------------------------------------------------- persons

    def dimona_periods(self, inszs: Sequence[str]) -> dict[str, list[tuple[dt.date, dt.date]]]:
        """The Dimona periods of the chunk's workers with this employer that touch the quarter — one query
        for the whole chunk. DWD periods (Dimona without DmfA) and cancelled ones are left out."""
        out: dict[str, list[tuple[dt.date, dt.date]]] = {}
        if self.employer is None or self.quarter is None or not inszs:
            return out
        p = dimona_period_table.c
        q = self.quarter
        rows = self.conn.execute(
            select(p.insz, p.start, p.end).where(
                p.employer_kbo == self.employer.kbo,
                p.insz.in_(sorted(set(inszs))),
                p.cancelled.is_(False),
                p.worker_type != "DWD",
                p.start <= q.end,
                (p.end.is_(None)) | (p.end >= q.start),
            )
        )
        for insz, start, end in rows:
            out.setdefault(insz, []).append((start, end or q.end))
        for spans in out.values():
            spans.sort()
        return out

    def check_person(
        self, person: dx.Person, periods: Mapping[str, list[tuple[dt.date, dt.date]]]
    ) -> list[tuple[dict[str, Any], RecordFacts]]:
        """The rules of one natural person; returns its worker records (in the original's shape) with
        what they add up to."""
        self.persons += 1
        data = person.data
        where = f"{self.root}/{self.shape.person}[{person.index}]"
        raw_insz = data.get("INSS", "")
        insz: str | None = None
        try:
            insz = validate_insz(raw_insz).number
        except InvalidIdentifier as exc:
            self.add(
                "00024",
                INVALID_CHECK_DIGIT,
                "B",
                f"INSZ: {exc}",
                tag="INSS",
                value=raw_insz,
                location=f"{where}/INSS",
                line=person.line,
            )
        if insz is not None:
            if insz in self.seen:
                self.add(
                    "00024",
                    DUPLICATE,
                    "B",
                    f"INSZ {insz} is declared twice in this declaration",
                    tag="INSS",
                    value=insz,
                    location=f"{where}/INSS",
                    line=person.line,
                )
            self.seen.add(insz)
        spans = periods.get(insz, []) if insz else []
        out = []
        for r, record in enumerate(_items(data.get(self.shape.record)), start=1):
            lines = person.occupations_lines[r - 1] if r - 1 < len(person.occupations_lines) else []
            line = person.records_lines[r - 1] if r - 1 < len(person.records_lines) else person.line
            facts = self.check_record(record, f"{where}/{self.shape.record}[{r}]", line, lines, insz, spans)
            out.append((record, facts))
        return out

    def check_record(
        self,
        record: dict[str, Any],
        where: str,
        line: int | None,
        occupation_lines: Sequence[int | None],
        insz: str | None,
        spans: Sequence[tuple[dt.date, dt.date]],
    ) -> RecordFacts:
        """The rules of one worker record (original shape)."""
        self.records += 1
        q = self.quarter
        year = q.year if q is not None else self.today.year
        facts = RecordFacts()
        category = record.get("EmployerClass")
        if category not in _valid("employer_categories", year):
            self.add(
                "00036",
                NOT_IN_DOMAIN,
                "B",
                f"employer category {category} is not valid in {year} (annex 27)",
                tag="EmployerClass",
                value=category,
                location=f"{where}/EmployerClass",
                line=line,
            )
        elif self.employer is not None and category != self.employer.category:
            self.add(
                "00036",
                INCOMPATIBLE_REPERTORY,
                "B",
                f"employer category {category} is not the employer's ({self.employer.category}) in the "
                "repertory",
                tag="EmployerClass",
                value=category,
                location=f"{where}/EmployerClass",
                line=line,
            )
        worker_code = record.get("WorkerCode")
        if worker_code not in _valid("worker_codes", year):
            self.add(
                "00037",
                NOT_IN_DOMAIN,
                "B",
                f"worker code {worker_code} is not a worker-line code valid in {year} "
                "(annex 2, presence 1 or 3)",
                tag="WorkerCode",
                value=worker_code,
                location=f"{where}/WorkerCode",
                line=line,
            )
        if q is not None:
            for tag, zone_code, expected in (
                ("NOSSQuarterStartingDate", "00038", q.start),
                ("NOSSQuarterEndingDate", "00039", q.end),
            ):
                value = record.get(tag)
                if _date(value) != expected:
                    self.add(
                        zone_code,
                        QUARTER_MISMATCH,
                        "B",
                        f"{tag} must be {expected.isoformat()} for quarter {q.code}",
                        tag=tag,
                        value=value,
                        location=f"{where}/{tag}",
                        line=line,
                    )
        remunerations: list[Mapping[str, Any]] = []
        for o, occupation in enumerate(_items(record.get("Occupation")), start=1):
            o_line = occupation_lines[o - 1] if o - 1 < len(occupation_lines) else line
            self._occupation(
                occupation, f"{where}/Occupation[{o}]", o_line, year, facts, remunerations, spans, insz
            )
        self._contributions(record, where, line, worker_code, remunerations, facts)
        return facts

    def _occupation(
        self,
        occupation: Mapping[str, Any],
        where: str,
        line: int | None,
        year: int,
        facts: RecordFacts,
        remunerations: list[Mapping[str, Any]],
        spans: Sequence[tuple[dt.date, dt.date]],
        insz: str | None,
    ) -> None:
        q = self.quarter
        start = _date(occupation.get("OccupationStartingDate"))
        end = _date(occupation.get("OccupationEndingDate"))
        dates_ok = True
        if start is None:
            dates_ok = False
            self.add(
                "00044",
                NOT_PRESENT,
                "B",
                "the occupation's starting date is missing",
                tag="OccupationStartingDate",
                location=f"{where}/OccupationStartingDate",
                line=line,
            )
        elif end is not None and end < start:
            dates_ok = False
            self.add(
                "00045",
                END_BEFORE_START,
                "B",
                f"the occupation ends ({end}) before it starts ({start})",
                tag="OccupationEndingDate",
                value=end,
                location=f"{where}/OccupationEndingDate",
                line=line,
            )
        if start is not None and q is not None:
            if start > q.end:
                dates_ok = False
                self.add(
                    "00044",
                    AFTER_THE_QUARTER,
                    "B",
                    f"the occupation starts ({start}) after quarter {q.code}",
                    tag="OccupationStartingDate",
                    value=start,
                    location=f"{where}/OccupationStartingDate",
                    line=line,
                )
            elif start.year < q.year - 100:
                dates_ok = False
                self.add(
                    "00044",
                    NOT_IN_DOMAIN,
                    "B",
                    f"the occupation's start {start} is more than 100 years before the quarter",
                    tag="OccupationStartingDate",
                    value=start,
                    location=f"{where}/OccupationStartingDate",
                    line=line,
                )
        if end is not None and q is not None and end < q.start:
            dates_ok = False
            self.add(
                "00045",
                INCOMPATIBLE_PERIOD,
                "B",
                f"the occupation ends ({end}) before quarter {q.code}",
                tag="OccupationEndingDate",
                value=end,
                location=f"{where}/OccupationEndingDate",
                line=line,
            )
        committee = occupation.get("JointCommissionNbr")
        if not isinstance(committee, str) or not _JOINT_COMMITTEE.fullmatch(committee):
            self.add(
                "00046",
                INVALID,
                "B",
                "the joint committee is CCC, CCC.CC or CCC.CC.CC (999: none)",
                tag="JointCommissionNbr",
                value=committee,
                location=f"{where}/JointCommissionNbr",
                line=line,
            )
        if (
            dates_ok
            and start is not None
            and q is not None
            and insz is not None
            and self.employer is not None
        ):
            first, last = max(start, q.start), min(end or q.end, q.end)
            if not _covered(first, last, spans):
                self.add(
                    "90015",
                    NOT_IN_DIMONA,
                    "B",
                    f"no Dimona period of employer {self.employer.kbo} for {insz} covers the occupation "
                    f"from {first} to {last}",
                    tag="Occupation",
                    value=f"{first}/{last}",
                    location=where,
                    line=line,
                )
        services_ok = _valid("working_time_codes", year)
        for s, svc in enumerate(_items(occupation.get("Service")), start=1):
            code = svc.get("ServiceCode")
            if code not in services_ok:
                self.add(
                    "00062",
                    NOT_IN_DOMAIN,
                    "B",
                    f"service code {code} is not valid in the DmfA in {year} (annex 8)",
                    tag="ServiceCode",
                    value=code,
                    location=f"{where}/Service[{s}]/ServiceCode",
                    line=line,
                )
            facts.days += int(svc.get("ServiceNbrDays") or 0)
            facts.hours += int(svc.get("ServiceNbrHours") or 0)
        remun_ok = _valid("remuneration_codes", year)
        for r, remun in enumerate(_items(occupation.get("Remun")), start=1):
            code = remun.get("RemunCode")
            if code not in remun_ok:
                self.add(
                    "00067",
                    NOT_IN_DOMAIN,
                    "B",
                    f"remuneration code {code} is not valid in the DmfA in {year} (annex 7)",
                    tag="RemunCode",
                    value=code,
                    location=f"{where}/Remun[{r}]/RemunCode",
                    line=line,
                )
            facts.gross += int(remun.get("RemunAmount") or 0)
            remunerations.append(remun)
        for deduction in _items(occupation.get("OccupationDeduction")):
            facts.totals.deductions += int(deduction.get("DeductionAmount") or 0)

    def _contributions(
        self,
        record: Mapping[str, Any],
        where: str,
        line: int | None,
        worker_code: Any,
        remunerations: Sequence[Mapping[str, Any]],
        facts: RecordFacts,
    ) -> None:
        lines = _items(record.get("WorkerContribution"))
        declared = sum(int(c.get("ContributionAmount") or 0) for c in lines)
        other = 0
        for block, amount in _OTHER_CONTRIBUTIONS:
            for item in _items(record.get(block)):
                other += int(item.get(amount) or 0)
        for indemnity in _items(record.get("ComplementaryIndemnity")):
            for c in _items(indemnity.get("ComplIndemnityContribution")):
                other += int(c.get("ContributionAmount") or 0)
        for deduction in _items(record.get("WorkerDeduction")):
            facts.totals.deductions += int(deduction.get("DeductionAmount") or 0)
        facts.totals.declared += declared + other
        m = contributions.model()
        computed = (
            contributions.compute(str(worker_code), contributions.subject_gross(remunerations, m), m)
            if record.get("Occupation")
            else None
        )
        if computed is None:
            facts.totals.computed += declared + other
            return
        facts.totals.computed += other
        mine = [
            (i, c)
            for i, c in enumerate(lines, start=1)
            if c.get("ContributionWorkerCode") == computed.worker_code
        ]
        if not mine:
            facts.totals.computed += computed.amount_cents
            self.add(
                "00085",
                NOT_PRESENT,
                "P",
                f"no contribution declared for worker code {computed.worker_code}: computed "
                f"{computed.amount_cents} cents on a basis of {computed.basis_cents}",
                tag="WorkerContribution",
                value=computed.amount_cents,
                location=f"{where}/WorkerContribution",
                line=line,
            )
            return
        # the other contribution lines (other worker codes: special contributions) are taken as declared
        facts.totals.computed += declared - sum(int(c.get("ContributionAmount") or 0) for _, c in mine)
        facts.totals.computed += computed.amount_cents
        i, line_declared = mine[0]
        tolerance = m.tolerance_cents
        at = f"{where}/WorkerContribution[{i}]"
        basis = line_declared.get("ContributionCalculationBasis")
        if basis is not None and abs(int(basis) - computed.basis_cents) > tolerance:
            self.add(
                "00084",
                TOTAL_DIFFERS,
                "P",
                f"contribution basis computed {computed.basis_cents}, declared {basis} (cents)",
                tag="ContributionCalculationBasis",
                value=basis,
                location=f"{at}/ContributionCalculationBasis",
                line=line,
            )
        declared_amount = sum(int(c.get("ContributionAmount") or 0) for _, c in mine)
        if abs(declared_amount - computed.amount_cents) > tolerance:
            self.add(
                "00085",
                TOTAL_DIFFERS,
                "P",
                f"contribution computed {computed.amount_cents}, declared {declared_amount} (cents)",
                tag="ContributionAmount",
                value=declared_amount,
                location=f"{at}/ContributionAmount",
                line=line,
            )

    # ----------------------------------------------------------------------------------------- tail

    def check_tail(self, tail: dx.FormTail, net_owed: int | None) -> None:
        year = self.quarter.year if self.quarter is not None else self.today.year
        ok = _unrelated_codes(year)
        for i, item in enumerate(tail.rest.get("ContributionUnrelatedToNP", []), start=1):
            code = item.get("UnrelatedWorkerCode")
            where = f"{self.root}/ContributionUnrelatedToNP[{i}]"
            if code not in ok:
                self.add(
                    "00020",
                    NOT_IN_DOMAIN,
                    "B",
                    f"worker code {code} is not a contribution not linked to a "
                    f"natural person in {year} (annex 2, presence 4)",
                    tag="UnrelatedWorkerCode",
                    value=code,
                    location=f"{where}/UnrelatedWorkerCode",
                )
            amount = int(item.get("UnrelatedAmount") or 0)
            self.totals.declared += amount
            self.totals.computed += amount
        if net_owed is not None:
            declared_net = self.totals.declared - self.totals.deductions
            if declared_net != net_owed:
                self.add(
                    "00015",
                    TOTAL_DIFFERS,
                    "NP",
                    f"NetOwedAmount {net_owed} is not the declared contributions minus deductions "
                    f"({declared_net} cents; recomputed: {self.computed_net} cents)",
                    tag="NetOwedAmount",
                    value=net_owed,
                    location=f"{self.root}/NetOwedAmount",
                )

    @property
    def computed_net(self) -> int:
        return self.totals.computed - self.totals.deductions


def _covered(first: dt.date, last: dt.date, spans: Sequence[tuple[dt.date, dt.date]]) -> bool:
    """Whether the days ``first``..``last`` are all inside the union of ``spans`` (sorted by start)."""
    cursor = first
    for start, end in spans:
        if start > cursor:
            return False
        if end >= cursor:
            if end >= last:
                return True
            cursor = end + dt.timedelta(days=1)
    return False


# ---------------------------------------------------------------------------------------------- storage


def _row(
    dmfa_id: int,
    employer_kbo: str,
    quarter: int,
    person: Mapping[str, Any],
    record: dict[str, Any],
    facts: RecordFacts,
) -> dict[str, Any]:
    tree = {k: v for k, v in person.items() if k not in ("WorkerRecord", "WorkerRecordUpdate")}
    tree["WorkerRecord"] = record
    return {
        "dmfa_id": dmfa_id,
        "employer_kbo": employer_kbo,
        "quarter": quarter,
        "insz": str(person.get("INSS", ""))[:11],
        "employer_class": str(record.get("EmployerClass", ""))[:3],
        "worker_code": str(record.get("WorkerCode", ""))[:3],
        "gross_cents": facts.gross,
        "days": facts.days,
        "hours": facts.hours,
        "tree": tree,
    }


def _payload(
    employer_kbo: str, q: Quarter, insz: str, worker_code: str, gross: int, days: int, hours: int
) -> dict[str, Any]:
    return {
        "op": "upsert",
        "kind": "dmfa_quarter",
        "key": f"{employer_kbo}:{q.label}:{insz}",
        "insz": insz,
        "start": q.start.isoformat(),
        "end": q.end.isoformat(),
        "attrs": {
            "employer_kbo": employer_kbo,
            "quarter": q.label,
            "worker_code": worker_code,
            "gross_cents": gross,
            "days": days,
            "hours": hours,
        },
    }


def _enqueue_persons(
    conn: Connection,
    *,
    declaration_id: int,
    dmfa_id: int,
    employer_kbo: str,
    q: Quarter,
    version: int,
    inszs: Sequence[str] | None = None,
) -> int:
    """One delivery per natural person of a stored version (its worker records summed), read back from the
    database chunk by chunk (bounded memory); ``inszs``: only those (and a ``cancel`` for those left with no
    worker record)."""
    w = dmfa_worker_record_table.c
    count = 0

    def flush(batch: list[dict[str, Any]]) -> None:
        nonlocal count
        count += service.enqueue_many(conn, batch)
        batch.clear()

    def rows_of(selected: Sequence[str] | None) -> Iterator[Any]:
        query = select(w.insz, w.worker_code, w.gross_cents, w.days, w.hours).where(w.dmfa_id == dmfa_id)
        if selected is None:
            yield from conn.execute(query.order_by(w.insz, w.id))
            return
        for i in range(0, len(selected), CHUNK):
            part = list(selected[i : i + CHUNK])
            yield from conn.execute(query.where(w.insz.in_(part)).order_by(w.insz, w.id))

    batch: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: list[Any] | None = None

    def emit(item: list[Any]) -> None:
        insz, worker_code, gross, days, hours = item
        batch.append(
            {
                "declaration_id": declaration_id,
                "target": TARGET,
                "key": f"dmfa:{employer_kbo}:{q.label}:{insz}:v{version}",
                "payload": _payload(employer_kbo, q, insz, worker_code, gross, days, hours),
            }
        )
        if len(batch) >= CHUNK:
            flush(batch)

    for insz, worker_code, gross, days, hours in rows_of(sorted(set(inszs)) if inszs is not None else None):
        if current is not None and current[0] == insz:
            current[2] += int(gross)
            current[3] += int(days)
            current[4] += int(hours)
            continue
        if current is not None:
            emit(current)
        current = [insz, worker_code, int(gross), int(days), int(hours)]
        if inszs is not None:
            seen.add(insz)
    if current is not None:
        emit(current)
    if inszs is not None:
        for insz in sorted(set(inszs) - seen):
            batch.append(
                {
                    "declaration_id": declaration_id,
                    "target": TARGET,
                    "key": f"dmfa:{employer_kbo}:{q.label}:{insz}:v{version}",
                    "payload": {
                        "op": "cancel",
                        "kind": "dmfa_quarter",
                        "key": f"{employer_kbo}:{q.label}:{insz}",
                        "insz": insz,
                    },
                }
            )
    flush(batch)
    return count


def current_version(conn: Connection, *, employer_kbo: str, quarter: int) -> Any:
    """The current (not superseded) stored version of an employer's DmfA for a quarter, or None."""
    d = dmfa_declaration_table.c
    return conn.execute(
        select(dmfa_declaration_table)
        .where(d.employer_kbo == employer_kbo, d.quarter == quarter, d.superseded.is_(False))
        .order_by(d.version.desc())
        .limit(1)
    ).first()


def versions(conn: Connection, *, employer_kbo: str, quarter: int) -> list[Any]:
    """Every stored version (history), oldest first, with the ticket and kind of its declaration."""
    d = dmfa_declaration_table.c
    return list(
        conn.execute(
            select(
                dmfa_declaration_table,
                declaration_table.c.ticket,
                declaration_table.c.kind,
                declaration_table.c.received_at,
                declaration_table.c.declarant_kbo,
            )
            .join(declaration_table, declaration_table.c.id == d.declaration_id)
            .where(d.employer_kbo == employer_kbo, d.quarter == quarter)
            .order_by(d.version)
        )
    )


def worker_records(conn: Connection, *, dmfa_id: int, insz: str) -> list[Any]:
    w = dmfa_worker_record_table.c
    return list(
        conn.execute(
            select(dmfa_worker_record_table).where(w.dmfa_id == dmfa_id, w.insz == insz).order_by(w.id)
        )
    )


# ---------------------------------------------------------------------------------------------- processing


class _FormRun:
    """One Form being processed: its checks, its declaration row and (when storable) its version rows."""

    def __init__(
        self, conn: Connection, check: FormCheck, *, ticket: str, sequence: int, kind: str, declarant_kbo: str
    ) -> None:
        self.conn = conn
        self.check = check
        self.ticket = ticket
        self.sequence = sequence
        self.kind = kind
        self.declarant_kbo = declarant_kbo
        self.head: dx.FormHead | None = None
        self.declaration_id = 0
        self.dmfa_id: int | None = None
        self.version: int | None = None
        self.previous: Any = None
        self.pending: list[dx.Person] = []
        self.touched: set[str] = set()
        self.rows_stored = 0

    def open(self, head: dx.FormHead) -> None:
        self.head = head
        self.declaration_id = service.store_declaration(
            self.conn,
            ticket=self.ticket,
            sequence=self.sequence,
            kind=self.kind,
            declarant_kbo=self.declarant_kbo,
            employer_kbo=self.check.employer.kbo if self.check.employer else None,
            insz=None,
            result="B",
            anomalies=[],
            body={},
        )

    def new_version(self, *, version: int, net_owed: int) -> None:
        ch = self.check
        assert ch.employer is not None
        assert ch.quarter is not None
        self.version = version
        self.dmfa_id = int(
            self.conn.execute(
                insert(dmfa_declaration_table)
                .values(
                    declaration_id=self.declaration_id,
                    employer_kbo=ch.employer.kbo,
                    rsz=ch.employer.rsz,
                    quarter=ch.quarter.code,
                    version=version,
                    superseded=False,
                    net_owed_cents=net_owed,
                    computed_owed_cents=0,
                    worker_records=0,
                    created_at=service.utc_now(),
                )
                .returning(dmfa_declaration_table.c.id)
            ).scalar_one()
        )

    @property
    def storing(self) -> bool:
        return self.dmfa_id is not None and not self.check.blocking

    def drop_version(self) -> None:
        if self.dmfa_id is None:
            return
        w = dmfa_worker_record_table.c
        self.conn.execute(delete(dmfa_worker_record_table).where(w.dmfa_id == self.dmfa_id))
        self.conn.execute(delete(dmfa_declaration_table).where(dmfa_declaration_table.c.id == self.dmfa_id))
        self.dmfa_id = None

    def finish(self, *, body: dict[str, Any], net_owed: int, worker_records: int) -> DeclarationSummary:
        ch = self.check
        result = "B" if ch.blocking else ("W" if ch.anomaly_count else "A")
        if result == "B":
            self.drop_version()
        body = {**body, "anomalyCount": ch.anomaly_count, "version": self.version if result != "B" else None}
        self.conn.execute(
            update(declaration_table)
            .where(declaration_table.c.id == self.declaration_id)
            .values(result=result, anomalies=as_json(ch.anomalies), body=body)
        )
        if result != "B" and self.dmfa_id is not None:
            assert ch.employer is not None
            assert ch.quarter is not None
            assert self.version is not None
            self.conn.execute(
                update(dmfa_declaration_table)
                .where(dmfa_declaration_table.c.id == self.dmfa_id)
                .values(
                    net_owed_cents=net_owed,
                    computed_owed_cents=ch.computed_net,
                    worker_records=worker_records,
                )
            )
            if self.previous is not None:
                self.conn.execute(
                    update(dmfa_declaration_table)
                    .where(dmfa_declaration_table.c.id == self.previous.id)
                    .values(superseded=True)
                )
            _enqueue_persons(
                self.conn,
                declaration_id=self.declaration_id,
                dmfa_id=self.dmfa_id,
                employer_kbo=ch.employer.kbo,
                q=ch.quarter,
                version=self.version,
                inszs=sorted(self.touched) if self.previous is not None else None,
            )
        return DeclarationSummary(
            sequence=self.sequence,
            id=self.declaration_id,
            kind=self.kind,
            employer_kbo=ch.employer.kbo if ch.employer else None,
            quarter=ch.quarter.code if ch.quarter else None,
            version=self.version if result != "B" else None,
            result=result,
            anomalies=ch.anomalies,
            anomalies_total=ch.anomaly_count,
            worker_records=worker_records if result != "B" else 0,
        )


def _process_original(
    conn: Connection, fileobj: IO[bytes], *, declarant_kbo: str, today: dt.date, ticket: str
) -> list[DeclarationSummary]:
    out: list[DeclarationSummary] = []
    run: _FormRun | None = None
    shape = dx.SHAPES["original"]

    def flush() -> None:
        assert run is not None
        ch = run.check
        people = run.pending
        if not people:
            return
        periods = ch.dimona_periods([p.data.get("INSS", "") for p in people])
        rows: list[dict[str, Any]] = []
        for person in people:
            for record, facts in ch.check_person(person, periods):
                ch.totals.add(facts.totals)
                if run.storing:
                    assert run.dmfa_id is not None
                    assert ch.employer is not None
                    assert ch.quarter is not None
                    rows.append(
                        _row(run.dmfa_id, ch.employer.kbo, ch.quarter.code, person.data, record, facts)
                    )
        if rows and run.storing:
            conn.execute(insert(dmfa_worker_record_table), rows)
            run.rows_stored += len(rows)
        people.clear()

    for event in dx.read_forms(fileobj, kind="original"):
        if isinstance(event, dx.FormHead):
            check = FormCheck(conn, shape=shape, index=event.index, declarant_kbo=declarant_kbo, today=today)
            check.check_head(event)
            run = _FormRun(
                conn, check, ticket=ticket, sequence=event.index, kind=KIND, declarant_kbo=declarant_kbo
            )
            run.open(event)
            if not check.blocking and check.employer is not None and check.quarter is not None:
                existing = current_version(conn, employer_kbo=check.employer.kbo, quarter=check.quarter.code)
                if existing is not None:
                    check.add(
                        "00013",
                        ALREADY_DECLARED,
                        "B",
                        f"a DmfA of employer {check.employer.kbo} for quarter {check.quarter.code} is "
                        "already stored: send a modification (DMFAUPD)",
                        tag="Quarter",
                        value=check.quarter.code,
                        location=f"{check.root}/Quarter",
                        line=event.line,
                    )
                else:
                    run.new_version(version=1, net_owed=int(event.declaration.get("NetOwedAmount") or 0))
        elif isinstance(event, dx.Person):
            assert run is not None
            run.pending.append(event)
            if len(run.pending) >= CHUNK:
                flush()
        else:
            assert run is not None
            assert run.head is not None
            flush()
            head = run.head
            net_owed = int(head.declaration.get("NetOwedAmount") or 0)
            run.check.check_tail(event, net_owed)
            body = {
                "form": head.form,
                "header": head.declaration,
                "rest": event.rest,
                "naturalPersons": run.check.persons,
                "workerRecords": run.check.records,
                "declaredOwedCents": run.check.totals.declared - run.check.totals.deductions,
                "computedOwedCents": run.check.computed_net,
            }
            out.append(run.finish(body=body, net_owed=net_owed, worker_records=run.rows_stored))
            run = None
    return out


def _as_original(update_record: Mapping[str, Any], q: Quarter | None) -> tuple[dict[str, Any], int | None]:
    """A ``WorkerRecordUpdate`` as the original's ``WorkerRecord`` (what version n+1 stores), its action."""
    action = update_record.get("WorkerRecordUpdateAction") or {}
    record: dict[str, Any] = {}
    for key, value in action.items():
        if key in ("UpdateAction",):
            continue
        if key == "OccupationUpdate":
            record["Occupation"] = [
                {k: v for k, v in o.items() if k != "OccupationVersionNbr"} for o in value
            ]
        else:
            record[key] = value
    if q is not None:
        record.setdefault("NOSSQuarterStartingDate", q.start.isoformat())
        record.setdefault("NOSSQuarterEndingDate", q.end.isoformat())
    record.setdefault("Border", 0)
    # keep the original's order of children (the writer orders by the XSD anyway)
    code = action.get("UpdateAction")
    return record, int(code) if code is not None else None


def _record_totals(check: FormCheck, tree: Mapping[str, Any]) -> Totals:
    """The declared/computed totals of a stored worker record (to take it out of a version's totals)."""
    probe = FormCheck(check.conn, shape=dx.SHAPES["original"], index=0, declarant_kbo="", today=check.today)
    probe.quarter, probe.employer = check.quarter, None
    facts = probe.check_record(dict(tree["WorkerRecord"]), "", None, [], None, [])
    return facts.totals


def _process_update(
    conn: Connection, fileobj: IO[bytes], *, declarant_kbo: str, today: dt.date, ticket: str
) -> list[DeclarationSummary]:
    out: list[DeclarationSummary] = []
    run: _FormRun | None = None
    shape = dx.SHAPES["update"]
    base = Totals()
    w = dmfa_worker_record_table.c

    def flush() -> None:
        assert run is not None
        ch = run.check
        people = run.pending
        if not people:
            return
        inszs = [str(p.data.get("INSS", "")) for p in people]
        periods = ch.dimona_periods(inszs)
        existing: dict[tuple[str, str, str], Any] = {}
        if run.dmfa_id is not None:
            for row in conn.execute(
                select(w.id, w.insz, w.employer_class, w.worker_code, w.tree).where(
                    w.dmfa_id == run.dmfa_id, w.insz.in_(sorted(set(inszs)))
                )
            ):
                existing[(row.insz, row.employer_class, row.worker_code)] = row
        rows: list[dict[str, Any]] = []
        removed: list[int] = []
        for person in people:
            data = person.data
            where = f"{ch.root}/{shape.person}[{person.index}]"
            originals: list[dict[str, Any]] = []
            kept_lines: list[int | None] = []
            kept_occupations: list[list[int | None]] = []
            for r, upd in enumerate(_items(data.get(shape.record)), start=1):
                record, action = _as_original(upd, ch.quarter)
                key = (
                    str(data.get("INSS", "")),
                    str(record.get("EmployerClass")),
                    str(record.get("WorkerCode")),
                )
                line = person.records_lines[r - 1] if r - 1 < len(person.records_lines) else person.line
                at = f"{where}/{shape.record}[{r}]/WorkerRecordUpdateAction/UpdateAction"
                old = existing.get(key)
                if action == 1 and old is not None and run.previous is not None:
                    ch.add(
                        "00618",
                        ALREADY_DECLARED,
                        "B",
                        f"worker record {key} already exists: use 3 to replace it",
                        tag="UpdateAction",
                        value=action,
                        location=at,
                        line=line,
                    )
                    continue
                if action in (0, 3, 9) and old is None and run.previous is not None:
                    ch.add(
                        "00618",
                        INCOMPATIBLE_PERIOD,
                        "B",
                        f"no worker record {key} in version {run.version and run.version - 1} to change",
                        tag="UpdateAction",
                        value=action,
                        location=at,
                        line=line,
                    )
                    continue
                if action == 0:
                    continue
                run.touched.add(key[0])
                if old is not None:
                    base.add(_record_totals(ch, old.tree), -1)
                    removed.append(int(old.id))
                    ch.records -= 1
                if action == 9:
                    continue
                originals.append(record)
                kept_lines.append(line)
                kept_occupations.append(
                    person.occupations_lines[r - 1] if r - 1 < len(person.occupations_lines) else []
                )
            if not originals:
                ch.persons += 1
                continue
            kept = {
                k: v
                for k, v in data.items()
                if k in ("NaturalPersonSequenceNbr", "INSS", "NaturalPersonUserReference")
            }
            as_person = dx.Person(
                person.index, person.line, {**kept, shape.record: originals}, kept_lines, kept_occupations
            )
            checked = ch.check_person(as_person, periods)
            for record, facts in checked:
                ch.totals.add(facts.totals)
                if run.storing:
                    assert run.dmfa_id is not None
                    assert ch.employer is not None
                    assert ch.quarter is not None
                    rows.append(
                        _row(run.dmfa_id, ch.employer.kbo, ch.quarter.code, as_person.data, record, facts)
                    )
        if run.storing:
            if removed:
                conn.execute(delete(dmfa_worker_record_table).where(w.id.in_(removed)))
                run.rows_stored -= len(removed)
            if rows:
                conn.execute(insert(dmfa_worker_record_table), rows)
                run.rows_stored += len(rows)
        people.clear()

    for event in dx.read_forms(fileobj, kind="update"):
        if isinstance(event, dx.FormHead):
            check = FormCheck(conn, shape=shape, index=event.index, declarant_kbo=declarant_kbo, today=today)
            check.check_head(event)
            run = _FormRun(
                conn,
                check,
                ticket=ticket,
                sequence=event.index,
                kind=KIND_UPDATE,
                declarant_kbo=declarant_kbo,
            )
            run.open(event)
            base = Totals()
            if check.employer is not None and check.quarter is not None:
                previous = current_version(conn, employer_kbo=check.employer.kbo, quarter=check.quarter.code)
                pid = event.declaration.get("EmployerDeclarationPID")
                original = _original_declaration_id(
                    conn, employer_kbo=check.employer.kbo, quarter=check.quarter.code
                )
                if previous is None or original != pid:
                    check.add(
                        "00534",
                        INVALID,
                        "B",
                        f"no stored DmfA of employer {check.employer.kbo} for quarter {check.quarter.code} "
                        f"with permanent id {pid}" + (f" (its id is {original})" if original else ""),
                        tag="EmployerDeclarationPID",
                        value=pid,
                        location=f"{check.root}/EmployerDeclarationPID",
                        line=event.line,
                    )
                elif not check.blocking:
                    run.previous = previous
                    run.new_version(version=int(previous.version) + 1, net_owed=int(previous.net_owed_cents))
                    assert run.dmfa_id is not None
                    columns = [c for c in dmfa_worker_record_table.c if c.name not in ("id", "dmfa_id")]
                    conn.execute(
                        insert(dmfa_worker_record_table).from_select(
                            ["dmfa_id", *(c.name for c in columns)],
                            select(literal(run.dmfa_id, BigInteger()), *columns)
                            .where(w.dmfa_id == previous.id)
                            .order_by(w.id),
                        )
                    )
                    run.rows_stored = int(previous.worker_records)
                    check.records = int(previous.worker_records)
                    base.declared = int(previous.net_owed_cents)
                    base.computed = int(previous.computed_owed_cents)
        elif isinstance(event, dx.Person):
            assert run is not None
            run.pending.append(event)
            if len(run.pending) >= CHUNK:
                flush()
        else:
            assert run is not None
            assert run.head is not None
            flush()
            head = run.head
            ch = run.check
            ch.check_tail(event, None)
            # version n's totals (declared net, recomputed net) with the changed records taken out and put in
            net_owed = base.declared - base.deductions + ch.totals.declared - ch.totals.deductions
            computed_net = base.computed - base.deductions + ch.totals.computed - ch.totals.deductions
            ch.totals = Totals(declared=net_owed, computed=computed_net, deductions=0)
            previous_body = _body_of(conn, run.previous.declaration_id) if run.previous is not None else {}
            header = {
                **(previous_body.get("header") or {}),
                **{
                    k: v
                    for k, v in head.declaration.items()
                    if k
                    in (
                        "Quarter",
                        "NOSSRegistrationNbr",
                        "Trusteeship",
                        "CompanyID",
                        "System5",
                        "HolidayStartingDate",
                    )
                },
                "NetOwedAmount": net_owed,
            }
            body = {
                "form": head.form,
                "header": header,
                "update": head.declaration,
                "rest": previous_body.get("rest") or {},
                "workerRecords": max(ch.records, 0),
                "changedPersons": len(run.touched),
                "declaredOwedCents": net_owed,
                "computedOwedCents": ch.computed_net,
                "previousVersion": run.previous.version if run.previous is not None else None,
            }
            out.append(run.finish(body=body, net_owed=net_owed, worker_records=run.rows_stored))
            run = None
    return out


def _original_declaration_id(conn: Connection, *, employer_kbo: str, quarter: int) -> int | None:
    d = dmfa_declaration_table.c
    found = conn.execute(
        select(d.declaration_id).where(d.employer_kbo == employer_kbo, d.quarter == quarter, d.version == 1)
    ).scalar()
    return int(found) if found is not None else None


def _body_of(conn: Connection, declaration_id: int) -> dict[str, Any]:
    body = conn.execute(
        select(declaration_table.c.body).where(declaration_table.c.id == declaration_id)
    ).scalar()
    return dict(body or {})


def process_dmfa_file(
    conn_or_engine: Connection | Engine,
    *,
    fileobj: IO[bytes],
    declarant_kbo: str,
    today: dt.date,
    ticket: str | None = None,
    filename: str | None = None,
    update_file: bool = False,
    channel: str = "xml",
) -> FileSummary:
    """Validate and store a DmfA file (an original, or a modification with ``update_file``), streamed.

    With an :class:`Engine`, the whole file is one transaction: a schema error (or a hostile document) rolls
    it back and a NOK receipt is written instead (``result_code`` 0, the error with its line); with a
    :class:`Connection` the caller owns the transaction and :class:`XmlRefused` is raised to it.
    :class:`DeclarationRefused` (no mandate) is raised in both cases, with nothing kept.
    """
    form = KIND_UPDATE if update_file else KIND
    ticket = ticket or service.new_ticket()
    process = _process_update if update_file else _process_original

    def run(conn: Connection) -> FileSummary:
        service.open_submission(
            conn, channel=channel, form=form, declarant_kbo=declarant_kbo, filename=filename, ticket=ticket
        )
        declarations = process(conn, fileobj, declarant_kbo=declarant_kbo, today=today, ticket=ticket)
        service.close_submission(
            conn,
            ticket=ticket,
            declarations=len(declarations),
            refused=sum(1 for d in declarations if d.result == "B"),
        )
        return FileSummary(ticket=ticket, form=form, result_code=1, declarations=declarations)

    kind: dx.Kind = "update" if update_file else "original"

    def guarded(conn: Connection) -> FileSummary:
        try:
            return run(conn)
        except (XmlRefused, DeclarationRefused):
            raise
        except Exception as exc:
            # data the streamed validation had not refused yet (it reports one block late) may break a
            # rule or a column: when the file is invalid, that is the answer
            found = dx.first_error(fileobj, kind=kind)
            if found is not None:
                raise found from exc
            raise

    if isinstance(conn_or_engine, Connection):
        return guarded(conn_or_engine)
    try:
        with conn_or_engine.begin() as conn:
            return guarded(conn)
    except XmlRefused as exc:
        code = (
            "NOT_WELL_FORMED"
            if "well-formed" in exc.message or "DOCTYPE" in exc.message
            else "SCHEMA_VIOLATION"
        )
        error = {"code": code, **exc.as_json()}
        with conn_or_engine.begin() as conn:
            service.open_submission(
                conn,
                channel=channel,
                form=form,
                declarant_kbo=declarant_kbo,
                filename=filename,
                ticket=ticket,
                result_code=0,
                errors=[error],
            )
        return FileSummary(ticket=ticket, form=form, result_code=0, error=error)


def process_dmfa_forms(
    conn_or_engine: Connection | Engine,
    *,
    forms: Sequence[Mapping[str, Any]],
    declarant_kbo: str,
    today: dt.date,
    update_forms: bool = False,
    ticket: str | None = None,
) -> FileSummary:
    """The JSON channel: declarations as dicts (the XML tree, XML names) go through the very same path as a
    file — written as the XML document they stand for, then read, validated against the XSD and checked.
    Unknown names raise :class:`XmlRefused` (nothing is silently dropped)."""
    kind: dx.Kind = "update" if update_forms else "original"
    _check_names(forms, dx.SHAPES[kind])
    try:
        data = dx.to_xml(forms, kind=kind)
    except UnicodeEncodeError as exc:
        raise XmlRefused(f"text that cannot be written as UTF-8: {exc.reason}") from exc
    summary = process_dmfa_file(
        conn_or_engine,
        fileobj=io.BytesIO(data),
        declarant_kbo=declarant_kbo,
        today=today,
        ticket=ticket,
        update_file=update_forms,
        channel="rest",
    )
    # lines of a document the declarant never saw mean nothing to it: the locations say where
    for d in summary.declarations:
        d.anomalies = [a if a.line is None else _without_line(a) for a in d.anomalies]
    if summary.error is not None:
        summary.error.pop("line", None)
        summary.error.pop("column", None)
    return summary


def _without_line(a: Anomaly) -> Anomaly:
    return Anomaly(a.zone, a.error, a.klass, a.message, tag=a.tag, value=a.value, location=a.location)


def _check_names(forms: Sequence[Mapping[str, Any]], shape: dx.Shape) -> None:
    lay = dx.layout(shape.schema)

    def walk(tag: str, value: Any, path: str) -> None:
        if isinstance(value, list):
            if tag not in lay.repeat:
                raise XmlRefused(f"{path}: {tag} occurs once, not as a list")
            for i, item in enumerate(value, start=1):
                walk(tag, item, f"{path}[{i}]")
            return
        if isinstance(value, Mapping):
            allowed = lay.order.get(tag)
            if allowed is None:
                raise XmlRefused(f"{path}: {tag} holds a value, not an object")
            for key, child in value.items():
                if key not in allowed:
                    raise XmlRefused(f"{path}: {key} is not a child of {tag} in {shape.root}")
                walk(key, child, f"{path}/{key}")
            return
        if tag in lay.order:
            raise XmlRefused(f"{path}: {tag} is an object")
        if isinstance(value, bool) or (value is not None and not isinstance(value, (str, int))):
            raise XmlRefused(f"{path}: {tag} must be a string or an integer")

    for i, form in enumerate(forms, start=1):
        walk("Form", form, f"/{shape.root}/Form[{i}]")


# -------------------------------------------------------------------------------------------- synthetic data


def synthetic_persons(
    inszs: Sequence[str], *, quarter: int, category: str = "000", blue_share: float = 0.4, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """Plausible natural persons for tests and the benchmark: one worker record each (blue-collar 015 or
    white-collar 495), one full quarter occupation, services, one remuneration and the contribution the model
    computes — a declaration of these is accepted when the workers have Dimona periods covering the quarter.
    """
    import random

    rng = random.Random(seed)
    q = quarter_of(quarter)
    assert q is not None
    m = contributions.model()
    for i, insz in enumerate(inszs, start=1):
        blue = rng.random() < blue_share
        worker_code = "015" if blue else "495"
        gross = rng.randrange(600_000, 1_500_000)
        days = rng.choice([6_200, 6_400, 6_500])
        computed = contributions.compute(worker_code, gross, m)
        assert computed is not None
        yield {
            "NaturalPersonSequenceNbr": i,
            "INSS": insz,
            "WorkerRecord": [
                {
                    "EmployerClass": category,
                    "WorkerCode": worker_code,
                    "NOSSQuarterStartingDate": q.start.isoformat(),
                    "NOSSQuarterEndingDate": q.end.isoformat(),
                    "Border": 0,
                    "Occupation": [
                        {
                            "OccupationSequenceNbr": 1,
                            "OccupationStartingDate": q.start.isoformat(),
                            "JointCommissionNbr": "100" if blue else "200",
                            "WorkingDaysSystem": 500,
                            "ContractType": 0,
                            "RefMeanWorkingHours": 3800,
                            "MeanWorkingHours": 3800,
                            "Retired": 0,
                            "Service": [
                                {
                                    "ServiceSequenceNbr": 1,
                                    "ServiceCode": 1,
                                    "ServiceNbrDays": days,
                                    "ServiceNbrHours": days * 76 // 10,
                                },
                            ],
                            "Remun": [{"RemunSequenceNbr": 1, "RemunCode": 1, "RemunAmount": gross}],
                        }
                    ],
                    "WorkerContribution": [
                        {
                            "ContributionWorkerCode": worker_code,
                            "ContributionType": computed.contribution_type,
                            "ContributionCalculationBasis": computed.basis_cents,
                            "ContributionAmount": computed.amount_cents,
                        }
                    ],
                }
            ],
        }


def net_owed_of(persons: Sequence[Mapping[str, Any]]) -> int:
    """The NetOwedAmount of persons shaped as :func:`synthetic_persons` (sum of declared contributions)."""
    return sum(
        int(c.get("ContributionAmount") or 0)
        for p in persons
        for r in _items(p.get("WorkerRecord"))
        for c in _items(r.get("WorkerContribution"))
    )
