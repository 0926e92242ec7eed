"""Wire formats of the hub's REST/JSON channel: the CBSS new-style header (CommonV3) in JSON.

Names follow CommonV3.xsd (``informationCustomer``, ``informationCBSS``, ``legalContext``, ``ticketCBSS``,
``status``, ``dataFilters``) so that a partner who knows the SOAP contracts recognises the JSON ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OrganizationIdentification(_Strict):
    """CommonV3 ``OrganizationIdentificationType``: a CBE (KBO) number, or (sector, institution type)."""

    cbeNumber: str | None = Field(default=None, pattern=r"^\d{10}$")
    sector: int | None = Field(default=None, ge=0, le=999)
    institution: int | None = Field(default=None, ge=0, le=999)

    @model_validator(mode="after")
    def _choice(self) -> OrganizationIdentification:
        if self.cbeNumber is None and self.sector is None:
            raise ValueError("give either cbeNumber or sector (+ institution)")
        if self.cbeNumber is not None and self.sector is not None:
            raise ValueError("give either cbeNumber or sector (+ institution), not both")
        return self


class InformationCustomer(_Strict):
    ticket: str = Field(min_length=1, max_length=36, description="The customer's own reference.")
    timestampSent: datetime
    customerIdentification: OrganizationIdentification
    userId: str | None = Field(
        default=None,
        max_length=64,
        description="The user (INSZ) or application id that sends the message, kept in the log.",
    )


class MessageTypeRef(_Strict):
    name: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=16)


class ConsultationRequest(_Strict):
    """A consultation sent to the hub."""

    informationCustomer: InformationCustomer
    legalContext: str = Field(min_length=1, max_length=64)
    messageType: MessageTypeRef
    ssin: str | None = Field(
        default=None, max_length=32, description="The person's INSZ (optional for a search)."
    )
    request: dict[str, Any] = Field(default_factory=dict, description="The message type's body.")


class InformationCBSS(BaseModel):
    ticketCBSS: str
    timestampReceive: datetime
    timestampReply: datetime


class Status(BaseModel):
    value: Literal["DATA_FOUND", "NO_DATA_FOUND", "NO_RESULT"]
    code: str
    description: str


class FaultDetail(BaseModel):
    severity: Literal["INFORMATION", "WARNING", "FATAL"]
    reasonCode: str
    diagnostic: str
    authorCode: str = "KRUISPUNT-HUB"


class DataFilters(BaseModel):
    filteredElement: list[str]


class ConsultationReply(BaseModel):
    """The hub's answer: the request header echoed, the CBSS block, status or fault, the filtered data."""

    informationCustomer: dict[str, Any] | None
    informationCBSS: InformationCBSS
    legalContext: str | None
    messageType: MessageTypeRef | None
    ssin: str | None
    status: Status | None = None
    deliberation: str | None = None
    data: dict[str, Any] | None = None
    dataFilters: DataFilters | None = None
    warnings: list[FaultDetail] = Field(default_factory=list)
    fault: list[FaultDetail] | None = None
