"""Erasure cascades, their evidence, legal holds, tombstones and the processing flags the platform obeys
(issue 9; design.md "Erasure cascade"). The durable execution is a StepRun (dsr/models/steps.py); these rows
are the domain facts around it. Ids, categories and counts only — except the sealed contact of an erasure,
kept under its own key only until the completion notice has gone out.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class ErasureScope(models.TextChoices):
    SUBJECT = "subject", "Everything about the subject"
    PARTIAL = "partial", "Chosen categories or items"
    ITEMS = "items", "Chosen items (consent withdrawal, takedown)"


class ErasureState(models.TextChoices):
    GRACE = "grace", "In the grace window (can be cancelled)"
    RUNNING = "running", "Erasing"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_ERASURE_STATES = (ErasureState.GRACE, ErasureState.RUNNING)


class ErasureQuerySet(models.QuerySet["Erasure"]):
    def active(self) -> ErasureQuerySet:
        return self.filter(state__in=ACTIVE_ERASURE_STATES)


class Erasure(models.Model):
    """One erasure: what was asked (scope), its grace window, and — once done — its frozen evidence."""

    PERSONAL_DATA = True  # the sealed contact, until the completion notice is sent

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=12, choices=ErasureScope.choices)
    state = models.CharField(max_length=12, choices=ErasureState.choices, default=ErasureState.RUNNING)
    reason = models.CharField(max_length=40, help_text="erasure_request, consent_withdrawal, takedown…")
    case = models.ForeignKey("dsr.Case", on_delete=models.PROTECT, null=True, blank=True, related_name="erasures")
    subject = models.ForeignKey("dsr.Subject", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="erasures")
    subject_ref = models.CharField(max_length=40, blank=True)
    run = models.OneToOneField("dsr.StepRun", on_delete=models.PROTECT, null=True, blank=True, related_name="erasure")
    categories = models.JSONField(default=list, blank=True, help_text="Chosen categories (partial erasure).")
    approved_by = models.CharField(max_length=64, help_text="Audit actor who approved it.")
    created_at = models.DateTimeField()
    grace_ends_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    key_destroyed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The subject's address and account id, sealed under a key of this erasure only, so the verification sweep can
    # search for them and the completion notice can reach the subject after the identifiers are erased. Wiped
    # once that notice is sent (cascade step "notice").
    contact_sealed = models.BinaryField(null=True, blank=True)
    contact_key = models.TextField(blank=True, help_text="Data key of the sealed contact, wrapped by the key ring.")
    notice = models.ForeignKey("dsr.OutboundMessage", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    evidence = models.JSONField(default=dict, blank=True, help_text="Frozen at completion: counts, kept, head.")

    objects = ErasureQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One active erasure per case at a time.
            models.UniqueConstraint(fields=["case"], condition=Q(state__in=["grace", "running"]),
                                    name="erasure_one_active_per_case"),
        ]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_ERASURE_STATES


class ErasureTarget(models.Model):
    """The manifest: one row per item the erasure covers. Deleted when the erasure completes (the evidence keeps
    the counts), so no list of a subject's item ids outlives the erasure."""

    class Role(models.TextChoices):
        OWN = "own", "The subject's own item"
        DERIVED = "derived", "Derived from it"

    erasure = models.ForeignKey(Erasure, on_delete=models.CASCADE, related_name="targets")
    item_id = models.UUIDField()
    category = models.CharField(max_length=32)
    purpose = models.SlugField(max_length=64)
    blob_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=8, choices=Role.choices)
    held = models.BooleanField(default=False)
    erased = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["erasure", "item_id"], name="erasure_target_unique")]
        indexes = [models.Index(fields=["erasure", "erased", "role"], name="erasure_target_todo"),
                   models.Index(fields=["item_id"], name="erasure_target_item")]

    def __str__(self) -> str:
        return f"{self.role} {self.item_id}"


