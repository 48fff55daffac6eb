"""What happens on a call: the attempt, its outcome and what the outcome records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class AttemptState(StrEnum):
    CLAIMED = "claimed"
    DIALING = "dialing"
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"
    INTERRUPTED = "interrupted"  # closed at start-up after a dead process left it open


class CallAttempt(SQLModel, table=True):
    __tablename__ = "call_attempts"
    # The supervisor's floor reads the day's attempts many times a second: a covering
    # index on the claim time answers its per-operator and per-hour figures alone.
    __table_args__ = (Index("ix_call_attempts_day", "claimed_at", "campaign_id", "operator_id",
                            "dialed_at", "answered_at", "ended_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    operator_id: int = Field(foreign_key="users.id", index=True)
    station_id: int | None = Field(default=None, foreign_key="stations.id")
    # The number dialled, copied at claim time: the engine reads it from here by id.
    phone_e164: str = Field(max_length=20, index=True)
    state: str = Field(default=AttemptState.CLAIMED, max_length=16)
    claimed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    dialed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sip_status: int | None = None
    result: str | None = Field(default=None, max_length=32)
    # Technical failures do not count against the callee's frequency caps.
    counts_against_caps: bool = True
    recording_path: str | None = Field(default=None, max_length=500)
    recording_seconds: float | None = None


class Outcome(SQLModel, table=True):
    __tablename__ = "outcomes"

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="call_attempts.id", unique=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    operator_id: int = Field(foreign_key="users.id", index=True)
    disposition: str = Field(max_length=32, index=True)
    notes: str = ""
    script_path: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    wrapup_seconds: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class Callback(SQLModel, table=True):
    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_queue", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    outcome_id: int | None = Field(default=None, foreign_key="outcomes.id")
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # A personal callback goes only to this operator; None means anyone.
    personal_operator_id: int | None = Field(default=None, foreign_key="users.id")
    status: str = Field(default=CallbackStatus.PENDING, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Appointment(SQLModel, table=True):
    __tablename__ = "appointments"
    # One appointment per slot and campaign: never double-booked.
    __table_args__ = (UniqueConstraint("campaign_id", "slot_start", name="uq_appointment_slot"),
                      # Appointments booked today, on the floor.
                      Index("ix_appointments_created_at", "created_at"))

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id")
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    outcome_id: int = Field(foreign_key="outcomes.id")
    slot_start: datetime = Field(sa_type=UTCDateTime)
    slot_end: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SurveyAnswer(SQLModel, table=True):
    __tablename__ = "survey_answers"

    id: int | None = Field(default=None, primary_key=True)
    outcome_id: int = Field(foreign_key="outcomes.id", index=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    question_key: str = Field(max_length=100)
    answer: Any = Field(default=None, sa_column=Column(JSON))


class VerificationCorrection(SQLModel, table=True):
    __tablename__ = "verification_corrections"

    id: int | None = Field(default=None, primary_key=True)
    outcome_id: int = Field(foreign_key="outcomes.id", index=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    field_name: str = Field(max_length=100)
    original_value: str = ""
    corrected_value: str = ""
