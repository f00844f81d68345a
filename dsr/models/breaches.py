"""The breach desk (issue 12): incidents and their Art. 33(5) register fields, the clocks they start, who
is affected (scoped from the vault), the filings to authorities and the notices to each affected person.

Reference: ../shared/reference/legal-matrix.md §1.2, §2.2 (B-SA, B-DS, B-DOC), §2.4 (CB-IND, CB-AG), §2.5
(UK-BR, BR-BR), §5, §8 and checklists §10.2, §10.3, §10.7, §10.8.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class BreachType(models.TextChoices):
    CONFIDENTIALITY = "confidentiality", "Confidentiality (disclosure or access)"
    INTEGRITY = "integrity", "Integrity (alteration)"
    AVAILABILITY = "availability", "Availability (loss or destruction)"


class RiskLevel(models.TextChoices):
    """§5.1: the assessed level decides who must be told."""

    NO_PERSONAL_DATA = "no_personal_data", "No personal data affected (security incident only)"
    UNLIKELY = "unlikely", "Unlikely to result in a risk"
    RISK = "risk", "Risk"
    HIGH = "high", "High risk"


class Exception34(models.TextChoices):
    """Art. 34(3): why affected people need not be told individually."""

    NONE = "", "None"
    UNINTELLIGIBLE = "a", "(a) data unintelligible to anyone not authorised (encrypted, key not exposed)"
    NEUTRALISED = "b", "(b) later measures ensure the high risk is no longer likely"
    DISPROPORTIONATE = "c", "(c) disproportionate effort: public communication instead"


class RiskFactor(models.TextChoices):
    """§5.1 step 3: facts about the people or the data that are not data categories of the vault."""

    CHILDREN = "children", "Children or other vulnerable people affected"
    CREDENTIALS = "credentials", "Credentials (passwords, tokens, security answers)"
    FINANCIAL = "financial", "Financial data (card or account numbers)"
    IDENTITY_DOCUMENTS = "identity_documents", "Government identity numbers or documents"


class BreachOrigin(models.TextChoices):
    CONSOLE = "console", "Operator (console)"
    API = "api", "Monitoring / security tooling (API)"
    KEY_DESTRUCTION = "key_destruction", "Erroneous key destruction"


class BreachState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Breach(models.Model):
    """One incident and every field of its register entry (§10.8). Changes go through the verbs in
    ``dsr/breaches.py``, each with an audit event (object_type "breach")."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=24, unique=True, help_text="Human reference, e.g. BR-2026-0007.")
    title = models.CharField(max_length=200)
    description = models.TextField(help_text="The facts: what happened, how it was found, cause and attack vector.")
    state = models.CharField(max_length=8, choices=BreachState.choices, default=BreachState.OPEN, db_index=True)
    origin = models.CharField(max_length=20, choices=BreachOrigin.choices, default=BreachOrigin.CONSOLE)
    opened_by = models.CharField(max_length=64, help_text="Audit actor who opened it (staff:<user> or token:<name>).")
    created_at = models.DateTimeField()
    # A monitoring tool that retries a timed-out POST /api/v1/breaches sends the same key: the unique index makes
    # the repeat (even a concurrent one) find the first breach instead of opening a second.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    # §5.2 awareness and evidence
    detected_at = models.DateTimeField(help_text="First anomaly.")
    investigation_started_at = models.DateTimeField(null=True, blank=True)
    aware_at = models.DateTimeField(help_text="Reasonable certainty that personal data was compromised (B-SA start).")
    aware_basis = models.TextField(help_text="The evidence awareness rests on.")
    aware_by = models.CharField(max_length=200, help_text="Who reached awareness.")
    processor = models.ForeignKey("dsr.Recipient", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="breaches", help_text="Processor involved (B-PROC), if any.")
    processor_notified_controller_at = models.DateTimeField(null=True, blank=True)

    # What and where
    types = models.JSONField(default=list, help_text="BreachType values.")
    categories = models.JSONField(default=list, help_text="DataCategory values affected.")
    systems = models.JSONField(default=list, help_text="Storage systems affected (see dsr/breach_scope.py SYSTEMS).")
    occurred_from = models.DateTimeField(null=True, blank=True, help_text="Start of the exposure window.")
    occurred_until = models.DateTimeField(null=True, blank=True, help_text="End of the exposure window.")
    data_encrypted = models.BooleanField(default=True, help_text="Was the affected data encrypted at rest?")
    keys_exposed = models.BooleanField(default=False, help_text="Were the keys (or key ring) exposed too?")
    # Added by breachcore (migration 0018): inputs of the §5.1 aid and of the clocks before a scope exists.
    risk_factors = models.JSONField(default=list, blank=True, help_text="RiskFactor values (§5.1 step 3).")
    restored_at = models.DateTimeField(null=True, blank=True, help_text="Availability restored (§5.1 step 2).")
    subjects_estimate = models.PositiveIntegerField(null=True, blank=True,
                                                    help_text="Operator's estimate before a scope is stored.")
    jurisdictions_declared = models.JSONField(
        default=list, blank=True, help_text="Residences the operator knows are affected (ISO 3166 codes); the "
                                            "clocks use these together with the stored scope's jurisdictions.")

    # §5.1 risk: the aid's suggestion, and the operator's decision with its rationale
    risk_suggested = models.CharField(max_length=20, choices=RiskLevel.choices, blank=True)
    risk_suggested_reasons = models.JSONField(default=list, blank=True)
    risk_level = models.CharField(max_length=20, choices=RiskLevel.choices, blank=True)
    risk_rationale = models.TextField(blank=True)
    risk_assessed_at = models.DateTimeField(null=True, blank=True)
    risk_assessed_by = models.CharField(max_length=64, blank=True)
    high_risk_determined_at = models.DateTimeField(null=True, blank=True, help_text="B-DS clock start.")

    consequences = models.TextField(blank=True, help_text="Likely consequences (Art. 33(3)(c)).")
    measures = models.TextField(blank=True, help_text="Measures taken or proposed (Art. 33(3)(d)).")
    remedial_actions = models.JSONField(default=list, blank=True, help_text="[{at, action, by}] taken so far.")
    subject_advice = models.TextField(blank=True, help_text="Extra advice to affected people, beyond the template's.")
    exception_34_3 = models.CharField(max_length=1, choices=Exception34.choices, blank=True)
    exception_rationale = models.TextField(blank=True)
    law_enforcement_delay = models.BooleanField(default=False)
    law_enforcement_reason = models.TextField(blank=True)

    # The stored scope (dsr/breach_scope.py): recomputed on demand, each change audited.
    scope_version = models.PositiveIntegerField(default=0)
    scope_computed_at = models.DateTimeField(null=True, blank=True)
    scope_subjects = models.PositiveIntegerField(default=0)
    scope_items = models.PositiveBigIntegerField(default=0)
    scope_counts = models.JSONField(default=dict, blank=True,
                                    help_text='{"categories": {cat: {"subjects": n, "items": n}}, '
                                              '"jurisdictions": {code: subjects}}')

    class Meta:
        ordering = ["-aware_at"]

    def __str__(self) -> str:
        return self.reference


