"""What the supervisor's floor reads and the site's controls: presence, commands, stops.

Stations write their own ``station_presence`` row (state changes and a heartbeat); the
floor only reads. Supervisors act on a station through ``station_commands`` rows that the
station polls with its heartbeat, so no process ever reaches into another.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class StationPresence(SQLModel, table=True):
    """One row per station, written by the station's own process."""

    __tablename__ = "station_presence"

    station_id: int = Field(foreign_key="stations.id", primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    # A StationState value (services.workstation); "logged_out" when nobody is there.
    state: str = Field(default="logged_out", max_length=16)
    state_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    pause_reason: str | None = Field(default=None, max_length=16)
    campaign_id: int | None = Field(default=None, foreign_key="campaigns.id")
    attempt_id: int | None = Field(default=None, foreign_key="call_attempts.id")
    phone_up: bool = False
    # Where a supervisor's engine reaches this station's engine for a monitor call
    # (a loopback SIP URI); empty when the station has no engine running.
    monitor_uri: str = Field(default="", max_length=255)
    session_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StationAssignment(SQLModel, table=True):
    """An operator may log in only at the stations they are assigned to."""

    __tablename__ = "station_assignments"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    station_id: int = Field(foreign_key="stations.id", primary_key=True)
    assigned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StationCommandKind(StrEnum):
    FORCE_LOGOUT = "force_logout"
    PAUSE_DECISION = "pause_decision"


class StationCommand(SQLModel, table=True):
    """A supervisor's order to one station, carried out by that station's own process."""

    __tablename__ = "station_commands"
    __table_args__ = (Index("ix_station_commands_pending", "station_id", "done_at"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="stations.id")
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    issued_by: int = Field(foreign_key="users.id")
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PauseRequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    CANCELLED = "cancelled"


class PauseRequest(SQLModel, table=True):
    __tablename__ = "pause_requests"
    __table_args__ = (Index("ix_pause_requests_status", "status", "requested_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    station_id: int | None = Field(default=None, foreign_key="stations.id")
    reason: str = Field(max_length=16)
    status: str = Field(default=PauseRequestStatus.PENDING, max_length=16)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SiteStop(SQLModel, table=True):
    """While a row has no ``lifted_at``, every call ends and nothing dials anywhere."""

    __tablename__ = "site_stops"

    id: int | None = Field(default=None, primary_key=True)
    reason: str
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_by: str = Field(max_length=64)
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    lifted_by: str | None = Field(default=None, max_length=64)


class MonitorMode(StrEnum):
    LISTEN = "listen"    # the supervisor hears both sides
    WHISPER = "whisper"  # and the operator hears the supervisor; the callee never does
    BARGE = "barge"      # all three hear each other


class MonitorSession(SQLModel, table=True):
    __tablename__ = "monitor_sessions"

    id: int | None = Field(default=None, primary_key=True)
    supervisor_id: int = Field(foreign_key="users.id", index=True)
    station_id: int = Field(foreign_key="stations.id", index=True)
    attempt_id: int | None = Field(default=None, foreign_key="call_attempts.id")
    mode: str = Field(max_length=16)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
