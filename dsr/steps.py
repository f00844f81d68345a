"""The durable step runner: the one mechanism erasure cascades, exports, breach notices and takedowns run on.

Why not just django-q2 tasks: its ORM broker delivers at least once (a task that outlives ``retry`` runs twice,
concurrently), its Redis broker at most once, and a worker killed by SIGKILL never counts as an attempt
(security.md "django-q2 facts"). So our rows are the truth and a task only says "advance run X":

* ``start_run`` writes a StepRun and its Step rows in the caller's transaction and enqueues ``advance`` on commit.
* ``advance(run_id)`` claims runnable steps one at a time. A claim bumps ``attempts`` and takes a lease measured
  on the **database clock** (workers' clocks may disagree), under a lock on the run row, so two deliveries of the
  same task never claim the same step.
* A handler ``fn(ctx) -> evidence`` does the work. Whatever must not commit once the lease is lost goes inside
  ``with ctx.fenced():`` — a transaction that first re-checks, row-locked, that this worker still holds an
  unexpired lease on a running step of a running run. Completion is fenced the same way, so a worker that lost
  its lease commits nothing. Handlers must be idempotent: a step killed after its effects but before completion
  runs again.
* A failure is retried with backoff; after ``max_attempts`` the step is dead-lettered: the run shows "needs
  attention" in the console and the approvers get an e-mail. A claim that finds a crashed step (lease expired)
  whose attempts are already spent dead-letters it instead of running it again, so a step that kills its worker
  cannot crash-loop forever.
* ``reconcile`` (a schedule) re-enqueues runs that have work due: a step whose lease expired (worker killed, task
  lost) or whose back-off or waiting time is over.

Arguments, errors and evidence hold ids, kinds and counts only: django-q2 stores task arguments and results
forever, in the clear.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, ExpressionWrapper, F, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.module_loading import import_string

from dsr import audit
from dsr.models.steps import OPEN_STEP_STATES, RunState, Step, StepRun, StepState

log = logging.getLogger(__name__)

Handler = Callable[["StepContext"], dict[str, Any] | None]


class StepError(Exception):
    """A failure whose message is safe to store and show (ids, kinds, counts; never personal data)."""


class LeaseLost(Exception):
    """This worker no longer holds the step (lease expired and maybe re-claimed, or the run was cancelled)."""


class Deferred(Exception):
    """Not ready yet (waiting for a callback, a window, a recipient): try again at ``until``. Not an attempt."""

    def __init__(self, until: datetime, reason: str = "") -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


@dataclass(frozen=True)
class StepSpec:
    """What ``start_run`` creates. ``handler`` is a dotted path (keep it stable: rows outlive code)."""

    name: str
    handler: str
    seq: int
    params: dict[str, Any] = field(default_factory=dict)
    max_attempts: int | None = None
    not_before: datetime | None = None


def lease_seconds() -> int:
    return int(getattr(settings, "DSR_STEP_LEASE_SECONDS", 300))


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at one hour: quick recovery from a blip, no hammering of a dead service.
    The first interval is DSR_STEP_BACKOFF_SECONDS (fault tests shorten it)."""
    first = int(getattr(settings, "DSR_STEP_BACKOFF_SECONDS", 30))
    return timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), 3600))


def _lease_until() -> ExpressionWrapper:
    return ExpressionWrapper(Now() + timedelta(seconds=lease_seconds()), output_field=models.DateTimeField())


# --- starting and steering runs ---------------------------------------------------------------------


def start_run(
    kind: str,
    specs: Sequence[StepSpec],
    *,
    object_type: str = "",
    object_id: object = "",
    actor: str,
    now: datetime,
    subject_ref: str = "",
) -> StepRun:
    """Create a run and its steps in the caller's transaction; ``advance`` is enqueued once it commits."""
    if not specs:
        raise ValueError("a run needs at least one step")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("step names must be unique within a run")
    default_max = int(getattr(settings, "DSR_STEP_MAX_ATTEMPTS", 5))
    with transaction.atomic():
        run = StepRun.objects.create(kind=kind, object_type=object_type, object_id=str(object_id) if object_id else "",
                                     created_at=now)
        Step.objects.bulk_create([
            Step(run=run, seq=s.seq, name=s.name, handler=s.handler, params=s.params,
                 max_attempts=s.max_attempts or default_max, not_before=s.not_before)
            for s in specs
        ])
        audit.record("run.started", actor=actor, now=now, object_type="run", object_id=run.pk, subject_ref=subject_ref,
                     data={"kind": kind, "object_type": object_type, "object_id": str(object_id) if object_id else "",
                           "steps": names})
        enqueue_on_commit(run.pk)
    return run