class BreachAffected(models.Model):
    """One person the scope found, and the state of their Art. 34 / state-law notice. Rows outlive a
    narrower re-scope (``in_scope`` False) so a notice already sent is never forgotten."""

    PERSONAL_DATA = True

    class NoticeState(models.TextChoices):
        NOT_DUE = "not_due", "Not due"
        PENDING = "pending", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (no address or delivery error)"

    id = models.BigAutoField(primary_key=True)
    breach = models.ForeignKey(Breach, on_delete=models.CASCADE, related_name="affected")
    subject = models.ForeignKey("dsr.Subject", on_delete=models.CASCADE, related_name="+")
    jurisdiction = models.CharField(max_length=8, blank=True, help_text="Subject.residence when scoped.")
    items = models.PositiveIntegerField(default=0)
    in_scope = models.BooleanField(default=True)
    notice_state = models.CharField(max_length=8, choices=NoticeState.choices, default=NoticeState.NOT_DUE)
    notice_channel = models.CharField(max_length=16, blank=True)
    notice_sent_at = models.DateTimeField(null=True, blank=True)
    notice_attempts = models.PositiveSmallIntegerField(default=0)
    notice_error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["breach", "subject"], name="breach_affected_once")]
        indexes = [
            models.Index(fields=["breach", "notice_state", "id"], name="breach_affected_notice"),
            models.Index(fields=["subject"], name="breach_affected_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.breach_id}:{self.subject_id}"


class BreachDeadline(models.Model):
    """One clock the breach runs (dsr/breach_clocks.py). ``due_at`` is null for "without undue delay" rules;
    the earliest open ``due_at`` governs and the board names its rule."""

    breach = models.ForeignKey(Breach, on_delete=models.CASCADE, related_name="deadlines")
    rule = models.CharField(max_length=16, help_text="legal-matrix ID: B-SA, UK-BR, B-DS, CB-IND, CB-AG, US-NY, BR-BR…")
    regime = models.CharField(max_length=16)
    authority = models.CharField(max_length=200, blank=True, help_text="Who is told (an SA, an AG), or 'subjects'.")
    started_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    basis = models.CharField(max_length=300, help_text="Plain-words rule and its source.")
    met_at = models.DateTimeField(null=True, blank=True)
    not_required = models.BooleanField(default=False)
    not_required_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = [models.F("due_at").asc(nulls_last=True), "rule"]
        constraints = [models.UniqueConstraint(fields=["breach", "rule"], name="breach_deadline_once")]

    def __str__(self) -> str:
        return f"{self.rule} {self.due_at}"

    @property
    def is_open(self) -> bool:
        return self.met_at is None and not self.not_required


class FilingPhase(models.TextChoices):
    INITIAL = "initial", "Initial"
    FOLLOW_UP = "follow_up", "Follow-up"
    FINAL = "final", "Final"


class BreachFiling(models.Model):
    """A notification made to an authority (Art. 33 to an SA, the ICO, a US AG sample copy, ANPD), phased
    per Art. 33(4): a follow-up links to the filing it completes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    breach = models.ForeignKey(Breach, on_delete=models.CASCADE, related_name="filings")
    rule = models.CharField(max_length=16, help_text="The BreachDeadline.rule this filing meets.")
    authority = models.CharField(max_length=200)
    phase = models.CharField(max_length=10, choices=FilingPhase.choices, default=FilingPhase.INITIAL)
    follows = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="follow_ups")
    filed_at = models.DateTimeField()
    filed_by = models.CharField(max_length=64)
    submission_ref = models.CharField(max_length=200, blank=True, help_text="The authority's reference (§10.2 item 9).")
    late = models.BooleanField(default=False)
    delay_reason = models.TextField(blank=True, help_text="Required when filed after the deadline (Art. 33(1)).")
    document_sha256 = models.CharField(max_length=64, blank=True, help_text="Digest of the PDF as filed.")
    document = models.BinaryField(null=True, blank=True, help_text="The PDF as filed (no subject-level data).")

    class Meta:
        ordering = ["filed_at"]

    def __str__(self) -> str:
        return f"{self.rule} {self.phase} {self.filed_at}"


class BreachEscalation(models.Model):
    """An escalation e-mail already sent (24 h and 6 h before a deadline): unique, so never twice."""

    deadline = models.ForeignKey(BreachDeadline, on_delete=models.CASCADE, related_name="escalations")
    threshold = models.CharField(max_length=8, help_text="'24h' or '6h'.")
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deadline", "threshold"], name="breach_escalation_once")]

    def __str__(self) -> str:
        return f"{self.deadline_id} {self.threshold}"


OPEN_DEADLINE = Q(met_at__isnull=True, not_required=False)
