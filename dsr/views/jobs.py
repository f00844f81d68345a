"""Console pages for durable runs (dsr/steps.py): what is running, what failed and needs a person, and the two
things a person can do about a failed step — retry it once the cause is fixed, or record how it was done instead."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case as When_
from django.db.models import Count, IntegerField, Q, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from dsr import steps
from dsr.models import Event, RunState, Step, StepRun, StepState
from dsr.roles import Action
from dsr.views.staff import PAGE_SIZE, _choice, staff_view

STATE_FILTERS = {s.value for s in RunState}


@require_safe
@staff_view(Action.VIEW)
def job_list(request: HttpRequest) -> HttpResponse:
    state = _choice(request.GET.get("state"), STATE_FILTERS)
    qs = StepRun.objects.annotate(
        n_steps=Count("steps"), n_done=Count("steps", filter=Q(steps__state=StepState.DONE)),
        n_dead=Count("steps", filter=Q(steps__state=StepState.DEAD)),
        rank=When_(When(state=RunState.NEEDS_ATTENTION, then=Value(0)), When(state=RunState.RUNNING, then=Value(1)),
                   default=Value(2), output_field=IntegerField()),
    ).order_by("rank", "-created_at", "id")
    counts = StepRun.objects.aggregate(**{s.value: Count("pk", filter=Q(state=s)) for s in RunState})
    if state:
        qs = qs.filter(state=state)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "staff/jobs.html", {
        "page": page, "runs": page.object_list, "state": state, "counts": counts,
        "page_links": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "ellipsis": Paginator.ELLIPSIS,
    })


@require_safe
@staff_view(Action.VIEW)
def job_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = get_object_or_404(StepRun, pk=run_id)
    events = Event.objects.for_object("run", run.pk).order_by("id")
    return render(request, "staff/job.html", {"run": run, "steps": run.steps.order_by("seq", "id"),
                                              "events": events, "now": timezone.now()})


def _step_action(request: HttpRequest, run_id: uuid.UUID, step_id: int, verb, done: str) -> HttpResponse:
    step = get_object_or_404(Step, pk=step_id, run_id=run_id)
    try:
        verb(step)
    except steps.StepError as exc:
        messages.error(request, f"{step.name}: {exc}")
    else:
        messages.success(request, f"{step.name}: {done}")
    return redirect("staff-job", run_id=run_id)


@require_POST
@staff_view(Action.WORK)
def job_step_retry(request: HttpRequest, run_id: uuid.UUID, step_id: int) -> HttpResponse:
    return _step_action(request, run_id, step_id, lambda s: steps.retry_step(
        s, actor=f"staff:{request.user.pk}", now=timezone.now()), "sent round again")


@require_POST
@staff_view(Action.WORK)
def job_step_resolve(request: HttpRequest, run_id: uuid.UUID, step_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _step_action(request, run_id, step_id, lambda s: steps.resolve_step(
        s, note=note, actor=f"staff:{request.user.pk}", now=timezone.now()), "recorded as done by other means")
