"""The people a campaign calls."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class ContactStatus(StrEnum):
    NEW = "new"            # never called
    PENDING = "pending"    # called, will be called again
    CLAIMED = "claimed"    # leased to an operator right now
    DONE = "done"          # a final outcome was recorded
    DO_NOT_CALL = "dnc"    # must never be called


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone_e164", name="uq_contacts_campaign_phone"),
        # The queue names this index (INDEXED BY): language is in it so that an operator who
        # speaks only a rare language does not scan the campaign.
        Index("ix_contacts_queue", "campaign_id", "status", "language", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id")
    external_ref: str | None = Field(default=None, max_length=200)
    first_name: str = Field(default="", max_length=200)
    last_name: str = Field(default="", max_length=200)
    company: str = Field(default="", max_length=200)
    # Kept apart from the custom fields: the security office excludes postal-code areas.
    postal_code: str = Field(default="", max_length=16)
    phone_e164: str = Field(max_length=20, index=True)
    time_zones: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    language: str = Field(default="fr", max_length=8)
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Prior consent to prospecting (France, loi 2025-594): when, where, what was agreed.
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consent_source: str | None = Field(default=None, max_length=200)
    consent_wording: str | None = None
    has_contract: bool = False
    status: str = Field(default=ContactStatus.NEW, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_user_id: int | None = Field(default=None, foreign_key="users.id")
    lease_station_id: int | None = Field(default=None, foreign_key="stations.id")
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Simulated-line behaviour for demo contacts (answer, busy, no_answer, hangup).
    demo_behaviour: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DoNotCallEntry(SQLModel, table=True):
    __tablename__ = "dnc_entries"
    __table_args__ = (UniqueConstraint("phone_e164", "source", name="uq_dnc_phone_source"),)

    id: int | None = Field(default=None, primary_key=True)
    phone_e164: str = Field(max_length=20, index=True)
    source: str = Field(max_length=100)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DoNotCallImport(SQLModel, table=True):
    """One import of a do-not-call list; national lists go stale (Belgium: 5 days)."""

    __tablename__ = "dnc_imports"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100, index=True)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    rows_read: int = 0
    rows_added: int = 0
