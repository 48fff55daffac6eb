"""Worked time and pauses, for pay."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class TimeEntryKind(StrEnum):
    WORK = "work"
    PAUSE = "pause"


class PauseReason(StrEnum):
    BREAK = "break"
    MEAL = "meal"
    TRAINING = "training"
    TECHNICAL = "technical"


class TimeEntry(SQLModel, table=True):
    __tablename__ = "time_entries"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    station_id: int | None = Field(default=None, foreign_key="stations.id")
    kind: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=16)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
