"""Rights requests (issue 3): a Case per request, every statutory date it carries, and its outbox."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from dsr.deadlines import Kind, Purpose, Regime


class CaseState(models.TextChoices):
    RECEIVED = "received", "Received"
    AWAITING_VERIFICATION = "awaiting_verification", "Awaiting verification"
    IN_PROGRESS = "in_progress", "In progress"
    EXTENDED = "extended", "Extended"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    REFUSED = "refused", "Refused"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATES = (
    CaseState.RECEIVED,
    CaseState.AWAITING_VERIFICATION,
    CaseState.IN_PROGRESS,
    CaseState.EXTENDED,
    CaseState.PAUSED,
)

KIND_CHOICES = [(k.value, k.value.replace("_", " ").capitalize()) for k in Kind]
REGIME_LABELS = {Regime.EU_GDPR: "EU GDPR", Regime.UK_GDPR: "UK GDPR", Regime.CCPA: "CCPA/CPRA"}


class RegimeDefinition(models.Model):
    """The regimes dsr knows, as data: operators can switch one off or describe it; clocks for a new
    code are added to deadlines.py."""

    code = models.SlugField(max_length=32, primary_key=True)
    name = models.CharField(max_length=100)
    authority = models.CharField(max_length=300, blank=True, help_text="Where subjects may complain.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    API = "api", "Platform API"
    WEB_FORM = "web_form", "Web form"
    EMAIL = "email", "E-mail"
    PHONE = "phone", "Toll-free phone"
    IN_APP = "in_app", "In the app"
    POST = "post", "Post"
    GPC = "gpc", "Global Privacy Control signal"


class FiledBy(models.TextChoices):
    SUBJECT = "subject", "The data subject"
    AGENT = "agent", "An authorized agent"


class Outcome(models.TextChoices):
    COMPLIED_FULL = "complied_full", "Complied in whole"
    COMPLIED_PARTIAL = "complied_partial", "Complied in part"
    DENIED = "denied", "Denied"


class CaseQuerySet(models.QuerySet["Case"]):
    def open(self) -> CaseQuerySet:
        return self.filter(state__in=OPEN_STATES)

    def overdue(self, today: date) -> CaseQuerySet:
        return self.open().filter(due_on__lt=today)

    def at_risk(self, today: date, days: int) -> CaseQuerySet:
        return self.open().filter(due_on__gte=today, due_on__lte=today + timedelta(days=days))

    def queue(self) -> CaseQuerySet:
        return self.open().order_by("due_on", "received_at", "id")


class Case(models.Model):
    """One rights request. Dates live in CaseDeadline rows; ``due_on`` caches the governing one for the
    queue. Only workflow verbs change a case, each with its audit event."""

    PERSONAL_DATA = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=20, unique=True)
    kind = models.CharField(max_length=40, choices=KIND_CHOICES)
    regimes = models.JSONField(default=list)
    subject = models.ForeignKey("dsr.Subject", on_delete=models.SET_NULL, null=True, related_name="cases")
    subject_ref = models.CharField(max_length=40)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.API)
    filed_by = models.CharField(max_length=10, choices=FiledBy.choices, default=FiledBy.SUBJECT)
    agent_name = models.CharField(max_length=200, blank=True)
    details = models.TextField(blank=True, help_text="What the requester wrote (shown escaped).")
    received_at = models.DateTimeField()
    created_at = models.DateTimeField()
    state = models.CharField(max_length=24, choices=CaseState.choices, default=CaseState.RECEIVED)
    state_before_pause = models.CharField(max_length=24, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="dsr_cases"
    )
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    # How a request must be treated that the kind alone does not say, shown in the queue (issue 11):
    # "depicted_person" = someone who appears in a photo or video and did not agree (erasure of their face data
    # and what was derived from it, until the takedown desk exists).
    intake = models.CharField(max_length=32, blank=True, default="")

    # Calendar and time zone each regime's dates were computed with, at submission (issue 8): shown on the
    # case page, so a later change of settings does not misdescribe stored dates.
    clock = models.JSONField(default=list, blank=True)

    # governing date (earliest response date across regimes, legal-matrix §1.4)
    due_on = models.DateField()
    due_rule = models.CharField(max_length=16)
    due_regime = models.CharField(max_length=16)

    acknowledged_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_method = models.CharField(max_length=64, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.TextField(blank=True)
    paused_days = models.PositiveIntegerField(default=0)
    # issue 8: why the clock stopped (identity / clarification) and, for a UK clock-stop outside access
    # requests, the legal basis the operator recorded (legal-matrix §2.5 UK-DSR)
    pause_ground = models.CharField(max_length=16, blank=True)
    pause_legal_basis = models.TextField(blank=True)
    uk_paused_days = models.PositiveIntegerField(default=0, help_text="UK count: both end days included")
    # UK GDPR Art 12A "relevant time": identity information or a fee received after the request
    uk_relevant_at = models.DateTimeField(null=True, blank=True)
    uk_relevant_what = models.CharField(max_length=16, blank=True)
    uk_relevant_evidence = models.TextField(blank=True)
    unfounded = models.CharField(max_length=16, blank=True, help_text="'unfounded' or 'excessive' (Art. 12(5))")
    unfounded_justification = models.TextField(blank=True)
    forced_erasure_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    forced_erasure_reason = models.TextField(blank=True)
    forced_erasure_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    refusal_ground = models.CharField(max_length=40, blank=True)
    refusal_reason = models.TextField(blank=True)
    substantive_response_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "received_at"]
        indexes = [
            models.Index(fields=["due_on", "received_at", "id"], name="case_queue_open",
                         condition=Q(state__in=[s.value for s in OPEN_STATES])),
            models.Index(fields=["state", "due_on"], name="case_state_due"),
            models.Index(fields=["kind", "received_at"], name="case_kind_received"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def regime_labels(self) -> list[str]:
        return [REGIME_LABELS.get(Regime(r), r) for r in self.regimes]

    def urgency(self, today: date, at_risk_days: int) -> str:
        if not self.is_open:
            return ""
        if self.due_on < today:
            return "overdue"
        if self.due_on <= today + timedelta(days=at_risk_days):
            return "at-risk"
        return ""


class CaseDeadline(models.Model):
    """One statutory date of a case, with the rule that produced it and why. Superseded rows stay, so
    the history of every date can be shown to a regulator."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="deadlines")
    regime = models.CharField(max_length=16)
    rule = models.CharField(max_length=16)
    purpose = models.CharField(max_length=24, choices=[(p.value, p.value) for p in Purpose])
    due_on = models.DateField()
    unrolled_on = models.DateField(null=True, blank=True)
    basis = models.TextField()
    created_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True, help_text="When the duty was fulfilled.")

    class Meta:
        ordering = ["due_on", "regime", "purpose"]
        indexes = [models.Index(fields=["case", "superseded_at"])]

    def __str__(self) -> str:
        return f"{self.case_id} {self.regime} {self.rule} {self.purpose} {self.due_on}"

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None


class OutboundMessage(models.Model):
    """The outbox: every notice rendered for a subject, sent by a job after the transaction commits."""

    PERSONAL_DATA = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages", null=True, blank=True)
    template = models.CharField(max_length=64)
    to = models.CharField(max_length=254)
    subject_line = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    # One file sent with the message (the erasure certificate, issue 9 §6). Only documents that say nothing
    # personal go here; the bytes are dropped once the message is sent (emails.deliver), the name stays as a record.
    attachment_name = models.CharField(max_length=200, blank=True)
    attachment_type = models.CharField(max_length=100, blank=True)
    attachment = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.template} ({'sent' if self.sent_at else 'queued'})"
