"""Client companies and the campaigns they hand the workshop."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class CampaignType(StrEnum):
    APPOINTMENT = "appointment"
    SURVEY = "survey"
    VERIFICATION = "verification"
    PROSPECTING = "prospecting"
    LOYALTY = "loyalty"
    AFTER_SALES = "after-sales"


class Audience(StrEnum):
    CONSUMER = "consumer"
    BUSINESS = "business"


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSED = "closed"


class DialingMode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"


DEFAULT_DISPOSITIONS: list[str] = [
    "appointment_set", "callback", "not_interested", "wrong_number", "no_answer",
    "busy", "answering_machine", "do_not_call", "language_barrier", "completed",
]

DEFAULT_RETRY_RULES: dict[str, int] = {
    # disposition -> minutes before the next attempt
    "no_answer": 120,
    "busy": 15,
    "answering_machine": 240,
    "technical_failure": 5,
}

DEFAULT_WORKING_HOURS: dict[str, Any] = {
    "days": [0, 1, 2, 3, 4],  # Monday=0
    "ranges": [["09:00", "20:00"]],
}


class Client(SQLModel, table=True):
    __tablename__ = "clients"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=200)
    client_id: int = Field(foreign_key="clients.id", index=True)
    type: str = Field(max_length=32)
    audience: str = Field(max_length=16)
    country: str = Field(max_length=2)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    script_path: str | None = Field(default=None, max_length=500)
    dispositions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DISPOSITIONS), sa_column=Column(JSON, nullable=False))
    retry_rules: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_RETRY_RULES), sa_column=Column(JSON, nullable=False))
    max_attempts: int = 4
    working_hours: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_WORKING_HOURS),
        sa_column=Column(JSON, nullable=False))
    dialing_mode: str = Field(default=DialingMode.PREVIEW, max_length=16)
    priority: int = 0
    # Demo campaigns ignore hours and holidays so a newcomer can try them at any time.
    ignore_calling_hours: bool = False
    status: str = Field(default=CampaignStatus.ACTIVE, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CampaignCreate(BaseModel):
    slug: str
    client_name: str
    type: CampaignType
    audience: Audience
    country: str
    languages: list[str] = ["fr"]
    script_path: str | None = None
    name: str | None = None
