"""Social-risk declarations (DRS / ASR): the employer declares only the risk, the RSZ adds what it holds.

Four scenarios (annex 11): **WECH001** end of contract (the electronic C4, to the RVA), **WECH005** monthly
hours of temporary unemployment (RVA), **ZIMA001** incapacity for work, maternity rest, birth leave … (the
worker's mutuality, through NIC), **AOAT001** work accident (FEDRIS). The employer (or its mandated social
secretariat) sends the risk data, the employer and the worker's INSZ; "collect once": the employment and
the wage data are not declared again but linked in from what the RSZ holds —

* ``EmployerDeclarationLink`` (FB 90067): the employer's RSZ number, trusteeship, KBO number;
* ``OccupationLink`` (FB 90068): the worker's Dimona period with that employer covering the risk date
  (id, worker type, dates, joint committee), completed from the DmfA occupation of the latest quarter
  (days per week, mean hours of the worker and of the reference person, worker status, contract type …);
* ``WorkerRecordLink`` (FB 90063): employer category and worker code of the latest DmfA worker record;
* the wage data of the reference period from the DmfA worker records (current versions only): the last four
  quarters up to the risk for WECH001 and AOAT001, the last quarter for WECH005 and ZIMA001 (for ZIMA001
  and AOAT001 with a ``CalculationBaseAllowance``, FB 90032, derived from the last quarter).

Anomalies are identified ``ZZZZZ-EEE`` like every declaration (:mod:`.anomalies`). Blocking: an unknown or
invalid employer or INSZ, no Dimona period of that employer covering the risk date, impossible dates, a risk
in the future, WECH005 hours beyond a working day. Warnings: no DmfA yet (declared anyway, without wage data),
a WECH001 whose Dimona period does not end on the declared end of contract, WECH005 hours above the
worker's regime. Zones: those of the official glossaries where they name the datum (ZIMA 00408/00410/00128,
AOAT 00237/00239/00266, NatureOfDay 00178/00179/00180, occupation 00044/00045, INSZ 00024, employer
00011/00014, link blocks 90063/90068); the WECH001 notice and indemnity use the severance-payment zones
(01130–01132) since the reference holds no WECH001 glossary.

A declaration that is not refused is delivered through the hub (``service.enqueue(target="hub_message")``)
as message type ``drs_<scenario>`` under legal context ``RSZ:SOCIAL_RISK_DECLARATION`` (deliberation 24/011),
in the same transaction as the declaration; the delivery worker adds the worker's proof (``request.proof``).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import Connection, Row, and_, select

from kruispunt.employers import service
from kruispunt.employers.anomalies import (
    EMPLOYER_NOT_IN_REPERTORY,
    END_BEFORE_START,
    INCOMPATIBLE_PERIOD,
    INVALID,
    INVALID_CHECK_DIGIT,
    NOT_IN_DOMAIN,
    NOT_PRESENT,
    Anomaly,
    anomaly,
    result_of,
)
from kruispunt.employers.errors import DeclarationRefused
from kruispunt.employers.models import dimona_period_table, dmfa_declaration_table, dmfa_worker_record_table
from kruispunt.ids import InvalidIdentifier, validate_insz

Scenario = Literal["WECH001", "WECH005", "ZIMA001", "AOAT001"]
SCENARIOS: tuple[Scenario, ...] = ("WECH001", "WECH005", "ZIMA001", "AOAT001")
LEGAL_CONTEXT = "RSZ:SOCIAL_RISK_DECLARATION"
"""The legal context of the delivery (deliberation 24/011)."""
TOO_MANY = "047"
"""Annex 30: number too high."""
WAGE_QUARTERS: Mapping[str, int] = {"WECH001": 4, "WECH005": 1, "ZIMA001": 1, "AOAT001": 4}
"""How many quarters of DmfA wage data each scenario links in."""
MAX_DAY_HOURS = 1100
"""Hundredths of hours: more temporary unemployment on one day than the longest working day is impossible."""
FUTURE_END_OF_CONTRACT_DAYS = 31
"""A WECH001 may be sent before the contract ends (a notice being served), not longer before."""


def message_type(scenario: str) -> str:
    """The hub message type of a scenario: ``drs_wech001`` …"""
    return f"drs_{scenario.lower()}"


# ---------------------------------------------------------------------------------------------- bodies


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Notice(_Strict):
    start: dt.date
    end: dt.date
    weeks: int = Field(ge=0, le=200)
    worked: bool = Field(description="the notice was worked out (the contract ended at its end)")


class Indemnity(_Strict):
    weeks: int = Field(ge=0, le=200, description="weeks the indemnity in lieu of notice covers")
    amount_cents: int = Field(ge=0, description="gross amount, eurocents")


class Wech001Risk(_Strict):
    """End of contract: the facts the RVA needs for the C4."""

    end_of_contract_date: dt.date
    last_day_worked: dt.date | None = None
    reason: Literal[
        "dismissal",
        "resignation",
        "mutual_agreement",
        "end_of_fixed_term",
        "urgent_reason",
        "force_majeure",
        "other",
    ]
    notice: Notice | None = None
    indemnity: Indemnity | None = None
    company_supplement: bool = Field(default=False, description="unemployment with company supplement (SWT)")


class TemporaryUnemploymentDay(_Strict):
    day: dt.date
    reason: Literal["economic", "force_majeure", "weather", "technical_disorder"]
    hours: int = Field(ge=1, le=2400, description="hundredths of hours")


class Wech005Risk(_Strict):
    """The month and, per day and reason, the hours of temporary unemployment."""

    month: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    days: list[TemporaryUnemploymentDay] = Field(min_length=1, max_length=62)


class Zima001Risk(_Strict):
    """The start and kind of the incapacity (or maternity rest, birth leave …) and the last day worked."""

    incapacity_start: dt.date
    kind: Literal[
        "sickness",
        "accident_private_life",
        "maternity",
        "prophylactic_leave",
        "birth_leave",
        "adoption_leave",
        "foster_leave",
    ]
    last_day_worked: dt.date
    expected_delivery_date: dt.date | None = None
    work_resumption: dt.date | None = None


class AccidentPlace(_Strict):
    kind: Literal["usual_workplace", "other_workplace", "on_the_way_to_work", "public_road", "other"]
    traffic_accident: bool = False
    street: str | None = Field(default=None, max_length=100)
    house_number: str | None = Field(default=None, max_length=10)
    postal_code: str | None = Field(default=None, max_length=10)
    municipality: str | None = Field(default=None, max_length=100)
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "BE"


class Injury(_Strict):
    nature: str = Field(min_length=1, max_length=200)
    body_part: str = Field(min_length=1, max_length=200)


class Aoat001Risk(_Strict):
    """The accident: when, where, how, the injuries and their consequences."""

    accident_date: dt.date
    accident_time: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None
    place: AccidentPlace
    circumstances: str = Field(min_length=1, max_length=4000)
    injuries: list[Injury] = Field(min_length=1, max_length=10)
    consequences: Literal["no_incapacity", "temporary_incapacity", "permanent_incapacity", "death"]
    activity_stopped_on: dt.date | None = None
    witnesses: bool = False
    police_report: bool = False


RISKS: Mapping[str, type[BaseModel]] = {
    "WECH001": Wech001Risk,
    "WECH005": Wech005Risk,
    "ZIMA001": Zima001Risk,
    "AOAT001": Aoat001Risk,
}


class DrsIn(_Strict):
    """``POST /drs/{scenario}``: the employer (KBO or RSZ number), the worker's INSZ and the risk data."""

    employer: str = Field(min_length=1, max_length=20, description="KBO enterprise number or RSZ number")
    insz: str = Field(min_length=1, max_length=20, description="the worker's INSZ")
    risk: dict[str, Any] = Field(description="the scenario's risk data (see the scenario's model)")


