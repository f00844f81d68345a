"""The public portal (issue 11): what a person filed, the codes and links that prove they control the address on
file, the message thread of a case, and the shared counters behind the portal's rate limits."""

from __future__ import annotations

import uuid

from django.db import models


class PortalFiling(models.Model):
    """One submission of the portal form, exactly as given, before and after a job turned it into a case.

    The request view only stores this row and enqueues its id: finding the subject, filing the case and sending
    the code happen in the job, so the page and its timing say nothing about whether dsr knows the address."""

    PERSONAL_DATA = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Keyed hash of the normalised submission and its time window: the same filing twice is one row.
    fingerprint = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    choice = models.CharField(max_length=32, help_text="What the person chose on the form (portal wording).")
    kind = models.CharField(max_length=40, help_text="The request kind it was filed as (deadlines.Kind).")
    purpose = models.SlugField(max_length=64, blank=True, help_text="Register purpose of an objection.")
    regimes = models.JSONField(default=list)
    country = models.CharField(max_length=2)
    region = models.CharField(max_length=8, blank=True)
    email = models.CharField(max_length=254, help_text="The data subject's address as given (normalised).")
    details = models.TextField(blank=True)
    content_ref = models.TextField(blank=True, help_text="Depicted person: where the photo or video is.")
    signature = models.CharField(max_length=200, blank=True, help_text="Typed full name as signature.")
    filed_by = models.CharField(max_length=10, default="subject")
    agent_name = models.CharField(max_length=200, blank=True)
    agent_email = models.CharField(max_length=254, blank=True)
    # The agent's signed mandate, sealed under its own data key wrapped by the key ring (never stored in clear).
    mandate_sealed = models.BinaryField(null=True, blank=True)
    mandate_wrapped_key = models.TextField(blank=True)
    mandate_type = models.CharField(max_length=50, blank=True)
    mandate_size = models.PositiveIntegerField(default=0)
    language = models.CharField(max_length=8, default="en")
    gpc = models.BooleanField(default=False, help_text="The browser sent Sec-GPC: 1.")
    processed_at = models.DateTimeField(null=True, blank=True)
    subject = models.ForeignKey("dsr.Subject", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="portal_filings")
    case = models.ForeignKey("dsr.Case", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="portal_filings")
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="The subject confirmed by code or link.")

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["processed_at", "created_at"], name="portalfiling_pending")]

    def __str__(self) -> str:
        return f"filing {self.pk}"

    @property
    def is_agent(self) -> bool:
        return self.filed_by == "agent"

    @property
    def is_depicted(self) -> bool:
        return self.choice == "depicted"


class PortalPass(models.Model):
    """A one-time code with its single-use link (``email``), a sign-in link to the status page (``signin``), or
    the platform's hand-off for its signed-in user (``handoff``). Only keyed hashes are stored."""

    PERSONAL_DATA = True

    class Kind(models.TextChoices):
        EMAIL = "email", "Code and link to confirm a filing"
        SIGNIN = "signin", "Link to the status page"
        HANDOFF = "handoff", "Platform hand-off for a signed-in account holder"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    subject = models.ForeignKey("dsr.Subject", on_delete=models.CASCADE, related_name="portal_passes")
    filing = models.ForeignKey(PortalFiling, on_delete=models.CASCADE, null=True, blank=True, related_name="passes")
    code_hash = models.CharField(max_length=64, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    minted_by = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["subject", "kind", "created_at"], name="portalpass_subject")]

    def __str__(self) -> str:
        return f"{self.kind} pass {self.pk}"

    def usable(self, now) -> bool:  # noqa: ANN001 - datetime
        return (self.used_at is None and self.superseded_at is None and self.locked_at is None
                and now < self.expires_at)


class SigninRequest(models.Model):
    """'Send me a link to my requests': carries the address from the request to the job (task arguments hold ids
    only) and is deleted by the job once handled."""

    PERSONAL_DATA = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.CharField(max_length=254)
    language = models.CharField(max_length=8, default="en")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"sign-in request {self.pk}"


class CaseMessage(models.Model):
    """The thread between the operators and the requester on one case: a question from the console, an answer
    from the status page. Shown escaped on both sides."""

    PERSONAL_DATA = True

    case = models.ForeignKey("dsr.Case", on_delete=models.CASCADE, related_name="thread")
    from_subject = models.BooleanField(default=False)
    author = models.CharField(max_length=64, help_text="'subject' or 'staff:<id>'.")
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"message on {self.case_id}"


class RateCounter(models.Model):
    """A fixed-window counter for the database rate-limit backend. Keys are keyed hashes, never an address."""

    key = models.CharField(max_length=100, primary_key=True)
    window_no = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.key
