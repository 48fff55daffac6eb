"""Quality and training: call scorecards, the professional title's modules, coaching notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class ScorecardCriterion(SQLModel, table=True):
    """One criterion of a campaign's scorecard; a campaign without any uses the defaults."""

    __tablename__ = "scorecard_criteria"
    __table_args__ = (UniqueConstraint("campaign_id", "key", name="uq_scorecard_criterion"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    key: str = Field(max_length=64)
    label: str = Field(max_length=200)
    max_points: int = 4
    position: int = 0


class CallScore(SQLModel, table=True):
    __tablename__ = "call_scores"

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="call_attempts.id", index=True)
    operator_id: int = Field(foreign_key="users.id", index=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    supervisor_id: int = Field(foreign_key="users.id")
    # criterion key -> points, and criterion key -> the supervisor's comment
    points: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    comments: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False))
    comment: str = ""
    percent: float = 0.0
    scored_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TrainingRecord(SQLModel, table=True):
    """One module of the professional title for one operator."""

    __tablename__ = "training_records"
    __table_args__ = (UniqueConstraint("operator_id", "module_code", name="uq_training_module"),)

    id: int | None = Field(default=None, primary_key=True)
    operator_id: int = Field(foreign_key="users.id", index=True)
    module_code: str = Field(max_length=32)
    planned_hours: float = 0.0
    done_hours: float = 0.0
    signed_off_by: int | None = Field(default=None, foreign_key="users.id")
    signed_off_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CoachingNote(SQLModel, table=True):
    """Written by a supervisor; read by that operator only, on their own screen."""

    __tablename__ = "coaching_notes"

    id: int | None = Field(default=None, primary_key=True)
    operator_id: int = Field(foreign_key="users.id", index=True)
    supervisor_id: int = Field(foreign_key="users.id")
    attempt_id: int | None = Field(default=None, foreign_key="call_attempts.id")
    text: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
