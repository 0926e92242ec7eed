"""Dimona: the immediate declaration of employment — one model, one set of rules, for REST and XML.

Both channels (``dimona_api`` for the JSON of Dimona v2, ``dimona_xml`` for ``Dimona_20231.xsd`` files)
convert what they receive into :class:`DimonaDeclaration`; :func:`process_dimona` runs the business rules on
it, stores the declaration with its anomalies, applies an accepted change to ``dimona_period`` and queues its
delivery to the RSZ source — in the caller's transaction, so all of it is kept or none.

What the schema checks (shapes, enumerations, HHMM hours) is done by the XSD for files and by the pydantic
model for JSON; the rules here are what no schema can say (check digits, the repertory, the existing
periods, the worker-type rules). Anomalies use the official ``ZZZZZ-EEE`` ids: the zone (or functional
block) of the element from ``Dimona_20231.xsd`` and the general error code of annex 30.

Daily registrations (block 90480) belong to an existing period (``DimonaPeriodId``): they are kept as
``dimona_period`` rows with ``parent_id`` set (their id is the ``DailyRegistrationId``, zone 01085), are not
counted as periods by the overlap rule, and are not delivered (the RSZ source holds the period itself).
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, bindparam, insert, or_, select, text, update

from kruispunt.employers import codes, service
from kruispunt.employers.anomalies import (
    DUPLICATE,
    END_BEFORE_START,
    FORBIDDEN,
    INCOMPATIBLE_PERIOD,
    INCOMPATIBLE_PERSON,
    INCOMPATIBLE_REPERTORY,
    INVALID,
    INVALID_CHECK_DIGIT,
    NOT_IN_DOMAIN,
    NOT_PRESENT,
    Anomaly,
    AnomalyClass,
    Result,
    anomaly,
    as_json,
    result_of,
)
from kruispunt.employers.errors import DeclarationRefused, no_mandate
from kruispunt.employers.models import (
    declaration_table,
    dimona_period_table,
    employer_table,
    mandate_table,
    outbox_table,
    submission_table,
)
from kruispunt.employers.service import EmployerRef
from kruispunt.ids import (
    InvalidIdentifier,
    make_dimona_period_id,
    validate_dimona_period_id,
    validate_enterprise_number,
    validate_insz,
    validate_rsz_employer_number,
)

Kind = Literal["DimonaIn", "DimonaOut", "DimonaUpdate", "DimonaCancel", "DailyRegistration"]
KINDS: tuple[Kind, ...] = ("DimonaIn", "DimonaOut", "DimonaUpdate", "DimonaCancel", "DailyRegistration")
Channel = Literal["rest", "xml"]

FORM = "DIMONA"
"""Annex 11 identification of a Dimona form (and of the submissions of this module)."""
TARGET = "rsz_dimona"
PERIOD_ID_BASE = 5_000_000_000
"""New period ids are ``make_dimona_period_id(PERIOD_ID_BASE + declaration id)``: the synthetic nation's
seeded ids live in 1e9…1.2e9, so the two never meet."""
OPEN_END = dt.date(9999, 12, 31)
"""``EndingDate`` 9999-12-31 in an update reopens the period (no end)."""

# functional blocks (FB) and zones of Dimona_20231.xsd (<xs:documentation>)
FB: Mapping[str, str] = {
    "DimonaIn": "90373",
    "DimonaOut": "90377",
    "DimonaUpdate": "90378",
    "DimonaCancel": "90379",
    "DailyRegistration": "90480",
}
XML_ELEMENT: Mapping[str, str] = {
    "DimonaIn": "DimonaIn",
    "DimonaOut": "DimonaOut",
    "DimonaUpdate": "DimonaUpdate",
    "DimonaCancel": "DimonaCancel",
    "DailyRegistration": "DailyRegistrationDeclaration",
}
REST_KEY: Mapping[Kind, str] = {
    "DimonaIn": "dimonaIn",
    "DimonaOut": "dimonaOut",
    "DimonaUpdate": "dimonaUpdate",
    "DimonaCancel": "dimonaCancel",
    "DailyRegistration": "dailyRegistration",
}
ZONES: Mapping[str, str] = {
    "EmployerId": "90256",
    "CompanyID": "00014",
    "NOSSRegistrationNbr": "00011",
    "ProvisionalNSSONbr": "00948",
    "INSS": "00024",
    "DimonaPeriodId": "00913",
    "DailyRegistrationId": "01085",
    "AttestationStatus": "00110",
    "StartingDate": "00910",
    "StartingHour": "00777",
    "EndingDate": "00911",
    "EndingHour": "00778",
    "PlannedHoursNbr": "01135",
    "PlannedDaysNbr": "01017",
    "JointCommissionNbr": "00046",
    "WorkerType": "00655",
}
_XML_PATH = {
    "CompanyID": "EmployerId/CompanyID",
    "NOSSRegistrationNbr": "EmployerId/NOSSRegistrationNbr",
    "ProvisionalNSSONbr": "EmployerId/ProvisionalNSSONbr",
    "EmployerId": "EmployerId",
    "WorkerType": "DimonaFeatures/WorkerType",
    "JointCommissionNbr": "DimonaFeatures/JointCommissionNbr",
}
_REST_FIELD = {
    "StartingDate": "startDate",
    "StartingHour": "startHour",
    "EndingDate": "endDate",
    "EndingHour": "endHour",
    "PlannedHoursNbr": "plannedHoursNumber",
    "PlannedDaysNbr": "plannedDaysNumber",
    "DimonaPeriodId": "periodId",
    "DailyRegistrationId": "dailyRegistrationId",
    "AttestationStatus": "attestationStatus",
    "WorkerType": "features/workerType",
    "JointCommissionNbr": "features/jointCommissionNumber",
}
_REST_ROOT = {
    "CompanyID": "/employer/enterpriseNumber",
    "NOSSRegistrationNbr": "/employer/nossRegistrationNumber",
    "ProvisionalNSSONbr": "/employer/nossRegistrationNumber",
    "EmployerId": "/employer",
}

# worker-type rules (zone 00655, DOMAIN §6.2 and the glossary of zones 00910/00911)
SAME_QUARTER_TYPES = frozenset({"STU", "O17", "S17"})
ONE_DAY_TYPES = frozenset({"A17", "T17"})
ART17_NEW_TYPES = frozenset({"O17", "S17", "T17"})
HOURS_TYPES = frozenset({"EXT", "FLX"})
WORKER_TYPES_FROM: Mapping[str, dt.date] = {
    "O17": dt.date(2022, 1, 1),
    "S17": dt.date(2022, 1, 1),
    "T17": dt.date(2022, 1, 1),
    "ALT": dt.date(2023, 9, 1),
}
FLX_DAYS_BEFORE_QUARTER = 31
ART17_DAYS_BEFORE_START = 15
PLANNED_DAYS_LAST_YEAR = 2016
MIN_START = dt.date(1920, 1, 1)
MIN_END = dt.date(1999, 1, 1)
MIN_AGE = 13
AGE_TO_VERIFY = 16


@dataclass
class DimonaDeclaration:
    """One Dimona declaration as both channels give it (values as declared, not yet validated).

    ``employer_kbo`` / ``employer_rsz``: the employer as named (enterprise number, RSZ or provisional RSZ
    number), both optional: a DimonaIn without one is the declarant's own; the other kinds take the
    employer of the period. ``form`` is the Form's position in an XML file and ``lines`` the source line of
    each element, so that anomalies say where they are.
    """

    kind: Kind
    channel: Channel = "rest"
    employer_kbo: str | None = None
    employer_rsz: str | None = None
    insz: str | None = None
    period_id: str | None = None
    registration_id: str | None = None
    attestation_status: int = 0
    start: dt.date | None = None
    start_hour: str | None = None
    end: dt.date | None = None
    end_hour: str | None = None
    planned_hours: int | None = None
    planned_days: int | None = None
    worker_type: str | None = None
    joint_committee: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    form: int | None = None
    line: int | None = None
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        if self.channel == "xml":
            return f"/Dimona/Form[{self.form or 1}]/{XML_ELEMENT[self.kind]}"
        return f"/{REST_KEY[self.kind]}"

    def locate(self, tag: str) -> str:
        """Where ``tag`` is (or should be) in the declaration as sent: an XPath for files, a JSON pointer
        for REST."""
        if tag == XML_ELEMENT[self.kind] or tag == self.kind:
            return self.base
        if self.channel == "xml":
            if tag == "INSS" and self.kind == "DimonaIn":
                return f"{self.base}/NaturalPerson/INSS"
            return f"{self.base}/{_XML_PATH.get(tag, tag)}"
        if tag in _REST_ROOT:
            return _REST_ROOT[tag]
        if tag == "INSS":
            return "/worker/ssin"
        return f"{self.base}/{_REST_FIELD.get(tag, tag)}"

    def as_json(self) -> dict[str, Any]:
        """The declaration as received, normalised (what ``declaration.body`` keeps)."""
        employer = {"enterpriseNumber": self.employer_kbo, "nossRegistrationNumber": self.employer_rsz}
        features = {"workerType": self.worker_type, "jointCommissionNumber": self.joint_committee}
        out: dict[str, Any] = {
            "kind": self.kind,
            "channel": self.channel,
            "employer": {k: v for k, v in employer.items() if v is not None} or None,
            "worker": {"ssin": self.insz} if self.insz is not None else None,
            "periodId": self.period_id,
            "dailyRegistrationId": self.registration_id,
            "attestationStatus": self.attestation_status if self.kind == "DailyRegistration" else None,
            "startDate": self.start.isoformat() if self.start else None,
            "startHour": self.start_hour,
            "endDate": self.end.isoformat() if self.end else None,
            "endHour": self.end_hour,
            "plannedHoursNumber": self.planned_hours,
            "plannedDaysNumber": self.planned_days,
            "features": {k: v for k, v in features.items() if v is not None} or None,
            "form": self.form,
            "location": self.base if self.channel == "xml" else None,
        }
        if self.extra:
            out["extra"] = self.extra
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Period:
    """A row of ``dimona_period`` (a period, or a daily registration when ``parent_id`` is set)."""

    id: str
    employer_kbo: str
    insz: str
    worker_type: str
    joint_committee: str
    start: dt.date
    end: dt.date | None
    start_hour: str | None
    end_hour: str | None
    planned_hours: int | None
    cancelled: bool
    locked: bool
    version: int
    parent_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workerType": self.worker_type,
            "jointCommissionNumber": self.joint_committee,
            "startDate": self.start.isoformat(),
            "startHour": self.start_hour,
            "endDate": self.end.isoformat() if self.end else None,
            "endHour": self.end_hour,
            "plannedHoursNumber": self.planned_hours,
            "cancelled": self.cancelled,
            "locked": self.locked,
            "version": self.version,
            **({"periodId": self.parent_id} if self.parent_id else {}),
        }


def _period(row: Any) -> Period:
    return Period(
        id=row.id,
        employer_kbo=row.employer_kbo,
        insz=row.insz,
        worker_type=row.worker_type,
        joint_committee=row.joint_committee,
        start=row.start,
        end=row.end,
        start_hour=row.start_hour,
        end_hour=row.end_hour,
        planned_hours=row.planned_hours,
        cancelled=bool(row.cancelled),
        locked=bool(row.locked),
        version=int(row.version),
        parent_id=row.parent_id,
    )


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def same_quarter(a: dt.date, b: dt.date) -> bool:
    return quarter_start(a) == quarter_start(b)


def _years(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _id_error(exc: InvalidIdentifier) -> str:
    return INVALID_CHECK_DIGIT if "check digit" in exc.reason else INVALID


@dataclass
class Outcome:
    """What :func:`process_dimona` decided and stored."""

    declaration_id: int
    result: Result
    anomalies: list[Anomaly]
    period_id: str | None
    employer_kbo: str | None
    insz: str | None

    def as_tuple(self) -> tuple[int, Result, list[Anomaly], str | None]:
        return self.declaration_id, self.result, self.anomalies, self.period_id


class _Rules:
    """The rules of one declaration, in the order the fields come; each finding is an anomaly."""

    def __init__(self, conn: Connection, decl: DimonaDeclaration, declarant_kbo: str, today: dt.date) -> None:
        self.conn = conn
        self.decl = decl
        self.declarant = declarant_kbo
        self.today = today
        self.found: list[Anomaly] = []
        self.employer: EmployerRef | None = None
        self.insz: str | None = None
        self.birth: dt.date | None = None

    # ----------------------------------------------------------------------------------------- helpers

    def bad(self, tag: str, error: str, klass: AnomalyClass, message: str, value: object = None) -> None:
        zone = ZONES.get(tag) or FB.get(tag) or FB[self.decl.kind]
        self.found.append(
            anomaly(
                zone,
                error,
                klass,
                message,
                tag=XML_ELEMENT.get(tag, tag),
                value=value,
                location=self.decl.locate(tag),
                line=self.decl.lines.get(tag, self.decl.line),
            )
        )

    @property
    def blocked(self) -> bool:
        return any(a.klass == "B" for a in self.found)

    # ---------------------------------------------------------------------------------------- employer

    def named_employer(self) -> EmployerRef | None:
        """The employer the declaration names (None when it names none or it is wrong: anomalies say so)."""
        d = self.decl
        by_kbo = by_rsz = None
        if d.employer_kbo is not None:
            try:
                kbo = validate_enterprise_number(d.employer_kbo)
            except InvalidIdentifier as exc:
                self.bad(
                    "CompanyID", _id_error(exc), "B", f"employer enterprise number: {exc}", d.employer_kbo
                )
            else:
                by_kbo = find_employer(self.conn, kbo=kbo)
                if by_kbo is None:
                    self.bad("CompanyID", "017", "B", f"employer {kbo} is not in the employer repertory", kbo)
        if d.employer_rsz is not None:
            raw = d.employer_rsz
            number = raw[1:] if len(raw) == 10 and raw.startswith("0") else raw  # CommonV3: 0 + 9 digits
            tag = "ProvisionalNSSONbr" if len(number) == 10 else "NOSSRegistrationNbr"
            try:
                rsz = validate_rsz_employer_number(number)
            except InvalidIdentifier as exc:
                self.bad(tag, _id_error(exc), "B", f"employer RSZ number: {exc}", raw)
            else:
                by_rsz = find_employer(self.conn, rsz=rsz)
                if by_rsz is None:
                    self.bad(tag, "017", "B", f"RSZ number {rsz} is not in the employer repertory", rsz)
        if by_kbo is not None and by_rsz is not None and by_kbo.kbo != by_rsz.kbo:
            self.bad(
                "NOSSRegistrationNbr",
                INCOMPATIBLE_REPERTORY,
                "B",
                "the RSZ number and the enterprise number are not the same employer in the repertory",
                d.employer_rsz,
            )
            return None
        return by_kbo or by_rsz

    def names_employer(self) -> bool:
        return self.decl.employer_kbo is not None or self.decl.employer_rsz is not None

    # ------------------------------------------------------------------------------------------ worker

    def worker(self, required: bool) -> None:
        raw = self.decl.insz
        if raw is None:
            if required:
                self.bad("INSS", NOT_PRESENT, "B", "the worker's INSZ is required")
            return
        try:
            info = validate_insz(raw)
        except InvalidIdentifier as exc:
            self.bad("INSS", _id_error(exc), "B", f"worker INSZ: {exc}", raw)
            return
        self.insz = info.number
        self.birth = info.birth_date

    def age(self, start: dt.date) -> None:
        if self.birth is None:
            return
        years = _years(self.birth, start)
        if years < MIN_AGE:
            self.bad(
                "INSS", "009", "B", f"the worker is {years} at the start: younger than {MIN_AGE}", self.insz
            )
        elif years < AGE_TO_VERIFY:
            self.bad("INSS", "009", "W", f"the worker is {years} at the start: age to verify", self.insz)

    # ------------------------------------------------------------------------------------------ period

    def dates(self, start: dt.date, end: dt.date | None, *, open_end_allowed: bool) -> None:
        limit = dt.date(self.today.year + 10, 1, 1)
        if not MIN_START <= start < limit:
            self.bad(
                "StartingDate",
                NOT_IN_DOMAIN,
                "B",
                f"start date must be from {MIN_START} and before {limit}",
                start,
            )
        if end is None:
            return
        if end == OPEN_END:
            if not open_end_allowed:
                self.bad(
                    "EndingDate", NOT_IN_DOMAIN, "B", "9999-12-31 (reopen) is only allowed in an update", end
                )
            return
        if not MIN_END <= end < limit:
            self.bad(
                "EndingDate", NOT_IN_DOMAIN, "B", f"end date must be from {MIN_END} and before {limit}", end
            )
        elif end < start:
            self.bad("EndingDate", END_BEFORE_START, "B", f"the end {end} is before the start {start}", end)

    def hours(
        self, start: dt.date, end: dt.date | None, start_hour: str | None, end_hour: str | None
    ) -> None:
        for tag, value in (("StartingHour", start_hour), ("EndingHour", end_hour)):
            if value is not None and not (
                len(value) == 4 and value.isdigit() and int(value[:2]) < 24 and int(value[2:]) < 60
            ):
                self.bad(tag, INVALID, "B", "an hour is HHMM (0000-2359)", value)
                return
        if start_hour and end_hour and (end is None or end == start) and end_hour <= start_hour:
            self.bad(
                "EndingHour", END_BEFORE_START, "B", "the end hour is not after the start hour", end_hour
            )

    def features(self, worker_type: str | None, joint_committee: str | None, start: dt.date) -> None:
        if worker_type is None:
            self.bad("WorkerType", NOT_PRESENT, "B", "the worker type is required")
        elif worker_type not in codes.DIMONA_WORKER_TYPES:
            self.bad(
                "WorkerType", NOT_IN_DOMAIN, "B", f"unknown Dimona worker type {worker_type!r}", worker_type
            )
        else:
            ended = codes.WORKER_TYPES_ENDED.get(worker_type)
            began = WORKER_TYPES_FROM.get(worker_type)
            if ended is not None and start.year > ended:
                self.bad(
                    "WorkerType",
                    INCOMPATIBLE_PERIOD,
                    "B",
                    f"worker type {worker_type} may not be declared for periods after {ended}",
                    worker_type,
                )
            elif began is not None and start < began:
                self.bad(
                    "WorkerType",
                    INCOMPATIBLE_PERIOD,
                    "B",
                    f"worker type {worker_type} exists from {began} only",
                    worker_type,
                )
        if joint_committee is not None and joint_committee not in codes.DIMONA_JOINT_COMMITTEES:
            self.bad(
                "JointCommissionNbr",
                NOT_IN_DOMAIN,
                "B",
                f"joint committee {joint_committee!r} is not one Dimona distinguishes (XXX: the others)",
                joint_committee,
            )

    def type_rules(self, p: Period, *, planned_days: int | None) -> None:
        """The worker-type rules on the period as it will stand (after an Out or an update too)."""
        wt, start, end = p.worker_type, p.start, p.end
        if wt in SAME_QUARTER_TYPES or wt in ONE_DAY_TYPES:
            if end is None:
                self.bad("EndingDate", NOT_PRESENT, "B", f"a {wt} period needs an end date")
            elif wt in SAME_QUARTER_TYPES and not same_quarter(start, end):
                self.bad(
                    "EndingDate",
                    "034",
                    "B",
                    f"a {wt} period ends in the quarter it starts ({start:%Y}-Q{(start.month - 1) // 3 + 1})",
                    end,
                )
            elif wt in ONE_DAY_TYPES and end != start:
                self.bad("EndingDate", INCOMPATIBLE_PERIOD, "B", f"a {wt} period ends on its start date", end)
        if wt == "STU":
            if p.planned_hours is None:
                self.bad("PlannedHoursNbr", NOT_PRESENT, "B", "a student period needs its planned hours")
            if planned_days is not None and start.year > PLANNED_DAYS_LAST_YEAR:
                self.bad(
                    "PlannedDaysNbr",
                    FORBIDDEN,
                    "B",
                    f"planned days are not used after {PLANNED_DAYS_LAST_YEAR}: declare planned hours",
                    planned_days,
                )

    def timing(self, p: Period) -> None:
        """When the declaration is made, compared with the period: too early for FLX and article 17,
        late (after the start) for everyone."""
        if p.worker_type == "FLX":
            earliest = quarter_start(p.start) - dt.timedelta(days=FLX_DAYS_BEFORE_QUARTER)
            if self.today < earliest:
                self.bad(
                    "StartingDate",
                    "034",
                    "B",
                    f"a flexi-job is declared at most {FLX_DAYS_BEFORE_QUARTER} days before its quarter "
                    f"starts (from {earliest})",
                    p.start,
                )
        if p.worker_type in ART17_NEW_TYPES:
            earliest = p.start - dt.timedelta(days=ART17_DAYS_BEFORE_START)
            if self.today < earliest:
                self.bad(
                    "StartingDate",
                    FORBIDDEN,
                    "B",
                    f"a {p.worker_type} period is declared at most {ART17_DAYS_BEFORE_START} days before it "
                    f"starts (from {earliest})",
                    p.start,
                )
        if p.start < self.today:
            self.bad(
                "StartingDate", INCOMPATIBLE_PERIOD, "W", "late declaration: the period has started", p.start
            )

    def overlap(self, p: Period) -> None:
        """No two live periods of one employer, worker and worker type at the same time."""
        params = {
            "employer_kbo": p.employer_kbo,
            "insz": p.insz,
            "worker_type": p.worker_type,
            "id": p.id,
            "start": p.start,
            "end": p.end,
        }
        query = _OVERLAP_OPEN if p.end is None else _OVERLAP
        other = self.conn.execute(query, params).scalar()
        if other is not None:
            self.bad(
                self.decl.kind,
                DUPLICATE,
                "B",
                f"the worker already has a {p.worker_type} period with this employer at that time ({other})",
                other,
            )

    # ----------------------------------------------------------------------------------- the reference

    def referenced(self, tag: str, raw: str | None, *, registration: bool) -> Period | None:
        """The period (or daily registration) the declaration refers to, if it is one the declarant may
        change. Another employer's period is answered exactly like an unknown one."""
        what = "daily registration" if registration else "Dimona period"
        if raw is None:
            self.bad(tag, NOT_PRESENT, "B", f"the {what} id is required")
            return None
        try:
            number = validate_dimona_period_id(raw)
        except InvalidIdentifier as exc:
            self.bad(tag, _id_error(exc), "B", f"{what} id: {exc}", raw)
            return None
        query = select(dimona_period_table).where(dimona_period_table.c.id == number)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        found = _period(row) if row is not None else None
        mine = found is not None and (found.parent_id is not None) == registration and self.may_change(found)
        if found is None or not mine:
            self.bad(tag, INVALID, "B", f"no {what} {number} of this employer", number)
            return None
        if found.cancelled:
            self.bad(tag, INCOMPATIBLE_PERIOD, "B", f"the {what} {number} was cancelled", number)
            return None
        if found.locked:
            self.bad(
                tag,
                FORBIDDEN,
                "B",
                f"the {what} {number} was declared by the RSZ: it cannot be changed",
                number,
            )
            return None
        if self.insz is not None and self.insz != found.insz:
            self.bad("INSS", INCOMPATIBLE_PERSON, "B", f"the {what} {number} is not this worker's", self.insz)
            return None
        return found

    def may_change(self, p: Period) -> bool:
        """The period is of the employer named (or, when none is named, of one the declarant may declare
        for)."""
        if self.employer is not None:
            return p.employer_kbo == self.employer.kbo
        if self.names_employer():
            return False  # the employer named is wrong: anomalies already say so
        role = declarant_role(
            self.conn, declarant_kbo=self.declarant, employer_kbo=p.employer_kbo, on=self.today
        )
        if role is None:
            return False
        self.employer = find_employer(self.conn, kbo=p.employer_kbo)
        return self.employer is not None


