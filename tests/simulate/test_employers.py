"""Synthetic employers: valid, unique KBO and RSZ numbers, plausible names, Zipf-like sizes, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from kruispunt.ids import is_valid_enterprise_number, is_valid_rsz_employer_number, validate_rsz_number
from kruispunt.simulate.employers import JOINT_COMMITTEES, EmployerTable, generate_employers
from kruispunt.simulate.geo import geography

SEED = 20261128

# KBO numbers of the demo network's institutions: employers must never collide with them.
DEMO_KBOS = {
    "0244640631",
    "0362475538",
    "0206731645",
    "0206737484",
    "0410337021",
    "0367303366",
    "0206738078",
    "0865863174",
    "0212140186",
    "0212059420",
    "0207184377",
    "0411702543",
    "0411766483",
    "0411729366",
    "0206640286",
    "0409900026",
    "0250429254",
    "0266493345",
    "0206734318",
}


@pytest.fixture(scope="module")
def employers() -> EmployerTable:
    return generate_employers(SEED, 20_000)


def test_columns(employers: EmployerTable) -> None:
    assert len(employers) == 20_000
    assert employers.kbo.dtype == np.dtype("U10")
    assert employers.rsz.dtype == np.dtype("U9")
    assert employers.nis_code.dtype == np.int32
    assert employers.size.dtype == np.float64
    for column in ("kbo", "rsz", "name", "joint_committee", "nis_code", "size"):
        assert len(getattr(employers, column)) == 20_000


def test_kbo_valid_unique_and_apart_from_the_demo_institutions(employers: EmployerTable) -> None:
    kbos = employers.kbo.tolist()
    assert len(set(kbos)) == len(kbos)
    assert all(is_valid_enterprise_number(k) for k in kbos)
    assert all(k.startswith("0") for k in kbos)
    assert not DEMO_KBOS & set(kbos)
    assert min(kbos) >= "0870000000"


def test_rsz_valid_and_unique(employers: EmployerTable) -> None:
    numbers = employers.rsz.tolist()
    assert len(set(numbers)) == len(numbers)
    assert all(is_valid_rsz_employer_number(r) and validate_rsz_number(r) == r for r in numbers)


def test_names_joint_committees_and_municipalities(employers: EmployerTable) -> None:
    names = employers.name.tolist()
    forms = {"BV", "NV", "CommV", "CV", "SRL", "SA", "SComm", "SC", "GmbH", "AG", "KG", "Gen"}
    forms |= {"VZW", "ASBL", "VoG"}
    assert all(isinstance(n, str) and n.split()[-1] in forms for n in names)
    assert all(len(n.split()) >= 3 for n in names)
    assert len(set(names)) > 10_000
    assert set(employers.joint_committee.tolist()) <= set(JOINT_COMMITTEES)
    committees, counts = np.unique(employers.joint_committee, return_counts=True)
    top = committees[np.argmax(counts)]
    assert top == "200"  # the auxiliary committee for white-collar workers is the largest
    assert set(employers.nis_code.tolist()) <= set(geography().nis_code.tolist())
    nonprofit = np.isin(employers.joint_committee, ["330", "152", "319"])
    legal_form = np.array([n.split()[-1] for n in names])
    assert np.all(np.isin(legal_form[nonprofit], ["VZW", "ASBL", "VoG"]))


def test_sizes_are_zipf_like(employers: EmployerTable) -> None:
    size = np.sort(employers.size)[::-1]
    assert np.all(size >= 0.5)
    assert np.median(size) <= 3
    top = size[: len(size) // 100].sum() / size.sum()
    assert top > 0.25  # the biggest 1 % of employers carry a large share of the jobs
    assert size[0] >= 1_000


def test_deterministic_and_seed_dependent(employers: EmployerTable) -> None:
    again = generate_employers(SEED, 20_000)
    for column in ("kbo", "rsz", "name", "joint_committee", "nis_code", "size"):
        assert np.array_equal(getattr(employers, column), getattr(again, column))
    other = generate_employers(SEED + 1, 20_000)
    assert not np.array_equal(employers.name, other.name)


def test_small_and_empty_tables() -> None:
    assert len(generate_employers(SEED, 0)) == 0
    one = generate_employers(SEED, 1)
    assert next(one.records())["kbo"] == one.kbo[0]
    with pytest.raises(ValueError, match="count"):
        generate_employers(SEED, -1)


def test_half_a_million_stay_valid() -> None:
    table = generate_employers(SEED, 500_000)
    assert len(np.unique(table.kbo)) == 500_000
    assert len(np.unique(table.rsz)) == 500_000
    assert is_valid_enterprise_number(table.kbo[-1])
    assert table.kbo[-1].startswith("09")
    assert all(is_valid_rsz_employer_number(r) for r in table.rsz[-1000:].tolist())
