"""Durable runs of steps (design.md "Jobs"; security.md "django-q2 facts").

django-q2 can deliver a task twice, lose it (Redis) or never count a SIGKILL as an attempt, so its task table
is not the truth: these rows are. A run is an ordered list of steps; a step with a higher ``seq`` starts only
when every step with a lower ``seq`` is done, and steps sharing a ``seq`` may run side by side. Rows hold ids,
names and counts only: never personal data (django-q2 and these tables outlive any erasure).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class StepState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    DEAD = "dead", "Failed — needs attention"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STEP_STATES = (StepState.PENDING, StepState.RUNNING, StepState.DEAD)


class StepRunQuerySet(models.QuerySet["StepRun"]):
    def active(self) -> StepRunQuerySet:
        return self.filter(state__in=[RunState.RUNNING, RunState.NEEDS_ATTENTION])

    def needs_attention(self) -> StepRunQuerySet:
        return self.filter(state=RunState.NEEDS_ATTENTION)

    def for_object(self, object_type: str, object_id: object) -> StepRunQuerySet:
        return self.filter(object_type=object_type, object_id=str(object_id))


class StepRun(models.Model):
    """One durable job (an erasure cascade, an export, a batch of notices) made of steps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40, db_index=True, help_text="erasure, export, breach_notices…")
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.RUNNING)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StepRunQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="steprun_object"),
            models.Index(fields=["state"], name="steprun_active",
                         condition=Q(state__in=["running", "needs_attention"])),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk}"


class Step(models.Model):
    """One unit of a run. ``attempts`` is bumped when a worker claims the step (so a SIGKILLed worker still
    counts); ``lease_token``/``lease_expires_at`` (database clock) fence out a worker that lost its lease."""

    run = models.ForeignKey(StepRun, on_delete=models.CASCADE, related_name="steps")
    seq = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    handler = models.CharField(max_length=120, help_text="Dotted path of the function that runs the step.")
    params = models.JSONField(default=dict, blank=True, help_text="Ids and kinds only.")
    state = models.CharField(max_length=12, choices=StepState.choices, default=StepState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    not_before = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="Counts and ids the step produced.")
    resolution_note = models.TextField(blank=True, help_text="An operator's note when resolving it by hand.")

    class Meta:
        ordering = ["run", "seq", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="step_name_unique_in_run")]
        indexes = [models.Index(fields=["run", "state", "seq"], name="step_run_state")]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"