@dataclass(frozen=True, slots=True)
class Parsed:
    scenario: Scenario
    employer: str
    insz: str
    risk: BaseModel


def parse(scenario: str, body: Any) -> Parsed:
    """The body as the scenario's models; :class:`DeclarationRefused` 404 (unknown scenario) or 422 (the
    shape is wrong: the errors, each with where)."""
    if scenario not in RISKS:
        raise DeclarationRefused(
            404, "UNKNOWN_SCENARIO", f"no social-risk scenario {scenario!r}", scenarios=list(SCENARIOS)
        )
    try:
        head = DrsIn.model_validate(body)
        risk = RISKS[scenario].model_validate(head.risk)
    except ValidationError as exc:
        problems = [
            {
                "loc": [str(p) for p in e["loc"]],
                "msg": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors(include_url=False)
        ]
        raise DeclarationRefused(
            422, "INVALID_DECLARATION", f"the {scenario} declaration is not well formed", errors=problems
        ) from exc
    return Parsed(scenario, head.employer, head.insz, risk)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ risk rules


def risk_date(parsed: Parsed) -> dt.date:
    """The day the risk starts (the start of the file the receiving institution opens): the first day
    without contract, the first day of the month, the first day of incapacity, the day of the accident."""
    risk = parsed.risk
    if isinstance(risk, Wech001Risk):
        return risk.end_of_contract_date + dt.timedelta(days=1)
    if isinstance(risk, Wech005Risk):
        year, month = map(int, risk.month.split("-"))
        return dt.date(year, month, 1)
    if isinstance(risk, Zima001Risk):
        return risk.incapacity_start
    assert isinstance(risk, Aoat001Risk)
    return risk.accident_date


def employed_on(parsed: Parsed) -> list[dt.date]:
    """The days on which the worker must be employed by the employer (a Dimona period covering them)."""
    risk = parsed.risk
    if isinstance(risk, Wech001Risk):
        return [risk.end_of_contract_date]
    if isinstance(risk, Wech005Risk):
        return sorted({d.day for d in risk.days})
    if isinstance(risk, Zima001Risk):
        return [risk.incapacity_start]
    assert isinstance(risk, Aoat001Risk)
    return [risk.accident_date]


def _wech001(risk: Wech001Risk, today: dt.date, out: list[Anomaly]) -> None:
    where = "risk"
    if risk.end_of_contract_date > today + dt.timedelta(days=FUTURE_END_OF_CONTRACT_DAYS):
        out.append(
            anomaly(
                "00045",
                INVALID,
                "B",
                f"the contract ends more than {FUTURE_END_OF_CONTRACT_DAYS} days from now: declare it later",
                tag="end_of_contract_date",
                value=risk.end_of_contract_date,
                location=f"{where}/end_of_contract_date",
            )
        )
    if risk.last_day_worked is not None and risk.last_day_worked > risk.end_of_contract_date:
        out.append(
            anomaly(
                "00410",
                INCOMPATIBLE_PERIOD,
                "B",
                "the last day worked is after the end of the contract",
                tag="last_day_worked",
                value=risk.last_day_worked,
                location=f"{where}/last_day_worked",
            )
        )
    notice = risk.notice
    if notice is not None:
        if notice.end < notice.start:
            out.append(
                anomaly(
                    "01131",
                    END_BEFORE_START,
                    "B",
                    "the notice ends before it starts",
                    tag="notice.end",
                    value=notice.end,
                    location=f"{where}/notice/end",
                )
            )
        elif notice.worked and notice.end != risk.end_of_contract_date:
            out.append(
                anomaly(
                    "01131",
                    INCOMPATIBLE_PERIOD,
                    "W",
                    f"a notice worked out ends with the contract ({risk.end_of_contract_date}), "
                    f"not on {notice.end}",
                    tag="notice.end",
                    value=notice.end,
                    location=f"{where}/notice/end",
                )
            )
        if notice.worked and risk.indemnity is not None and risk.indemnity.weeks > 0:
            out.append(
                anomaly(
                    "01132",
                    INCOMPATIBLE_PERIOD,
                    "W",
                    "an indemnity in lieu of notice next to a notice worked out: to verify",
                    tag="indemnity",
                    location=f"{where}/indemnity",
                )
            )
    if risk.indemnity is not None and risk.indemnity.weeks == 0 and risk.indemnity.amount_cents > 0:
        out.append(
            anomaly(
                "01132",
                INVALID,
                "W",
                "an indemnity amount for zero weeks",
                tag="indemnity.weeks",
                value=0,
                location=f"{where}/indemnity/weeks",
            )
        )


def _wech005(risk: Wech005Risk, today: dt.date, out: list[Anomaly]) -> None:
    year, month = map(int, risk.month.split("-"))
    first = dt.date(year, month, 1)
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    if first > today:
        out.append(
            anomaly(
                "00178",
                INVALID,
                "B",
                f"the month {risk.month} has not begun: temporary unemployment is declared afterwards",
                tag="month",
                value=risk.month,
                location="risk/month",
            )
        )
    seen: set[tuple[dt.date, str]] = set()
    per_day: dict[dt.date, int] = {}
    for i, d in enumerate(risk.days):
        where = f"risk/days[{i}]"
        if not first <= d.day <= last:
            out.append(
                anomaly(
                    "00178",
                    INCOMPATIBLE_PERIOD,
                    "B",
                    f"{d.day} is not a day of {risk.month}",
                    tag="day",
                    value=d.day,
                    location=f"{where}/day",
                )
            )
        elif d.day > today:
            out.append(
                anomaly(
                    "00178",
                    INVALID,
                    "B",
                    f"{d.day} is still to come",
                    tag="day",
                    value=d.day,
                    location=f"{where}/day",
                )
            )
        if (d.day, d.reason) in seen:
            out.append(
                anomaly(
                    "00179",
                    "006",
                    "B",
                    f"{d.day} is declared twice with reason {d.reason}",
                    tag="reason",
                    value=d.reason,
                    location=f"{where}/reason",
                )
            )
        seen.add((d.day, d.reason))
        per_day[d.day] = per_day.get(d.day, 0) + d.hours
    for day, hours in sorted(per_day.items()):
        if hours > MAX_DAY_HOURS:
            out.append(
                anomaly(
                    "00180",
                    NOT_IN_DOMAIN,
                    "B",
                    f"{hours / 100:g} hours of temporary unemployment on {day}: more than a working day "
                    f"({MAX_DAY_HOURS / 100:g} h)",
                    tag="hours",
                    value=hours,
                    location="risk/days",
                )
            )


def _zima001(risk: Zima001Risk, today: dt.date, out: list[Anomaly]) -> None:
    announced = risk.kind in ("maternity", "prophylactic_leave", "birth_leave", "adoption_leave")
    if risk.incapacity_start > today and not announced:
        out.append(
            anomaly(
                "00408",
                INVALID,
                "B",
                f"the incapacity cannot start in the future ({risk.incapacity_start})",
                tag="incapacity_start",
                value=risk.incapacity_start,
                location="risk/incapacity_start",
            )
        )
    if risk.last_day_worked >= risk.incapacity_start:
        out.append(
            anomaly(
                "00410",
                INCOMPATIBLE_PERIOD,
                "B",
                "the last day worked must be before the start of the incapacity",
                tag="last_day_worked",
                value=risk.last_day_worked,
                location="risk/last_day_worked",
            )
        )
    elif (risk.incapacity_start - risk.last_day_worked).days > 31:
        out.append(
            anomaly(
                "00410",
                INCOMPATIBLE_PERIOD,
                "W",
                "more than a month between the last day worked and the incapacity: to verify",
                tag="last_day_worked",
                value=risk.last_day_worked,
                location="risk/last_day_worked",
            )
        )
    if risk.kind == "maternity" and risk.expected_delivery_date is None:
        out.append(
            anomaly(
                "00430",
                NOT_PRESENT,
                "B",
                "maternity rest needs the expected date of delivery",
                tag="expected_delivery_date",
                location="risk/expected_delivery_date",
            )
        )
    if risk.work_resumption is not None and risk.work_resumption <= risk.incapacity_start:
        out.append(
            anomaly(
                "00128",
                END_BEFORE_START,
                "B",
                "work is resumed before the incapacity starts",
                tag="work_resumption",
                value=risk.work_resumption,
                location="risk/work_resumption",
            )
        )


def _aoat001(risk: Aoat001Risk, today: dt.date, out: list[Anomaly]) -> None:
    if risk.accident_date > today:
        out.append(
            anomaly(
                "00237",
                INVALID,
                "B",
                f"the accident cannot be in the future ({risk.accident_date})",
                tag="accident_date",
                value=risk.accident_date,
                location="risk/accident_date",
            )
        )
    stopped = risk.activity_stopped_on
    if stopped is not None and stopped < risk.accident_date:
        out.append(
            anomaly(
                "00266",
                END_BEFORE_START,
                "B",
                "the activity stopped before the accident",
                tag="activity_stopped_on",
                value=stopped,
                location="risk/activity_stopped_on",
            )
        )
    if risk.consequences in ("temporary_incapacity", "permanent_incapacity") and stopped is None:
        out.append(
            anomaly(
                "00266",
                NOT_PRESENT,
                "W",
                "an incapacity without the day the activity stopped",
                tag="activity_stopped_on",
                location="risk/activity_stopped_on",
            )
        )


def risk_anomalies(parsed: Parsed, today: dt.date) -> list[Anomaly]:
    """The anomalies of the risk data on their own (dates, plausibility)."""
    out: list[Anomaly] = []
    risk = parsed.risk
    if isinstance(risk, Wech001Risk):
        _wech001(risk, today, out)
    elif isinstance(risk, Wech005Risk):
        _wech005(risk, today, out)
    elif isinstance(risk, Zima001Risk):
        _zima001(risk, today, out)
    else:
        assert isinstance(risk, Aoat001Risk)
        _aoat001(risk, today, out)
    return out


# ---------------------------------------------------------------------------------------- linking


def _quarter(day: dt.date) -> int:
    return day.year * 10 + (day.month - 1) // 3 + 1


def _quarter_bounds(code: int) -> tuple[dt.date, dt.date]:
    year, number = divmod(code, 10)
    start = dt.date(year, 3 * number - 2, 1)
    end = dt.date(year + 1, 1, 1) if number == 4 else dt.date(year, 3 * number + 1, 1)
    return start, end - dt.timedelta(days=1)


def dimona_periods(conn: Connection, *, employer_kbo: str, insz: str) -> list[Row[Any]]:
    """The worker's Dimona periods with the employer that were not cancelled, by start."""
    p = dimona_period_table.c
    return list(
        conn.execute(
            select(dimona_period_table)
            .where(p.employer_kbo == employer_kbo, p.insz == insz, p.cancelled.is_(False))
            .order_by(p.start, p.id)
        )
    )


def covering(periods: Sequence[Row[Any]], day: dt.date) -> Row[Any] | None:
    """The latest-starting period in force on ``day``."""
    found = [p for p in periods if p.start <= day and (p.end is None or p.end >= day)]
    return found[-1] if found else None


def worker_records(
    conn: Connection, *, employer_kbo: str, insz: str, up_to: int, quarters: int
) -> list[Row[Any]]:
    """The worker records of the employer's current DmfA versions for the last ``quarters`` quarters that
    have one, up to quarter ``up_to`` (YYYYQ), latest first."""
    w = dmfa_worker_record_table.c
    d = dmfa_declaration_table.c
    rows = list(
        conn.execute(
            select(dmfa_worker_record_table)
            .join(dmfa_declaration_table, d.id == w.dmfa_id)
            .where(
                and_(
                    w.employer_kbo == employer_kbo,
                    w.insz == insz,
                    w.quarter <= up_to,
                    d.superseded.is_(False),
                )
            )
            .order_by(w.quarter.desc(), w.id)
        )
    )
    wanted = sorted({r.quarter for r in rows}, reverse=True)[:quarters]
    return [r for r in rows if r.quarter in wanted]


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def occupation_at(tree: Mapping[str, Any], day: dt.date) -> Mapping[str, Any] | None:
    """The DmfA occupation of a worker record in force on ``day``, else the last one."""
    record = tree.get("WorkerRecord") or {}
    if isinstance(record, list):
        record = record[0] if record else {}
    occupations = [o for o in _items(record.get("Occupation")) if isinstance(o, Mapping)]
    for o in occupations:
        start, end = _day(o.get("OccupationStartingDate")), _day(o.get("OccupationEndingDate"))
        if start is not None and start <= day and (end is None or end >= day):
            return o
    return occupations[-1] if occupations else None


def occupation_link(period: Row[Any], occupation: Mapping[str, Any] | None) -> dict[str, Any]:
    """OccupationLink (FB 90068): the Dimona period, completed from the DmfA occupation when there is one."""
    o = occupation or {}
    retired = _int(o.get("Retired"))
    status = o.get("WorkerStatus")
    return {
        "dimona_period_id": period.id,
        "worker_type": period.worker_type,
        "start": period.start.isoformat(),
        "end": None if period.end is None else period.end.isoformat(),
        "joint_committee": str(o.get("JointCommissionNbr") or period.joint_committee)[:12],
        "working_days_system": _int(o.get("WorkingDaysSystem")),
        "mean_working_hours": _int(o.get("MeanWorkingHours")),
        "ref_mean_working_hours": _int(o.get("RefMeanWorkingHours")),
        "worker_status": None if status in (None, "") else str(status)[:2],
        "retired": None if retired is None else retired == 1,
        "apprentice_type": _int(o.get("ApprenticeType")),
        "contract_type": _int(o.get("ContractType")),
        "remun_method": _int(o.get("RemunMethod")),
    }


def wage_data(scenario: str, records: Sequence[Row[Any]]) -> dict[str, Any] | None:
    """The wage data of the reference period (the quarters of ``records``); None without records."""
    if not records:
        return None
    quarters = sorted({r.quarter for r in records})
    start, _ = _quarter_bounds(quarters[0])
    _, end = _quarter_bounds(quarters[-1])
    lines = [
        {
            "quarter": int(r.quarter),
            "worker_code": r.worker_code,
            "gross_cents": int(r.gross_cents),
            "days": int(r.days),
            "hours": int(r.hours),
        }
        for r in sorted(records, key=lambda r: (r.quarter, r.id))
    ]
    out: dict[str, Any] = {
        "reference_period": {"start": start.isoformat(), "end": end.isoformat()},
        "quarters": lines,
        "gross_cents": sum(x["gross_cents"] for x in lines),
        "days": sum(x["days"] for x in lines),
        "hours": sum(x["hours"] for x in lines),
    }
    if scenario in ("ZIMA001", "AOAT001"):
        last = [x for x in lines if x["quarter"] == quarters[-1]]
        gross = sum(x["gross_cents"] for x in last)
        hours = sum(x["hours"] for x in last)
        out["calculation_base_allowance"] = {
            "time_unit": 4,  # a month: the quarter's pay divided by three
            "cycle": None,
            "base_amount_cents": round(gross / 3),
            "hourly_amount_cents": round(gross * 100 / hours) if hours else None,
        }
    return out


def _regime_day_hours(occupation: Mapping[str, Any] | None) -> int | None:
    """The worker's hours on a working day (hundredths) from the DmfA occupation, when known."""
    if occupation is None:
        return None
    weekly, days = _int(occupation.get("MeanWorkingHours")), _int(occupation.get("WorkingDaysSystem"))
    if not weekly or not days:
        return None
    return round(weekly * 100 / days)


@dataclass
class Linked:
    """A declaration with what the RSZ holds linked in, and every anomaly found."""

    anomalies: list[Anomaly]
    employer: service.EmployerRef | None
    insz: str | None
    period: Row[Any] | None
    declaration: dict[str, Any] | None
    """The full declaration sent through the network (without ``declaration_id`` and ``proof``); None when
    refused."""


def _employer(conn: Connection, value: str, out: list[Anomaly]) -> service.EmployerRef | None:
    try:
        kind, number = service.employer_identifier(value)
    except InvalidIdentifier as exc:
        zone = "00014" if len("".join(c for c in value if c.isdigit())) == 10 else "00011"
        code = INVALID_CHECK_DIGIT if "check" in exc.reason.lower() else INVALID
        out.append(anomaly(zone, code, "B", f"employer: {exc.reason}", tag="employer", value=value))
        return None
    found = service.find_employer(conn, **{kind: number})
    if found is None:
        zone = "00014" if kind == "kbo" else "00011"
        out.append(
            anomaly(
                zone,
                EMPLOYER_NOT_IN_REPERTORY,
                "B",
                f"employer {number} is not in the repertory",
                tag="employer",
                value=number,
            )
        )
    return found


def _insz(value: str, out: list[Anomaly]) -> str | None:
    try:
        return validate_insz(value).number
    except InvalidIdentifier as exc:
        code = INVALID_CHECK_DIGIT if "check" in exc.reason.lower() else INVALID
        out.append(anomaly("00024", code, "B", f"INSZ: {exc.reason}", tag="insz", value=value))
        return None


def link(
    conn: Connection,
    parsed: Parsed,
    *,
    declarant: str,
    today: dt.date,
    now: dt.datetime,
    employer: service.EmployerRef | None = None,
) -> Linked:
    """Check the declaration and link in the employment and wage data the RSZ holds (see the module)."""
    out: list[Anomaly] = []
    if employer is None:
        employer = _employer(conn, parsed.employer, out)
    insz = _insz(parsed.insz, out)
    out.extend(risk_anomalies(parsed, today))
    if employer is None or insz is None:
        return Linked(out, employer, insz, None, None)

    periods = dimona_periods(conn, employer_kbo=employer.kbo, insz=insz)
    days = employed_on(parsed)
    covered = {day: covering(periods, day) for day in days}
    missing = [day for day, p in covered.items() if p is None]
    for day in missing:
        out.append(
            anomaly(
                "90068",
                INCOMPATIBLE_PERIOD,
                "B",
                f"no Dimona period of {employer.kbo} for this worker covers {day}",
                tag="OccupationLink",
                value=day,
            )
        )
    anchor = days[-1] if isinstance(parsed.risk, Wech005Risk) else days[0]
    period = covered.get(anchor) or next((p for p in covered.values() if p is not None), None)

    risk = parsed.risk
    up_to = _quarter(risk_date(parsed) - dt.timedelta(days=1))
    records = worker_records(
        conn, employer_kbo=employer.kbo, insz=insz, up_to=up_to, quarters=WAGE_QUARTERS[parsed.scenario]
    )
    if not records:
        out.append(
            anomaly(
                "90063",
                NOT_PRESENT,
                "W",
                "no DmfA declares this worker for the employer yet: declared without wage data",
                tag="WorkerRecordLink",
            )
        )
    latest = records[0] if records else None
    occupation = occupation_at(latest.tree, anchor) if latest is not None else None

    if isinstance(risk, Wech001Risk) and period is not None and period.end != risk.end_of_contract_date:
        ends = "is still open" if period.end is None else f"ends on {period.end}"
        out.append(
            anomaly(
                "00045",
                INCOMPATIBLE_PERIOD,
                "W",
                f"the Dimona period {period.id} {ends}, the contract on {risk.end_of_contract_date}: "
                "declare the Dimona Out",
                tag="end_of_contract_date",
                value=risk.end_of_contract_date,
                location="risk/end_of_contract_date",
            )
        )
    if isinstance(risk, Wech005Risk):
        regime = _regime_day_hours(occupation)
        if regime is not None:
            per_day: dict[dt.date, int] = {}
            for d in risk.days:
                per_day[d.day] = per_day.get(d.day, 0) + d.hours
            for day, hours in sorted(per_day.items()):
                if regime < hours <= MAX_DAY_HOURS:
                    out.append(
                        anomaly(
                            "00180",
                            TOO_MANY,
                            "W",
                            f"{hours / 100:g} hours on {day}: more than the worker's working day "
                            f"({regime / 100:g} h)",
                            tag="hours",
                            value=hours,
                            location="risk/days",
                        )
                    )

    if result_of(out) == "B" or period is None:
        return Linked(out, employer, insz, period, None)

    risk_json = risk.model_dump(mode="json")
    if isinstance(risk, Wech005Risk):
        risk_json["total_hours"] = sum(d.hours for d in risk.days)
    declaration = {
        "scenario": parsed.scenario,
        "risk_date": risk_date(parsed).isoformat(),
        "form": {
            "identification": parsed.scenario,
            "creation_date": now.date().isoformat(),
            "creation_hour": now.strftime("%H:%M:%S"),
            "attestation_status": 0,
            "declarant": declarant,
        },
        "employer_declaration_link": {
            "noss_registration_nbr": employer.rsz,
            "trusteeship": 0,
            "company_id": employer.kbo,
            "name": employer.name[:200],
        },
        "natural_person": {"insz": insz},
        "worker_record_link": None
        if latest is None
        else {
            "employer_class": latest.employer_class,
            "worker_code": latest.worker_code,
            "quarter": int(latest.quarter),
        },
        "occupation_link": occupation_link(period, occupation),
        "wage_data": wage_data(parsed.scenario, records),
        "risk": risk_json,
    }
    return Linked(out, employer, insz, period, declaration)


def hub_payload(declaration_id: int, insz: str, declaration: Mapping[str, Any]) -> dict[str, Any]:
    """The outbox payload: the message through the hub, the proof left for the delivery worker to fill."""
    return {
        "message_type": message_type(str(declaration["scenario"])),
        "version": "1",
        "insz": insz,
        "request": {"declaration_id": str(declaration_id), **declaration, "proof": None},
        "legal_context": LEGAL_CONTEXT,
    }


# ------------------------------------------------------------------------------------------ declaring


@dataclass(frozen=True, slots=True)
class Declared:
    id: int
    ticket: str
    result: str


def declare(
    conn: Connection,
    parsed: Parsed,
    *,
    declarant: str,
    today: dt.date,
    now: dt.datetime | None = None,
) -> tuple[Declared, Linked]:
    """Check, link, store and (when not refused) enqueue one declaration, in the caller's transaction.

    The mandate is checked first (:class:`DeclarationRefused` 403 ``NO_MANDATE``: nothing stored) when the
    employer is known; an unknown employer is a blocking anomaly of a stored, refused declaration.
    """
    now = now or service.utc_now()
    pre: list[Anomaly] = []
    employer = _employer(conn, parsed.employer, pre)
    if employer is not None:
        service.require_mandate(conn, declarant_kbo=declarant, employer_kbo=employer.kbo, on=today)
    linked = link(conn, parsed, declarant=declarant, today=today, now=now, employer=employer)
    linked.anomalies[:0] = pre
    result = result_of(linked.anomalies)
    ticket = service.open_submission(conn, channel="rest", form=parsed.scenario, declarant_kbo=declarant)
    body = {
        "employer": parsed.employer,
        "insz": parsed.insz,
        "risk": parsed.risk.model_dump(mode="json"),
        "declaration": linked.declaration,
    }
    declaration_id = service.store_declaration(
        conn,
        ticket=ticket,
        sequence=1,
        kind=parsed.scenario,
        declarant_kbo=declarant,
        employer_kbo=None if employer is None else employer.kbo,
        insz=linked.insz,
        result=result,
        anomalies=linked.anomalies,
        body=body,
        period_id=None if linked.period is None else linked.period.id,
        received_at=now,
    )
    if result != "B":
        assert linked.declaration is not None
        assert linked.insz is not None
        service.enqueue(
            conn,
            declaration_id=declaration_id,
            target="hub_message",
            key=f"drs:{declaration_id}",
            payload=hub_payload(declaration_id, linked.insz, linked.declaration),
        )
        service.set_delivery(
            conn,
            declaration_id=declaration_id,
            delivery={
                "state": "pending",
                "target": "hub_message",
                "message_type": message_type(parsed.scenario),
            },
        )
    service.close_submission(conn, ticket=ticket, declarations=1, refused=int(result == "B"))
    return Declared(declaration_id, ticket, result), linked


def declaration_view(row: Row[Any]) -> dict[str, Any]:
    """``GET /drs/{id}``: the declaration, its result, anomalies and delivery state."""
    body = dict(row.body or {})
    declaration = body.get("declaration")
    if isinstance(declaration, dict):
        declaration = {"declaration_id": str(row.id), **declaration}
    return {
        "id": row.id,
        "ticket": row.ticket,
        "scenario": row.kind,
        "employer": row.employer_kbo,
        "declarant": row.declarant_kbo,
        "insz": row.insz,
        "periodId": row.period_id,
        "receivedAt": row.received_at.isoformat(),
        "result": row.result,
        "anomalies": list(row.anomalies or []),
        "declaration": declaration,
        "delivery": row.delivery,
        "links": {"self": f"/drs/{row.id}"},
    }


def get_drs(conn: Connection, *, declaration_id: int, reader: str) -> dict[str, Any]:
    """A DRS as its declarant or its employer may read it; 404 otherwise (and for another kind)."""
    row = service.get_declaration(conn, declaration_id)
    if row is None or row.kind not in SCENARIOS or reader not in (row.declarant_kbo, row.employer_kbo):
        raise DeclarationRefused(404, "UNKNOWN_DECLARATION", f"no social-risk declaration {declaration_id}")
    return declaration_view(row)