# ------------------------------------------------------------------------------------ the hot path's SQL
# Built once: a statement built per call (``insert(...).values(**row)``) costs more in SQLAlchemy than the
# database spends running it; these take their values as parameters and hit the compiled cache.

_P = dimona_period_table.c
_EMPLOYER_BY_KBO = select(employer_table).where(employer_table.c.kbo == bindparam("kbo"))
_EMPLOYER_BY_RSZ = select(employer_table).where(employer_table.c.rsz == bindparam("rsz"))
_OVERLAP_BASE = [
    _P.employer_kbo == bindparam("employer_kbo"),
    _P.insz == bindparam("insz"),
    _P.worker_type == bindparam("worker_type"),
    _P.cancelled.is_(False),
    _P.parent_id.is_(None),
    _P.id != bindparam("id"),
    or_(_P.end.is_(None), _P.end >= bindparam("start", type_=_P.start.type)),
]
_OVERLAP_OPEN = select(_P.id).where(and_(*_OVERLAP_BASE)).limit(1)
_OVERLAP = select(_P.id).where(and_(*_OVERLAP_BASE, _P.start <= bindparam("end", type_=_P.end.type))).limit(1)
_INSERT_DECLARATION = insert(declaration_table).returning(declaration_table.c.id)
_SET_PERIOD = (
    update(declaration_table)
    .where(declaration_table.c.id == bindparam("declaration"))
    .values(
        period_id=bindparam("new_period"),
        body=bindparam("new_body", type_=declaration_table.c.body.type),
    )
)
_INSERT_PERIOD = insert(dimona_period_table)
_INSERT_OUTBOX = insert(outbox_table)
_INSERT_SUBMISSION = insert(submission_table)


