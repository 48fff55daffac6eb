"""SQLModel tables, one module per aggregate. Importing this package registers them all."""

from cellcall.models.audit import AuditEvent
from cellcall.models.calls import (
    Appointment,
    AttemptState,
    Callback,
    CallbackStatus,
    CallAttempt,
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
    "Appointment", "AttemptState", "AuditEvent", "Audience", "CallAttempt", "Callback",
    "CallbackStatus", "Campaign", "CampaignCreate", "CampaignStatus", "CampaignType",
    "Client", "Contact", "ContactStatus", "DialingMode", "DoNotCallEntry", "DoNotCallImport",
    "Outcome", "PauseReason", "Role", "Station", "StationCreate", "SurveyAnswer", "TimeEntry",
    "TimeEntryKind", "User", "UserCreate", "VerificationCorrection",
]
