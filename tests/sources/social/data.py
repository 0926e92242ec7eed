"""Hand-made files of the social-source tests (not the simulation): a few people, every source.

Everything is relative to a fixed day, :data:`TODAY`, given to the sources as their clock.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from kruispunt.ids import make_insz

TODAY = date(2025, 6, 1)

RSZ = "0206731645"
RVA = "0206737484"
HAN = "0367303366"
FPD = "0206738078"
FEDRIS = "0206734318"
NIC = "0410337021"
POD_MI = "0865863174"
CM = "0411702543"
SOLIDARIS = "0411766483"
LIBERALE = "0411729366"
HZIV = "0206640286"
GENT = "0212140186"
ANTWERPEN = "0212059420"
INFINO = "0409900026"
FAMIWAL = "0250429254"
PARENTIA = "0266493345"

P1 = make_insz(date(1980, 3, 13), 24)
P2 = make_insz(date(1975, 11, 2), 111)
P3 = make_insz(date(1955, 1, 30), 37)
P4 = make_insz(date(1990, 7, 7), 201)
P5 = make_insz(date(2001, 2, 14), 302)
NOBODY = make_insz(date(1966, 6, 6), 66)

WANTED = {"population.persons": "5", "population.seed": "1", "test": "hand-made"}


def row(
    insz: str,
    source: str,
    kind: str,
    member: str,
    capacity: int,
    start: str,
    end: str | None,
    **attrs: Any,
) -> dict[str, Any]:
    return {
        "insz": insz,
        "source": source,
        "kind": kind,
        "member": member,
        "capacity": capacity,
        "start": start,
        "end": end,
        "attrs": attrs,
    }


DIMONA = {"employer_rsz": "010001863", "worker_type": "OTH", "joint_committee": "124"}

ROWS: list[dict[str, Any]] = [
    # RSZ: two jobs of P1 (one closed, one open) and a DmfA quarter, inserted out of order
    row(P1, "rsz", "dimona_period", RSZ, 30, "2021-01-01", None, employer_kbo="0870002007",
        employer_name="Bouw NV", dimona_id="100000000001", **DIMONA),
    row(P1, "rsz", "dimona_period", RSZ, 30, "2018-01-01", "2020-06-30", employer_kbo="0870006955",
        employer_name="Horeca BV", dimona_id="100000000002", **DIMONA),
    row(P1, "rsz", "dmfa_quarter", RSZ, 10, "2024-01-01", "2024-03-31", employer_kbo="0870002007",
        quarter="2024-1", worker_code="015", gross_cents=812_345, days=6500, hours=49400),
    # RVA: P1 is temporarily unemployed now; P2 was unemployed and is on a career break
    row(P1, "rva", "temporary_unemployment", RVA, 1, "2025-05-01", None, reason="economic",
        employer_kbo="0870002007", payment_body="HVW"),
    row(P2, "rva", "unemployment", RVA, 1, "2023-01-01", "2023-12-31", category="single",
        daily_amount_cents=6_512, payment_body="ACV"),
    row(P2, "rva", "career_break", RVA, 2, "2024-09-01", "2025-08-31", scheme="time_credit",
        fraction="one_fifth"),
    # NIC members: P1 at CM, P2 at Solidaris, P4 moved from CM to Liberale, P5 only at Liberale
    row(P1, "nic", "health_insurance", CM, 1, "2015-01-01", None, role="holder", holder_insz=None,
        title="worker"),
    row(P1, "nic", "increased_reimbursement", CM, 1, "2020-01-01", None, basis="income", role="holder"),
    row(P2, "nic", "health_insurance", SOLIDARIS, 1, "2015-01-01", None, role="holder", holder_insz=None,
        title="worker"),
    row(P2, "nic", "work_incapacity", SOLIDARIS, 2, "2024-02-01", None, type="invalidity",
        degree_percent=66),
    row(P4, "nic", "health_insurance", CM, 1, "2015-01-01", "2022-12-31", role="holder",
        holder_insz=None, title="worker"),
    row(P4, "nic", "health_insurance", LIBERALE, 1, "2023-01-01", None, role="holder",
        holder_insz=None, title="worker"),
    row(P5, "nic", "health_insurance", LIBERALE, 1, "2019-01-01", None, role="dependant",
        holder_insz=P4, title="child"),
    # OCMW Gent: leefloon for P3
    row(P3, "ocmw", "leefloon", GENT, 2, "2023-06-01", None, category="single",
        monthly_amount_cents=131_420),
    # child benefit: P1 receives for P5 at Infino now, earlier at Parentia
    row(P1, "child_benefit", "allowance_recipient", PARENTIA, 102, "2016-01-01", "2019-12-31",
        child_insz=P5),
    row(P1, "child_benefit", "allowance_recipient", INFINO, 102, "2020-01-01", None, child_insz=P5),
    row(P5, "child_benefit", "entitling_child", INFINO, 104, "2020-01-01", None,
        allowance_recipient_insz=P1, region="VL", monthly_amount_cents=17_300),
    # DG HAN, FPD, FEDRIS
    row(P3, "han", "integration_allowance", HAN, 5, "2019-01-01", None, category="2",
        monthly_amount_cents=45_000),
    row(P3, "han", "medical_recognition", HAN, 3, "2019-01-01", None, points=9,
        earning_capacity_reduced=True),
    row(P3, "fpd", "pension", FPD, 100, "2020-02-01", None, scheme="employee", type="retirement",
        monthly_amount_cents=154_000),
    row(P3, "fpd", "igo", FPD, 30, "2021-01-01", "2021-12-31", monthly_amount_cents=20_000,
        cohabiting=False),
    row(P1, "fedris", "work_accident", FEDRIS, 10, "2022-03-04", "2022-06-30", accident_date="2022-03-04",
        employer_kbo="0870002007", incapacity_percent=5, consolidated=True),
    # not served by anyone: skipped and counted
    row(P1, "elsewhere", "mystery", RSZ, 1, "2020-01-01", None),
]  # fmt: skip
