"""Pydantic models of the CDS Hooks 2.0 messages this service reads and writes (patient-view only).

Requests allow extra fields (the spec lets EHRs add extensions); responses are exactly what we send.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adapter.render.card_model import Card, Link, Source

__all__ = ["Card", "CdsRequest", "CdsResponse", "CdsService", "Discovery", "Feedback", "FeedbackItem", "Link", "Source"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FhirAuthorization(_Open):
    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None


class PatientViewContext(_Open):
    patientId: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")  # a FHIR id
    userId: str | None = None
    encounterId: str | None = None


class CdsRequest(_Open):
    hook: str
    hookInstance: str = Field(min_length=1, max_length=256)
    context: PatientViewContext
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    prefetch: dict[str, Any] | None = None


class CdsResponse(BaseModel):
    cards: list[Card]
    systemActions: list[dict[str, Any]] = []


class CdsService(BaseModel):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]
    usageRequirements: str | None = None


class Discovery(BaseModel):
    services: list[CdsService]


class FeedbackItem(_Open):
    card: str = Field(min_length=1, max_length=256)
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: str
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: dict[str, Any] | None = None


class Feedback(_Open):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)
