"""SQLModel tables, one module per aggregate. Importing this package registers them all."""

from cellcall.models.audit import AuditEvent
from cellcall.models.calls import (
    Appointment,
    AttemptState,
    CallAttempt,
    Callback,
    CallbackStatus,
    Outcome,
    SurveyAnswer,
    VerificationCorrection,
)
from cellcall.models.campaigns import (
    Audience,
    Campaign,
    CampaignCreate,
    CampaignStatus,
    CampaignType,
    Client,
    DialingMode,
)
from cellcall.models.contacts import Contact, ContactStatus, DoNotCallEntry, DoNotCallImport
from cellcall.models.timeclock import PauseReason, TimeEntry, TimeEntryKind
from cellcall.models.users import Role, Station, StationCreate, User, UserCreate

__all__ = [
    "Appointment",
    "AttemptState",
    "Audience",
    "AuditEvent",
    "CallAttempt",
    "Callback",
    "CallbackStatus",
    "Campaign",
    "CampaignCreate",
    "CampaignStatus",
    "CampaignType",
    "Client",
    "Contact",
    "ContactStatus",
    "DialingMode",
    "DoNotCallEntry",
    "DoNotCallImport",
    "Outcome",
    "PauseReason",
    "Role",
    "Station",
    "StationCreate",
    "SurveyAnswer",
    "TimeEntry",
    "TimeEntryKind",
    "User",
    "UserCreate",
    "VerificationCorrection",
]