def enqueue_on_commit(run_id: uuid.UUID | str) -> None:
    run_id = str(run_id)
    transaction.on_commit(lambda: enqueue(run_id))


def enqueue(run_id: uuid.UUID | str) -> None:
    from django_q.tasks import async_task

    async_task("dsr.jobs.advance_run", str(run_id), task_name=f"advance-{run_id}-{uuid.uuid4().hex[:8]}")


def cancel_run(run: StepRun, *, actor: str, now: datetime, subject_ref: str = "") -> bool:
    """Stop a run: steps not yet done are cancelled; a step running right now loses its fence and commits
    nothing more. Returns False if the run had already ended."""
    with transaction.atomic():
        locked = StepRun.objects.select_for_update().get(pk=run.pk)
        if locked.state in (RunState.DONE, RunState.CANCELLED):
            return False
        locked.state, locked.finished_at = RunState.CANCELLED, now
        locked.save(update_fields=["state", "finished_at"])
        n = Step.objects.filter(run=locked, state__in=OPEN_STEP_STATES).update(
            state=StepState.CANCELLED, lease_token=None, lease_expires_at=None)
        audit.record("run.cancelled", actor=actor, now=now, object_type="run", object_id=run.pk,
                     subject_ref=subject_ref, data={"kind": locked.kind, "steps_cancelled": n})
    run.state = RunState.CANCELLED
    return True


def retry_step(step: Step, *, actor: str, now: datetime) -> Step:
    """An operator sends a dead-lettered step round again (fresh attempts), after fixing the cause."""
    with transaction.atomic():
        locked = Step.objects.select_for_update().select_related("run").get(pk=step.pk)
        if locked.state != StepState.DEAD:
            raise StepError("only a failed step can be retried")
        previous = locked.attempts
        locked.state, locked.attempts, locked.not_before = StepState.PENDING, 0, None
        locked.lease_token = locked.lease_expires_at = None
        locked.save(update_fields=["state", "attempts", "not_before", "lease_token", "lease_expires_at"])
        _refresh_run_state(locked.run)
        audit.record("step.retried", actor=actor, now=now, object_type="run", object_id=locked.run_id,
                     data={"step": locked.name, "previous_attempts": previous})
        enqueue_on_commit(locked.run_id)
    return locked


def resolve_step(step: Step, *, note: str, actor: str, now: datetime, evidence: dict[str, Any] | None = None) -> Step:
    """An operator marks a pending or failed step as done by other means (e.g. a processor told by letter).
    The note stays on the step for the evidence record; the audit event holds ids only."""
    note = (note or "").strip()
    if len(note) < 10:
        raise StepError("describe what was done instead (at least 10 characters)")
    with transaction.atomic():
        locked = Step.objects.select_for_update().select_related("run").get(pk=step.pk)
        if locked.state not in (StepState.PENDING, StepState.DEAD):
            raise StepError("only a pending or failed step can be resolved by hand")
        if locked.run.state not in (RunState.RUNNING, RunState.NEEDS_ATTENTION):
            raise StepError("the run has ended")
        locked.state, locked.completed_at, locked.resolution_note = StepState.DONE, now, note
        locked.evidence = {**locked.evidence, **(evidence or {}), "resolved_by_operator": True}
        locked.lease_token = locked.lease_expires_at = None
        locked.save(update_fields=["state", "completed_at", "resolution_note", "evidence", "lease_token",
                                   "lease_expires_at"])
        _refresh_run_state(locked.run)
        audit.record("step.resolved", actor=actor, now=now, object_type="run", object_id=locked.run_id,
                     data={"step": locked.name})
        enqueue_on_commit(locked.run_id)
    return locked


def _refresh_run_state(run: StepRun) -> None:
    if run.state not in (RunState.RUNNING, RunState.NEEDS_ATTENTION):
        return
    dead = Step.objects.filter(run=run, state=StepState.DEAD).exists()
    state = RunState.NEEDS_ATTENTION if dead else RunState.RUNNING
    if state != run.state:
        StepRun.objects.filter(pk=run.pk).update(state=state)
        run.state = state


# --- the worker side ----------------------------------------------------------------------------------


