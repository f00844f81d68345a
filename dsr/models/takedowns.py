"""The takedown desk (issue 13): requests from people depicted without consent, their hour clocks, what was
blocked and removed, the perceptual hashes that find copies, the block list, notices, complaints.

Reference: ../shared/reference/takedown.md (T-TIDA, T-UK48, T-DSA, T-POLICY).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from dsr.perceptual import Hash


class TakedownState(models.TextChoices):
    INCOMPLETE = "incomplete", "Incomplete — waiting for the requester"
    UNDER_REVIEW = "under_review", "Under review (clock running)"
    REMOVING = "removing", "Removing"
    REMOVED = "removed", "Removed"
    REFUSED = "refused", "Refused"
    WITHDRAWN = "withdrawn", "Withdrawn"


OPEN_TAKEDOWN_STATES = (TakedownState.INCOMPLETE, TakedownState.UNDER_REVIEW, TakedownState.REMOVING)
CLOCK_STATES = (TakedownState.UNDER_REVIEW, TakedownState.REMOVING)


class FiledAs(models.TextChoices):
    INDIVIDUAL = "individual", "The person depicted"
    AUTHORIZED = "authorized", "Someone authorized to act for them"


class TakedownChannel(models.TextChoices):
    PORTAL = "portal", "Public portal"
    API = "api", "Platform report button (API)"


class RefusalGround(models.TextChoices):
    NOT_LOCATED = "not_located", "The depiction could not be found on the platform"
    NOT_DEPICTED = "not_depicted", "The requester (or the person they act for) is not depicted"
    CONSENT_SHOWN = "consent_shown", "The person depicted consented to this publication"
    NOT_AUTHORIZED = "not_authorized", "The requester is not authorized to act for the person depicted"
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", "Manifestly unfounded notice (DSA Art. 23)"
    OTHER = "other", "Other (explained in the reason)"


class Notifier(models.Model):
    """Someone who sends notices, known only by a keyed hash of their contact address (DSA Art. 23: a notifier
    who often sends manifestly unfounded notices may be suspended after a warning)."""

    PERSONAL_DATA = True

    key = models.CharField(max_length=64, unique=True, help_text="Keyed hash of the normalised contact address.")
    created_at = models.DateTimeField()
    manifestly_unfounded = models.PositiveIntegerField(default=0)
    abusive_since = models.DateTimeField(null=True, blank=True)
    abusive_until = models.DateTimeField(null=True, blank=True)
    abusive_reason = models.TextField(blank=True)
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")

    def __str__(self) -> str:
        return f"notifier {self.pk}"

    def is_abusive(self, now: datetime) -> bool:
        return self.abusive_since is not None and (self.abusive_until is None or self.abusive_until > now)


class TakedownQuerySet(models.QuerySet["Takedown"]):
    def open(self) -> TakedownQuerySet:
        return self.filter(state__in=OPEN_TAKEDOWN_STATES)

    def queue(self) -> TakedownQuerySet:
        """Minors first (takedown.md "Children"), then the earliest governing due instant; requests still
        waiting for their missing elements (no clock) come last."""
        return self.open().order_by("-minor_suspected", models.F("due_at").asc(nulls_last=True), "received_at")


class Takedown(models.Model):
    """One removal request for a depiction. The four elements are kept as received; the clock starts when the
    request is complete (``valid_at``) and ``received_at`` is kept too."""

    PERSONAL_DATA = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=20, unique=True)
    channel = models.CharField(max_length=10, choices=TakedownChannel.choices)
    state = models.CharField(max_length=16, choices=TakedownState.choices, default=TakedownState.INCOMPLETE)
    received_at = models.DateTimeField()
    valid_at = models.DateTimeField(null=True, blank=True, help_text="When the request became complete: the "
                                    "clock starts here.")
    valid_note = models.CharField(max_length=300, blank=True, help_text="How it became complete (which elements "
                                  "arrived when).")
    created_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    access_hash = models.CharField(max_length=64, blank=True, help_text="Hash of the requester's status link.")

    # 1. signature: a typed name with an attestation is an electronic signature
    signature_name = models.CharField(max_length=200, blank=True)
    signature_attested_at = models.DateTimeField(null=True, blank=True)
    filed_as = models.CharField(max_length=12, choices=FiledAs.choices, default=FiledAs.INDIVIDUAL)
    acting_for = models.CharField(max_length=200, blank=True, help_text="Authorized person: who they act for.")
    authority = models.TextField(blank=True, help_text="Authorized person: on what authority.")
    # 2. identification and location
    item_refs = models.JSONField(default=list, blank=True, help_text="Item ids as given.")
    links = models.JSONField(default=list, blank=True, help_text="Links as given.")
    location_details = models.TextField(blank=True)
    # 3. good faith
    good_faith_statement = models.TextField(blank=True)
    good_faith_confirmed_at = models.DateTimeField(null=True, blank=True)
    # 4. contact
    contact_email = models.CharField(max_length=254, blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    language = models.CharField(max_length=8, default="en", help_text="The language the requester filed in (the "
                                "portal's; English through the API): the requester's e-mails are written in it.")

    intimate_claimed = models.BooleanField(default=False)
    minor_suspected = models.BooleanField(default=False)
    notifier = models.ForeignKey(Notifier, on_delete=models.SET_NULL, null=True, blank=True, related_name="takedowns")
    review_only = models.BooleanField(default=False, help_text="Abusive notifier (DSA Art. 23): reviewed without "
                                      "the automatic block.")

    # The requester's own reference image: sealed under this request's own key, shredded when the evidence
    # period ends (takedown.md "Copies").
    ref_key_wrapped = models.TextField(blank=True)
    ref_blob_name = models.CharField(max_length=200, blank=True)
    ref_content_type = models.CharField(max_length=100, blank=True)
    ref_pdq = models.CharField(max_length=64, blank=True)
    ref_quality = models.SmallIntegerField(null=True, blank=True)
    ref_shredded_at = models.DateTimeField(null=True, blank=True)

    # One report can also open an erasure of the person's own face data (one evidence chain, several clocks).
    erasure_case = models.ForeignKey("dsr.Case", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="takedowns")

    # the operator's validity decision
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    decision_valid = models.BooleanField(null=True, blank=True)
    decision_intimate = models.BooleanField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    refusal_ground = models.CharField(max_length=24, choices=RefusalGround.choices, blank=True)

    blocked_at = models.DateTimeField(null=True, blank=True, help_text="When the depiction was blocked pending review.")
    removed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    evidence_until = models.DateTimeField(null=True, blank=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)

    # governing clock, cached for the queue (earliest current due instant)
    due_at = models.DateTimeField(null=True, blank=True)
    due_regime = models.CharField(max_length=12, blank=True)

    objects = TakedownQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["state", "due_at"], name="takedown_state_due"),
            models.Index(fields=["received_at"], name="takedown_received"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_TAKEDOWN_STATES

    @property
    def has_reference(self) -> bool:
        return bool(self.ref_blob_name) and self.ref_shredded_at is None


class TakedownClock(models.Model):
    """One hour clock of a takedown (T-TIDA, T-UK48, T-POLICY, T-DSA): due instants, not dates. Superseded rows
    stay, so the history of a decision's effect on the clock can be shown."""

    takedown = models.ForeignKey(Takedown, on_delete=models.CASCADE, related_name="clocks")
    regime = models.CharField(max_length=12)
    starts_at = models.DateTimeField()
    hours = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    basis = models.TextField()
    created_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "regime"]
        indexes = [models.Index(fields=["takedown", "superseded_at"])]

    def __str__(self) -> str:
        return f"{self.regime} due {self.due_at:%Y-%m-%d %H:%M}Z"