def find_employer(conn: Connection, *, kbo: str | None = None, rsz: str | None = None) -> EmployerRef | None:
    """:func:`service.find_employer` on a prepared statement (called on every declaration)."""
    if kbo is not None:
        row = conn.execute(_EMPLOYER_BY_KBO, {"kbo": kbo}).first()
    elif rsz is not None:
        row = conn.execute(_EMPLOYER_BY_RSZ, {"rsz": rsz}).first()
    else:
        return None
    if row is None:
        return None
    return EmployerRef(row.kbo, row.rsz, row.name, row.category, row.joint_committee, row.nace)


_M = mandate_table.c
_ROLE = (
    select(_M.role)
    .where(
        and_(
            _M.employer_kbo == bindparam("employer"),
            _M.declarant_kbo == bindparam("declarant"),
            _M.start <= bindparam("on", type_=_M.start.type),
            or_(_M.end.is_(None), _M.end >= bindparam("on", type_=_M.start.type)),
        )
    )
    .limit(1)
)


def declarant_role(conn: Connection, *, declarant_kbo: str, employer_kbo: str, on: dt.date) -> int | None:
    """:func:`service.declarant_role` on a prepared statement (a social secretariat declares every time)."""
    if declarant_kbo == employer_kbo:
        return codes.DECLARANT_EMPLOYER
    role = conn.execute(_ROLE, {"employer": employer_kbo, "declarant": declarant_kbo, "on": on}).scalar()
    return int(role) if role is not None else None


