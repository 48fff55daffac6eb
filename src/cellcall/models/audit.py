"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    # AUTOINCREMENT keeps the highest id ever used, so a deleted tail is visible too.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=200)
    # Canonical JSON (sorted keys), hashed exactly as stored.
    details: str = "{}"
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