class TakedownItem(models.Model):
    """A held item a takedown concerns: located from the request, derived from it, a likeness source, or a copy
    found by hash. ``item_id`` is not a foreign key on purpose: removal unlinks items and the evidence stays."""

    class Role(models.TextChoices):
        REPORTED = "reported", "Reported depiction"
        LIKENESS = "likeness", "Source photo of the requester's likeness"
        DERIVED = "derived", "Derived from a removed item (lineage)"
        COPY = "copy", "Copy found by perceptual hash"

    class FoundBy(models.TextChoices):
        ITEM_ID = "item_id", "Item id in the request"
        LINK = "link", "Link in the request"
        REFERENCE = "reference", "Requester's reference image (hash match)"
        LINEAGE = "lineage", "Lineage"
        SWEEP = "sweep", "Copy sweep (hash match)"
        OPERATOR = "operator", "Chosen by the operator"
        REUPLOAD = "reupload", "Hash match after ingest"

    class State(models.TextChoices):
        LISTED = "listed", "Listed for the operator"
        CONFIRMED = "confirmed", "Confirmed for removal"
        DISMISSED = "dismissed", "Dismissed (not a copy)"
        REMOVED = "removed", "Removed"
        KEPT = "kept", "Kept (request refused)"

    takedown = models.ForeignKey(Takedown, on_delete=models.CASCADE, related_name="items")
    item_id = models.UUIDField(db_index=True)
    category = models.CharField(max_length=32, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices)
    found_by = models.CharField(max_length=10, choices=FoundBy.choices)
    distance = models.SmallIntegerField(null=True, blank=True)
    pdq = models.CharField(max_length=64, blank=True, help_text="The matching hash (hex) for copies.")
    owners = models.JSONField(default=list, blank=True, help_text="Ids of the subjects who uploaded it (or its "
                              "sources), taken before removal unlinks them: they get the statement of reasons.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.LISTED)
    batch = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Which removal run took it.")
    blocked_at = models.DateTimeField(null=True, blank=True)
    unblocked_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["takedown", "item_id"], name="takedown_item_unique")]
        indexes = [models.Index(fields=["item_id"], name="takedown_item_blocked",
                                condition=Q(blocked_at__isnull=False, unblocked_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.takedown_id}: {self.item_id} ({self.role})"


class TakedownRemoval(models.Model):
    """One removal run of a takedown (batch 0: the decision; later batches: confirmed copies)."""

    takedown = models.ForeignKey(Takedown, on_delete=models.CASCADE, related_name="removals")
    batch = models.PositiveSmallIntegerField()
    run = models.ForeignKey("dsr.StepRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    erasure_run_id = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["takedown", "batch"], name="takedown_removal_batch")]

    def __str__(self) -> str:
        return f"{self.takedown_id} batch {self.batch}"


class TakedownNotice(models.Model):
    """Which notice went to whom for a takedown (the message itself is in the outbox)."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt with the request number"
        INCOMPLETE = "incomplete", "What is missing"
        OUTCOME = "outcome", "Outcome to the requester"
        STATEMENT_OF_REASONS = "statement", "Statement of reasons to the uploader (DSA Art. 17)"
        RESTRICTION = "restriction", "Statement of reasons for the restriction pending review (DSA Art. 17)"
        LIFTED = "lifted", "Restriction lifted (to the uploader)"
        COMPLAINT_OUTCOME = "complaint", "Complaint outcome"
        ESCALATION = "escalation", "Escalation to staff"

    takedown = models.ForeignKey(Takedown, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    party = models.CharField(max_length=64, help_text="requester, uploader:<subject ref>, staff:<id>…")
    key = models.CharField(max_length=100, help_text="What makes this notice unique (sent once).")
    message = models.ForeignKey("dsr.OutboundMessage", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["takedown", "key"], name="takedown_notice_once")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.party}"


class Complaint(models.Model):
    """The internal complaint route (DSA Art. 20) offered with a decision, open for six months; its outcome is
    recorded. One route per party per decision."""

    PERSONAL_DATA = True

    class Party(models.TextChoices):
        UPLOADER = "uploader", "Uploader (content removed)"
        REQUESTER = "requester", "Requester (request refused)"

    class Outcome(models.TextChoices):
        UPHELD = "upheld", "Upheld — decision reversed"
        REJECTED = "rejected", "Rejected — decision stands"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    takedown = models.ForeignKey(Takedown, on_delete=models.CASCADE, related_name="complaints")
    party = models.CharField(max_length=10, choices=Party.choices)
    party_ref = models.CharField(max_length=40, blank=True, help_text="Subject reference of the uploader.")
    token_hash = models.CharField(max_length=64, unique=True)
    opened_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    filed_at = models.DateTimeField(null=True, blank=True)
    text = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    outcome_reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["opened_at"]

    def __str__(self) -> str:
        return f"complaint {self.pk} ({self.party})"

    def is_open(self, now: datetime) -> bool:
        return self.filed_at is None and now < self.closes_at


class ItemHash(models.Model):
    """A perceptual hash of a held item (a still, or one frame a second of an animation or video), taken at
    ingest. Deleted with the item's content; a removed item's hashes move to the block list."""

    PERSONAL_DATA = True

    item = models.ForeignKey("dsr.DataItem", on_delete=models.CASCADE, related_name="perceptual_hashes")
    at_ms = models.IntegerField(default=0)
    h0 = models.BigIntegerField()
    h1 = models.BigIntegerField()
    h2 = models.BigIntegerField()
    h3 = models.BigIntegerField()
    quality = models.SmallIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "at_ms"], name="itemhash_frame_unique")]

    def __str__(self) -> str:
        return f"{self.item_id}@{self.at_ms}ms"

    @property
    def hash(self) -> Hash:
        # imported here: dsr.perceptual loads numpy and Pillow (~17 MiB), which every process would otherwise
        # carry from django.setup() on — an export worker included (bench/export.py, issue 10 memory goal)
        from dsr.perceptual import Hash

        return Hash.from_signed((self.h0, self.h1, self.h2, self.h3), self.quality)


class BlockedHash(models.Model):
    """The block list: hashes of items removed by a takedown. A new upload within the match distance of one is
    refused (451) and the match is recorded on the takedown. Holds no personal data in itself — a PDQ hash
    cannot be turned back into the picture, and no subject is named — and it outlives the items on purpose:
    it exists to keep the depiction from coming back."""

    takedown = models.ForeignKey(Takedown, on_delete=models.PROTECT, related_name="blocked_hashes")
    item_id = models.UUIDField()
    category = models.CharField(max_length=32, blank=True)
    at_ms = models.IntegerField(default=0)
    h0 = models.BigIntegerField()
    h1 = models.BigIntegerField()
    h2 = models.BigIntegerField()
    h3 = models.BigIntegerField()
    quality = models.SmallIntegerField()
    created_at = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True, help_text="A complaint reversed the decision.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["takedown", "item_id", "at_ms"], name="blockedhash_unique")]

    def __str__(self) -> str:
        return f"blocked {self.item_id}@{self.at_ms}ms"

    @property
    def hash(self) -> Hash:
        # imported here: dsr.perceptual loads numpy and Pillow (~17 MiB), which every process would otherwise
        # carry from django.setup() on — an export worker included (bench/export.py, issue 10 memory goal)
        from dsr.perceptual import Hash

        return Hash.from_signed((self.h0, self.h1, self.h2, self.h3), self.quality)


class ReuploadBlock(models.Model):
    """An upload refused because it matched the block list (recorded on the takedown)."""

    takedown = models.ForeignKey(Takedown, on_delete=models.CASCADE, related_name="reupload_blocks")
    blocked_hash = models.ForeignKey(BlockedHash, on_delete=models.SET_NULL, null=True, related_name="+")
    distance = models.SmallIntegerField()
    pdq = models.CharField(max_length=64)
    at = models.DateTimeField()
    actor = models.CharField(max_length=64)
    uploader_ref = models.CharField(max_length=40, blank=True)
    route = models.CharField(max_length=32, help_text="Which upload path refused it.")

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"re-upload blocked at {self.at:%Y-%m-%d %H:%M}Z"


class TakedownEscalation(models.Model):
    """An escalation e-mail to staff at 24 h and 4 h before a takedown's governing deadline (sent once each)."""

    takedown = models.ForeignKey(Takedown, on_delete=models.CASCADE, related_name="escalations")
    hours_before = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["takedown", "hours_before", "due_at"],
                                               name="takedown_escalation_once")]

    def __str__(self) -> str:
        return f"{self.takedown_id} {self.hours_before} h before"