class StepContext:
    """What a handler gets: its step (``params``), the run, the instant the attempt started, and the fence."""

    def __init__(self, step: Step, token: uuid.UUID, now: datetime) -> None:
        self.step = step
        self.run = step.run
        self.token = token
        self.now = now
        self.params: dict[str, Any] = step.params
        self.attempt = step.attempts

    def _held(self) -> Q:
        return Q(pk=self.step.pk, lease_token=self.token, state=StepState.RUNNING,
                 run__state__in=[RunState.RUNNING, RunState.NEEDS_ATTENTION], lease_expires_at__gt=Now())

    @contextmanager
    def fenced(self) -> Iterator[None]:
        """A transaction that commits only while this worker holds the step (row-locked check first)."""
        with transaction.atomic():
            if not Step.objects.select_for_update().filter(self._held()).exists():
                raise LeaseLost(f"step {self.step.pk} is no longer held by this worker")
            yield

    def heartbeat(self) -> None:
        """Extend the lease during a long step; raises LeaseLost if it was already lost."""
        if not Step.objects.filter(self._held()).update(lease_expires_at=_lease_until()):
            raise LeaseLost(f"step {self.step.pk} is no longer held by this worker")

    def step_evidence(self, name: str) -> dict[str, Any]:
        """Evidence an earlier step of the same run recorded (e.g. the manifest's counts)."""
        row = Step.objects.filter(run_id=self.run.pk, name=name).values_list("evidence", flat=True).first()
        return row or {}


def advance(run_id: uuid.UUID | str, *, max_seconds: float | None = None) -> int:
    """Run every step of the run that can run now, one after another; returns how many completed.

    Safe to call any number of times, concurrently too. Past ``max_seconds`` it re-enqueues itself and
    returns, so a long run never outlives the django-q2 task timeout.
    """
    budget = max_seconds if max_seconds is not None else float(getattr(settings, "DSR_STEP_SLICE_SECONDS", 240))
    started = time.monotonic()
    done = 0
    while True:
        if time.monotonic() - started > budget:
            enqueue(run_id)
            return done
        claimed = _claim(run_id, now=timezone.now())
        if claimed is None:
            return done
        step, token = claimed
        if _execute(step, token):
            done += 1


