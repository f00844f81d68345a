"""dsr's data model, split by concept once it outgrew one file (design.md)."""

from dsr.models.api import ApiToken
from dsr.models.audit import Event
from dsr.models.cases import (
    Case,
    CaseDeadline,
    CaseState,
    Channel,
    FiledBy,
    OutboundMessage,
    Outcome,
    RegimeDefinition,
)
from dsr.models.exports import ExportPackage, PackageState
from dsr.models.portal import CaseMessage, PortalFiling, PortalPass, RateCounter, SigninRequest
from dsr.models.register import CategoryPolicy, DataCategory, LegalBasis, ProcessingActivity, Recipient
from dsr.models.reports import CcpaMetricsPublication
from dsr.models.steps import RunState, Step, StepRun, StepState
from dsr.models.takedowns import (
    BlockedHash,
    Complaint,
    ItemHash,
    Notifier,
    ReuploadBlock,
    Takedown,
    TakedownClock,
    TakedownEscalation,
    TakedownItem,
    TakedownNotice,
    TakedownRemoval,
)
from dsr.models.vault import Consent, DataItem, Derivation, Holding, Subject, SubjectKey

__all__ = [
    "BlockedHash",
    "Complaint",
    "ItemHash",
    "Notifier",
    "ReuploadBlock",
    "Takedown",
    "TakedownClock",
    "TakedownEscalation",
    "TakedownItem",
    "TakedownNotice",
    "TakedownRemoval",
    "Case",
    "CaseDeadline",
    "CaseState",
    "CcpaMetricsPublication",
    "Channel",
    "FiledBy",
    "OutboundMessage",
    "Outcome",
    "RegimeDefinition",
    "RunState",
    "SigninRequest",
    "Step",
    "StepRun",
    "StepState",
    "ApiToken",
    "CaseMessage",
    "CategoryPolicy",
    "Consent",
    "DataCategory",
    "DataItem",
    "Derivation",
    "Event",
    "ExportPackage",
    "Holding",
    "LegalBasis",
    "PortalFiling",
    "PortalPass",
    "PackageState",
    "ProcessingActivity",
    "RateCounter",
    "Recipient",
    "Subject",
    "SubjectKey",
]
