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
from cellcall.models.exclusions import ExclusionKind, OperatorExclusion
from cellcall.models.floor import (
    MonitorMode,
    MonitorSession,
    PauseRequest,
    PauseRequestStatus,
    SiteStop,
    StationAssignment,
    StationCommand,
    StationCommandKind,
    StationPresence,
)
from cellcall.models.quality import CallScore, CoachingNote, ScorecardCriterion, TrainingRecord
from cellcall.models.timeclock import PauseReason, TimeEntry, TimeEntryKind
from cellcall.models.users import Role, Station, StationCreate, User, UserCreate

__all__ = [
    "Appointment",
    "AttemptState",
    "Audience",
    "AuditEvent",
    "CallAttempt",
    "CallScore",
    "Callback",
    "CallbackStatus",
    "Campaign",
    "CampaignCreate",
    "CampaignStatus",
    "CampaignType",
    "Client",
    "CoachingNote",
    "Contact",
    "ContactStatus",
    "DialingMode",
    "DoNotCallEntry",
    "DoNotCallImport",
    "ExclusionKind",
    "MonitorMode",
    "MonitorSession",
    "OperatorExclusion",
    "Outcome",
    "PauseReason",
    "PauseRequest",
    "PauseRequestStatus",
    "Role",
    "ScorecardCriterion",
    "SiteStop",
    "Station",
    "StationAssignment",
    "StationCommand",
    "StationCommandKind",
    "StationCreate",
    "StationPresence",
    "SurveyAnswer",
    "TimeEntry",
    "TimeEntryKind",
    "TrainingRecord",
    "User",
    "UserCreate",
    "VerificationCorrection",
]
