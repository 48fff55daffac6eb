"""Per-operator exclusions kept by the prison's security office.

Before a contact is given to an operator the queue checks it against that operator's
list; a match sends the contact to someone else. Operators never read this table.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from cellcall.models.base import UTCDateTime, utcnow


class ExclusionKind(StrEnum):
    PERSON = "person"            # a named person (first and last name, normalised)
    POSTAL_CODE = "postal_code"  # a postal-code area: a code or its prefix ("75", "97110")
    NUMBER = "number"            # an E.164 number


class OperatorExclusion(SQLModel, table=True):
    __tablename__ = "operator_exclusions"
    __table_args__ = (
        UniqueConstraint("operator_id", "kind", "value", name="uq_operator_exclusion"),
    )

    id: int | None = Field(default=None, primary_key=True)
    operator_id: int = Field(foreign_key="users.id", index=True)
    kind: str = Field(max_length=16)
    # Normalised for matching: casefolded name without accents, postal code, or E.164.
    value: str = Field(max_length=200)
    note: str = ""
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