def _runnable(run_id: uuid.UUID | str, now: datetime) -> Q:
    return Q(run_id=run_id) & (
        Q(state=StepState.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
        | Q(state=StepState.RUNNING, lease_expires_at__lt=Now())
    )


def _claim(run_id: uuid.UUID | str, *, now: datetime) -> tuple[Step, uuid.UUID] | None:
    with transaction.atomic():
        # Claims on one run are serialised by its row lock (SQLite serialises all writers anyway).
        run = StepRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.state not in (RunState.RUNNING, RunState.NEEDS_ATTENTION):
            return None
        while True:
            open_steps = Step.objects.filter(run=run, state__in=OPEN_STEP_STATES)
            head = open_steps.order_by("seq").values_list("seq", flat=True).first()
            if head is None:
                _finish_run(run, now)
                return None
            step = (Step.objects.select_related("run").filter(_runnable(run.pk, now), seq=head)
                    .order_by("id").first())
            if step is None:
                return None
            if step.state == StepState.RUNNING and step.attempts >= step.max_attempts:
                # Its worker died on the last allowed attempt: do not run it again.
                _dead_letter(step, now, step.last_error or "worker stopped during the last attempt")
                continue
            token = uuid.uuid4()
            Step.objects.filter(pk=step.pk).update(
                state=StepState.RUNNING, attempts=F("attempts") + 1, lease_token=token,
                lease_expires_at=_lease_until(), started_at=step.started_at or now)
            step.refresh_from_db()
            return step, token


def _finish_run(run: StepRun, now: datetime) -> None:
    if run.state == RunState.DONE:
        return
    run.state, run.finished_at = RunState.DONE, now
    run.save(update_fields=["state", "finished_at"])
    audit.record("run.completed", actor="system:steps", now=now, object_type="run", object_id=run.pk,
                 data={"kind": run.kind, "object_type": run.object_type, "object_id": run.object_id})


def _execute(step: Step, token: uuid.UUID) -> bool:
    now = timezone.now()
    ctx = StepContext(step, token, now)
    try:
        handler: Handler = import_string(step.handler)
        evidence = handler(ctx) or {}
    except LeaseLost:
        log.info("step %s lost its lease; leaving it to its new holder", step.pk)
        return False
    except Deferred as wait:
        _defer(ctx, wait)
        return False
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the step and retried or dead-lettered
        _fail(ctx, exc)
        return False
    try:
        with ctx.fenced():
            Step.objects.filter(pk=step.pk).update(
                state=StepState.DONE, completed_at=timezone.now(), evidence=evidence, last_error="",
                lease_token=None, lease_expires_at=None)
            audit.record("step.completed", actor="system:steps", now=timezone.now(), object_type="run",
                         object_id=step.run_id,
                         data={"step": step.name, "attempts": step.attempts, "evidence": _counts_only(evidence)})
    except LeaseLost:
        return False
    return True


def _counts_only(evidence: dict[str, Any]) -> dict[str, Any]:
    """The audit copy of evidence keeps numbers, booleans and short codes only."""
    return {k: v for k, v in evidence.items()
            if isinstance(v, bool | int | float) or (isinstance(v, str) and len(v) <= 64)}


def _safe_error(exc: BaseException) -> str:
    # Only our own StepError carries a message we vouch for; anything else is named by its class, since a
    # library's message may quote personal data (an address, a file name).
    if isinstance(exc, StepError):
        return f"{type(exc).__name__}: {exc}"[:200]
    return type(exc).__name__[:200]


def _fail(ctx: StepContext, exc: BaseException) -> None:
    log.warning("step %s (%s) failed on attempt %s: %s", ctx.step.pk, ctx.step.name, ctx.attempt, _safe_error(exc))
    now = timezone.now()
    try:
        with ctx.fenced():
            step = Step.objects.select_related("run").get(pk=ctx.step.pk)
            step.last_error = _safe_error(exc)
            if step.attempts >= step.max_attempts:
                _dead_letter(step, now, step.last_error)
                return
            step.state, step.not_before = StepState.PENDING, now + backoff(step.attempts)
            step.lease_token = step.lease_expires_at = None
            step.save(update_fields=["state", "not_before", "last_error", "lease_token", "lease_expires_at"])
            audit.record("step.failed", actor="system:steps", now=now, object_type="run", object_id=step.run_id,
                         data={"step": step.name, "attempt": step.attempts, "error": step.last_error,
                               "retry_at": step.not_before.isoformat()})
    except LeaseLost:
        pass


def _defer(ctx: StepContext, wait: Deferred) -> None:
    try:
        with ctx.fenced():
            Step.objects.filter(pk=ctx.step.pk).update(
                state=StepState.PENDING, not_before=wait.until, attempts=F("attempts") - 1,
                lease_token=None, lease_expires_at=None, last_error=(wait.reason or "")[:200])
    except LeaseLost:
        pass


def _dead_letter(step: Step, now: datetime, error: str) -> None:
    """Called inside a transaction holding the step: park it, flag the run, alert the approvers."""
    step.state, step.last_error = StepState.DEAD, error[:200]
    step.lease_token = step.lease_expires_at = None
    step.save(update_fields=["state", "last_error", "lease_token", "lease_expires_at"])
    StepRun.objects.filter(pk=step.run_id, state=RunState.RUNNING).update(state=RunState.NEEDS_ATTENTION)
    audit.record("step.dead", actor="system:steps", now=now, object_type="run", object_id=step.run_id,
                 data={"step": step.name, "attempts": step.attempts, "error": step.last_error})
    _alert_approvers(step, now)


def _alert_approvers(step: Step, now: datetime) -> None:
    from django.contrib.auth.models import User

    from dsr import emails
    from dsr.roles import Role

    context = {"run": step.run, "step": step, "base_url": settings.DSR_BASE_URL}
    addresses = (User.objects.filter(is_active=True, groups__name=Role.APPROVER).exclude(email="")
                 .values_list("email", flat=True).distinct())
    for address in addresses:
        emails.queue("step_dead_letter", to=address, context=context, now=now)


# --- the reconciler --------------------------------------------------------------------------------------


def due_run_ids(now: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Runs with a step that can run now: pending and due, or running on an expired lease (worker died,
    task lost), or runs whose steps are all done but which were never marked finished."""
    active = StepRun.objects.filter(state__in=[RunState.RUNNING, RunState.NEEDS_ATTENTION])
    # A pending step is due only at the head of its run: no open step with a lower seq still ahead of it.
    blocked = Exists(Step.objects.filter(run=OuterRef("run"), seq__lt=OuterRef("seq"), state__in=OPEN_STEP_STATES))
    due = (Step.objects.filter(run__in=active)
           .filter(Q(state=StepState.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now)) & ~blocked
                   | Q(state=StepState.RUNNING, lease_expires_at__lt=Now()))
           .values_list("run_id", flat=True).distinct()[:limit])
    finished = active.exclude(steps__state__in=OPEN_STEP_STATES).values_list("pk", flat=True)[:limit]
    return list(dict.fromkeys([*due, *finished]))


def reconcile(now: datetime) -> int:
    ids = due_run_ids(now)
    for run_id in ids:
        enqueue(run_id)
    return len(ids)
