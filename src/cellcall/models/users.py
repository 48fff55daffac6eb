"""People who log in, and the stations they work at."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ui_language: str = Field(default="fr", max_length=8)
    password_hash: str
    must_change_password: bool = True
    failed_attempts: int = 0
    lockouts: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserCreate(BaseModel):
    login: str
    display_name: str
    role: Role
    languages: list[str] = ["fr"]
    ui_language: str = "fr"


class Station(SQLModel, table=True):
    __tablename__ = "stations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    desk_phone_uri: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StationCreate(BaseModel):
    name: str
    desk_phone_uri: str | None = None