def require_mandate(conn: Connection, *, declarant_kbo: str, employer_kbo: str, on: dt.date) -> int:
    """:func:`service.require_mandate` on the prepared statement: the role, or 403 NO_MANDATE raised."""
    role = declarant_role(conn, declarant_kbo=declarant_kbo, employer_kbo=employer_kbo, on=on)
    if role is None:
        raise no_mandate(declarant_kbo, employer_kbo)
    return role


def open_receipt(
    conn: Connection,
    *,
    ticket: str,
    channel: str,
    declarant_kbo: str,
    filename: str | None = None,
    declarations: int = 0,
) -> None:
    """:func:`service.open_submission` of a Dimona submission, on a prepared statement (the receipt of
    every REST declaration). On SQLite it is the transaction's first write: it takes the write lock before
    the rules read the periods, so two declarations for one worker cannot both pass the overlap rule."""
    conn.execute(
        _INSERT_SUBMISSION,
        {
            "ticket": ticket,
            "channel": channel,
            "form": FORM,
            "declarant_kbo": declarant_kbo,
            "filename": filename,
            "received_at": service.utc_now(),
            "result_code": 1,
            "errors": [],
            "declarations": declarations,
            "refused": 0,
        },
    )


def mandate_refusal(
    conn: Connection, decl: DimonaDeclaration, *, declarant_kbo: str, today: dt.date
) -> DeclarationRefused | None:
    """Why a whole file is refused before anything in it is stored: a Form names an employer (one in the
    repertory) the declarant may not declare for. A Form naming none, or a wrong one, is judged on its own."""
    rules = _Rules(conn, decl, declarant_kbo, today)
    if not rules.names_employer():
        return None
    employer = rules.named_employer()
    if employer is None:
        return None
    try:
        require_mandate(conn, declarant_kbo=declarant_kbo, employer_kbo=employer.kbo, on=today)
    except DeclarationRefused as exc:
        return exc
    return None