class RecipientNotice(models.Model):
    """Art. 19 / CCPA §7022(b)(3): one recipient told of one erasure, by signed webhook or another channel."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    erasure = models.ForeignKey(Erasure, on_delete=models.CASCADE, related_name="notices")
    recipient = models.ForeignKey("dsr.Recipient", on_delete=models.PROTECT, related_name="erasure_notices")
    step_name = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.CharField(max_length=80, blank=True, help_text="HTTP status or error kind of the last try.")
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="The recipient answered 2xx.")
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="The recipient's signed confirmation.")
    confirmation = models.CharField(max_length=32, blank=True)
    other_channel_note = models.TextField(blank=True, help_text="How an operator told them instead.")
    other_channel_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["erasure", "recipient"], name="notice_unique")]

    def __str__(self) -> str:
        return f"notice {self.pk}"

    @property
    def status(self) -> str:
        if self.confirmed_at:
            return "confirmed"
        if self.delivered_at:
            return "notified"
        if self.other_channel_at:
            return "other_channel"
        return "pending"


class LegalHold(models.Model):
    """An approver keeps a category despite an erasure request: an Art. 17(3) ground or a CCPA §1798.105(d)
    exception. The certificate and the completion notice say what was kept and why."""

    case = models.ForeignKey("dsr.Case", on_delete=models.PROTECT, related_name="legal_holds")
    category = models.CharField(max_length=32)
    ground = models.CharField(max_length=48)
    note = models.TextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["category"]
        constraints = [models.UniqueConstraint(fields=["case", "category"], name="hold_one_per_category")]

    def __str__(self) -> str:
        return f"hold {self.category} ({self.ground})"


class Tombstone(models.Model):
    """What survives a whole-subject erasure: the id and keyed hashes of the identifiers, nothing readable.
    Also written to the tombstone directory outside the database (dsr/tombstones.py), so a restored backup can
    be re-erased (`manage.py replay_erasures`)."""

    subject_id = models.UUIDField(primary_key=True)
    identifier_hashes = models.JSONField(default=list)
    erased_at = models.DateTimeField()
    erasure_id = models.UUIDField()

    def __str__(self) -> str:
        return f"tombstone {self.subject_id}"


class FlagKind(models.TextChoices):
    OBJECTION = "objection", "Objection — Art. 21(1)"
    DIRECT_MARKETING = "direct_marketing", "Objection to direct marketing — Art. 21(2)-(3)"
    RESTRICTION = "restriction", "Restriction — Art. 18"
    CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn — Art. 7(3)"


class ProcessingFlagQuerySet(models.QuerySet["ProcessingFlag"]):
    def active(self) -> ProcessingFlagQuerySet:
        return self.filter(lifted_at__isnull=True)


class ProcessingFlag(models.Model):
    """A per-purpose stop the platform obeys (GET …/processing answers from these). ``purpose`` "*" covers every
    purpose of the register (a restriction: storage only, Art. 18(2))."""

    PERSONAL_DATA = True  # that a person objected is a fact about them

    subject = models.ForeignKey("dsr.Subject", on_delete=models.CASCADE, related_name="processing_flags")
    purpose = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=FlagKind.choices)
    case = models.ForeignKey("dsr.Case", on_delete=models.SET_NULL, null=True, blank=True, related_name="flags")
    set_at = models.DateTimeField()
    set_by = models.CharField(max_length=64)
    subject_told_at = models.DateTimeField(null=True, blank=True, help_text="Art. 18(3): told before lifting.")
    told_channel = models.CharField(max_length=20, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=64, blank=True)
    lift_reason = models.TextField(blank=True)

    objects = ProcessingFlagQuerySet.as_manager()

    class Meta:
        ordering = ["set_at", "id"]
        indexes = [models.Index(fields=["subject", "purpose"], name="flag_subject_purpose",
                                condition=Q(lifted_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.kind} {self.purpose}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None
