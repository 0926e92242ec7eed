"""Pydantic ``Annotated`` types for other packages' wire schemas."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from kruispunt.ids import EnterpriseNumber, EstablishmentNumber, IdCheck, Insz


class _Wire(BaseModel):
    insz: Insz
    enterprise: EnterpriseNumber
    unit: EstablishmentNumber | None = None


def test_normalises() -> None:
    wire = _Wire(insz="85.07.30-033.28", enterprise="BE 403.019.261", unit="2.000.021.323")
    assert (wire.insz, wire.enterprise, wire.unit) == ("85073003328", "0403019261", "2000021323")


def test_rejects_with_reason() -> None:
    with pytest.raises(ValidationError) as exc:
        _Wire(insz="12345678901", enterprise="0431150351")
    messages = " ".join(str(e["msg"]) for e in exc.value.errors())
    assert "INSZ check digits 01 are wrong" in messages
    assert "enterprise number check digits 51 are wrong" in messages


def test_idcheck_field_order_and_json() -> None:
    result = IdCheck(valid=False, kind=None, birth_date=None, sex=None, reason="x")
    assert list(result.model_dump()) == ["valid", "kind", "birth_date", "sex", "reason"]
    with pytest.raises(ValidationError):
        IdCheck(valid=True, kind="passport", birth_date=None, sex=None, reason=None)