_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One declaration's transaction. On SQLite, writers of this process take turns on a lock first: the
    database has one writer at a time anyway, and its own busy handler waits by sleeping (up to 100 ms a
    try), which under load costs far more than the transaction itself."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _WRITERS_LOCK:
        lock = _WRITERS.setdefault(engine, threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


def _lock_worker(conn: Connection, employer_kbo: str, insz: str) -> None:
    """Serialise the declarations of one employer and worker (the overlap rule reads, then writes).

    SQLite needs nothing: the caller's transaction already wrote (the receipt) before the rules read, so it
    holds the database's write lock. PostgreSQL gets a transaction-scoped advisory lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"dimona:{employer_kbo}:{insz}"}
        )


def _default_committee(employer: EmployerRef) -> str:
    jc = employer.joint_committee.split(".")[0]
    return jc if jc in codes.DIMONA_JOINT_COMMITTEES else "XXX"


def process_dimona(
    conn: Connection,
    *,
    declaration: DimonaDeclaration,
    ticket: str,
    sequence: int,
    declarant_kbo: str,
    today: dt.date,
) -> tuple[int, Result, list[Anomaly], str | None]:
    """Check one declaration, store it (accepted or not), apply an accepted change to its period and queue
    the delivery; returns ``(declaration id, result, anomalies, period id)``.

    The caller owns the transaction (the receipt ``ticket`` must exist in it) and commits; a declarant who
    may not declare for the employer named raises :class:`~kruispunt.employers.errors.DeclarationRefused`
    (403 NO_MANDATE) before anything is written — roll back.
    """
    return process(
        conn,
        declaration=declaration,
        ticket=ticket,
        sequence=sequence,
        declarant_kbo=declarant_kbo,
        today=today,
    ).as_tuple()


def process(
    conn: Connection,
    *,
    declaration: DimonaDeclaration,
    ticket: str,
    sequence: int,
    declarant_kbo: str,
    today: dt.date,
    outbox: list[dict[str, Any]] | None = None,
) -> Outcome:
    """:func:`process_dimona` with the employer and worker it found (for the declarations log).

    With ``outbox`` the delivery row is appended to it instead of written: a caller that writes many
    declarations in one transaction inserts them together (they play no part in the rules)."""
    d = declaration
    rules = _Rules(conn, d, declarant_kbo, today)
    if rules.names_employer():
        rules.employer = rules.named_employer()
    elif d.kind == "DimonaIn":
        rules.employer = find_employer(conn, kbo=declarant_kbo)
        if rules.employer is None:
            rules.bad(
                "EmployerId", NOT_PRESENT, "B", "say which employer declares (enterprise or RSZ number)"
            )
    if rules.employer is not None:
        require_mandate(conn, declarant_kbo=declarant_kbo, employer_kbo=rules.employer.kbo, on=today)
    rules.worker(required=d.kind == "DimonaIn")

    before: Period | None = None
    after: Period | None = None
    new_row = False
    if d.kind == "DimonaIn":
        after = _dimona_in(rules)
        new_row = True
    elif d.kind == "DailyRegistration" and d.attestation_status == 0:
        after = _new_registration(rules)
        new_row = True
    else:
        before, after = _change(rules)

    anomalies = rules.found
    result = result_of(anomalies)
    employer = rules.employer
    body = d.as_json()
    if result != "B" and after is not None:
        body["impact"] = {
            "before": before.as_json() if before else None,
            "after": after.as_json() if not new_row else {**after.as_json(), "id": None},
        }
    period_id = before.id if before is not None and result != "B" else None
    now = service.utc_now()
    declaration_id = int(
        conn.execute(
            _INSERT_DECLARATION,
            {
                "ticket": ticket,
                "sequence": sequence,
                "kind": d.kind,
                "employer_kbo": employer.kbo if employer else None,
                "declarant_kbo": declarant_kbo,
                "insz": rules.insz or (before.insz if before else None),
                "period_id": period_id,
                "received_at": now,
                "result": result,
                "anomalies": as_json(anomalies),
                "body": body,
                "delivery": None,
            },
        ).scalar_one()
    )
    if result == "B" or after is None or employer is None:
        return Outcome(
            declaration_id, result, anomalies, None, employer.kbo if employer else None, rules.insz
        )

    if new_row:
        after = replace(after, id=make_dimona_period_id(PERIOD_ID_BASE + declaration_id))
        conn.execute(_INSERT_PERIOD, {**_row(after), "updated_at": now})
        body["impact"]["after"]["id"] = after.id
        conn.execute(_SET_PERIOD, {"declaration": declaration_id, "new_period": after.id, "new_body": body})
    else:
        conn.execute(
            update(dimona_period_table)
            .where(dimona_period_table.c.id == after.id)
            .values(**_row(after), updated_at=now)
        )
    if after.parent_id is None:
        delivery = {
            "declaration_id": declaration_id,
            "target": TARGET,
            "key": f"dimona:{after.id}:v{after.version}",
            "payload": _payload(after, employer),
            "state": "pending",
            "attempts": 0,
            "due_at": now,
            "last_error": None,
            "result": None,
        }
        if outbox is None:
            conn.execute(_INSERT_OUTBOX, delivery)
        else:
            outbox.append(delivery)
    return Outcome(declaration_id, result, anomalies, after.id, employer.kbo, after.insz)


def _row(p: Period) -> dict[str, Any]:
    return {
        "id": p.id,
        "employer_kbo": p.employer_kbo,
        "insz": p.insz,
        "worker_type": p.worker_type,
        "joint_committee": p.joint_committee,
        "start": p.start,
        "end": p.end,
        "start_hour": p.start_hour,
        "end_hour": p.end_hour,
        "planned_hours": p.planned_hours,
        "cancelled": p.cancelled,
        "locked": p.locked,
        "version": p.version,
        "parent_id": p.parent_id,
    }


def _payload(p: Period, employer: EmployerRef) -> dict[str, Any]:
    """What the RSZ source keeps of a period (``PUT /files/dimona_period/{id}`` or its cancel)."""
    return {
        "op": "cancel" if p.cancelled else "upsert",
        "kind": "dimona_period",
        "key": p.id,
        "insz": p.insz,
        "start": p.start.isoformat(),
        "end": p.end.isoformat() if p.end else None,
        "attrs": {
            "employer_kbo": employer.kbo,
            "employer_rsz": employer.rsz,
            "employer_name": employer.name,
            "worker_type": p.worker_type,
            "joint_committee": p.joint_committee,
            "dimona_id": p.id,
        },
    }


def _dimona_in(rules: _Rules) -> Period | None:
    d = rules.decl
    if d.start is None:
        rules.bad("StartingDate", NOT_PRESENT, "B", "the start date is required")
        return None
    rules.dates(d.start, d.end, open_end_allowed=False)
    rules.hours(d.start, d.end, d.start_hour, d.end_hour)
    rules.features(d.worker_type, d.joint_committee, d.start)
    if rules.insz is not None:
        rules.age(d.start)
    if rules.employer is None or rules.insz is None or d.worker_type is None or rules.blocked:
        return None
    _lock_worker(rules.conn, rules.employer.kbo, rules.insz)
    p = Period(
        id="",
        employer_kbo=rules.employer.kbo,
        insz=rules.insz,
        worker_type=d.worker_type,
        joint_committee=d.joint_committee or _default_committee(rules.employer),
        start=d.start,
        end=d.end,
        start_hour=d.start_hour,
        end_hour=d.end_hour,
        planned_hours=d.planned_hours,
        cancelled=False,
        locked=False,
        version=1,
        parent_id=None,
    )
    rules.type_rules(p, planned_days=d.planned_days)
    rules.timing(p)
    rules.overlap(p)
    return p


def _new_registration(rules: _Rules) -> Period | None:
    """A daily registration (status 0): one day (or night) of work inside an existing period."""
    d = rules.decl
    parent = rules.referenced("DimonaPeriodId", d.period_id, registration=False)
    if d.start is None:
        rules.bad("StartingDate", NOT_PRESENT, "B", "the day of the daily registration is required")
        return None
    end = d.end or d.start
    rules.dates(d.start, end, open_end_allowed=False)
    rules.hours(d.start, end, d.start_hour, d.end_hour)
    if end > d.start + dt.timedelta(days=1):
        rules.bad(
            "EndingDate", INCOMPATIBLE_PERIOD, "B", "a daily registration ends on its day or the next", end
        )
    if parent is None or rules.blocked:
        return None
    if parent.worker_type in HOURS_TYPES and d.start_hour is None:
        rules.bad(
            "StartingHour",
            NOT_PRESENT,
            "B",
            f"a {parent.worker_type} daily registration needs its start hour",
        )
    if d.start < parent.start or (parent.end is not None and d.start > parent.end):
        rules.bad(
            "StartingDate", INCOMPATIBLE_PERIOD, "B", f"the day is outside the period {parent.id}", d.start
        )
    _lock_worker(rules.conn, parent.employer_kbo, parent.insz)
    c = dimona_period_table.c
    twin = rules.conn.execute(
        select(c.id)
        .where(and_(c.parent_id == parent.id, c.start == d.start, c.cancelled.is_(False)))
        .limit(1)
    ).scalar()
    if twin is not None:
        rules.bad("DailyRegistration", DUPLICATE, "B", f"that day is already registered ({twin})", twin)
    if d.start < rules.today:
        rules.bad("StartingDate", INCOMPATIBLE_PERIOD, "W", "late declaration: the day has started", d.start)
    return replace(
        parent,
        id="",
        start=d.start,
        end=end,
        start_hour=d.start_hour,
        end_hour=d.end_hour,
        planned_hours=None,
        version=1,
        parent_id=parent.id,
    )


def _change(rules: _Rules) -> tuple[Period | None, Period | None]:
    """Out, Update, Cancel, and the change or cancellation of a daily registration: the period as it was
    and as it will be."""
    d = rules.decl
    registration = d.kind == "DailyRegistration"
    if registration and d.attestation_status not in (1, 3):
        rules.bad(
            "AttestationStatus", NOT_IN_DOMAIN, "B", "0 create, 1 modify or 3 cancel", d.attestation_status
        )
        return None, None
    if registration:
        found = rules.referenced("DailyRegistrationId", d.registration_id, registration=True)
    else:
        found = rules.referenced("DimonaPeriodId", d.period_id, registration=False)
    if found is None:
        return None, None
    _lock_worker(rules.conn, found.employer_kbo, found.insz)
    version = found.version + 1
    if d.kind == "DimonaCancel" or (registration and d.attestation_status == 3):
        return found, replace(found, cancelled=True, version=version)
    if d.kind == "DimonaOut":
        if d.end is None:
            rules.bad("EndingDate", NOT_PRESENT, "B", "a Dimona Out gives the end date")
            return found, None
        after = replace(found, end=d.end, end_hour=d.end_hour or found.end_hour, version=version)
        rules.dates(after.start, d.end, open_end_allowed=False)
    else:
        changes = (d.start, d.start_hour, d.end, d.end_hour, d.planned_hours, d.planned_days)
        if all(v is None for v in changes):
            rules.bad(
                d.kind,
                NOT_PRESENT,
                "B",
                "the update changes nothing: give the new dates, hours or planned hours",
            )
            return found, None
        end = found.end if d.end is None else (None if d.end == OPEN_END else d.end)
        after = replace(
            found,
            start=d.start or found.start,
            start_hour=d.start_hour or found.start_hour,
            end=end,
            end_hour=d.end_hour or found.end_hour,
            planned_hours=d.planned_hours or found.planned_hours,
            version=version,
        )
        rules.dates(after.start, d.end if d.end == OPEN_END else after.end, open_end_allowed=not registration)
        if registration and after.end is None:
            after = replace(after, end=after.start)
    rules.hours(after.start, after.end, after.start_hour, after.end_hour)
    if rules.blocked:
        return found, None
    if registration:
        parent_row = rules.conn.execute(
            select(dimona_period_table).where(dimona_period_table.c.id == found.parent_id)
        ).first()
        if parent_row is not None:
            parent = _period(parent_row)
            if after.start < parent.start or (parent.end is not None and after.start > parent.end):
                rules.bad(
                    "StartingDate",
                    INCOMPATIBLE_PERIOD,
                    "B",
                    f"the day is outside the period {parent.id}",
                    after.start,
                )
        return found, after
    if rules.insz is None:
        rules.insz = found.insz
    rules.birth = rules.birth or _birth(found.insz)
    if d.start is not None:
        rules.age(after.start)
    rules.type_rules(after, planned_days=d.planned_days)
    rules.overlap(after)
    return found, after


def _birth(insz: str) -> dt.date | None:
    try:
        return validate_insz(insz).birth_date
    except InvalidIdentifier:
        return None
