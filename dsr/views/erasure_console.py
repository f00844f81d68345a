"""Console pages for erasure and processing flags (issue 9): approve an erasure (whole or chosen categories),
cancel it in its grace window, watch the cascade, record legal holds and another channel for a recipient, download
the certificate; complete objections, restrictions and consent withdrawals with their purposes, tell the subject
before a restriction is lifted, and lift flags. Each action calls one verb and redirects back to the case."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from dsr import certificates, erasure, processing, workflow
from dsr.deadlines import Kind
from dsr.models import Case, CaseState, DataCategory, Erasure, ErasureState, ProcessingFlag, RecipientNotice
from dsr.roles import Action, can
from dsr.views.staff import staff_view


def case_context(case: Case, user: User, now: datetime) -> dict[str, Any]:
    """What the case page shows about erasure and flags (called by staff.case_detail)."""
    kind = Kind(case.kind)
    work = can(user, Action.WORK) and case.is_open
    current = Erasure.objects.filter(case=case).first()
    status = erasure.status_of(current) if current else None
    for step in (status or {}).get("steps", []):
        step["pairs"] = sorted(step["counts"].items())  # a template cannot call .items() on a dict with "items"
    is_erasure = kind == Kind.ERASURE
    ready = bool(case.verified_at or case.forced_erasure_approved_by_id)
    holds = list(case.legal_holds.select_related("recorded_by")) if is_erasure else []
    flags = list(ProcessingFlag.objects.filter(subject_id=case.subject_id).order_by("-set_at")) \
        if case.subject_id and (kind in processing.FLAG_FOR_KIND) else []
    return {
        "erasure": status,
        "erasure_obj": current,
        "erasure_can": {
            "approve": work and is_erasure and ready and case.state != CaseState.PAUSED
            and (current is None or not current.is_active),
            "approve_waiting": work and is_erasure and not ready,
            "cancel": work and current is not None and current.state == ErasureState.GRACE,
            "hold": can(user, Action.APPROVE) and is_erasure and case.is_open
            and (current is None or current.state == ErasureState.GRACE),
            "other_channel": can(user, Action.WORK) and current is not None and current.is_active,
            "certificate": current is not None and current.state == ErasureState.COMPLETED,
        },
        "is_erasure_case": is_erasure,
        "holds": holds,
        "hold_grounds": erasure.hold_grounds_for(case) if is_erasure else [],
        "categories": DataCategory.choices,
        "flag_case": kind in processing.FLAG_FOR_KIND,
        "flags": flags,
        "flag_can_complete": work and kind in processing.FLAG_FOR_KIND and case.state != CaseState.PAUSED,
        "flag_can_act": can(user, Action.WORK),
        "flag_purposes": processing.register_purposes(),
        "flag_all_purposes": kind == Kind.RESTRICTION,
    }


def _act(request: HttpRequest, case_id: uuid.UUID, verb: Callable[[Case, datetime], object], done: str) -> HttpResponse:
    case = get_object_or_404(Case, pk=case_id)
    try:
        verb(case, timezone.now())
    except workflow.WorkflowError as exc:
        messages.error(request, f"{case.reference}: {exc}")
    else:
        messages.success(request, f"{case.reference}: {done}")
    return redirect("staff-case", case_id=case.pk)


@require_POST
@staff_view(Action.WORK)
def approve(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    categories = [c for c in request.POST.getlist("categories") if c]
    done = ("erasure approved for the chosen categories" if categories else "erasure approved") + \
        ": writes are stopped and it can be cancelled until the grace window ends."
    return _act(request, case_id, lambda c, now: erasure.approve_erasure(
        c, actor=request.user, now=now, categories=categories), done)


@require_POST
@staff_view(Action.WORK)
def cancel(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _act(request, case_id, lambda c, now: erasure.cancel_erasure(c, actor=request.user, now=now, reason=reason),
                "erasure cancelled: nothing was destroyed, writes are allowed again, the case is cancelled.")


@require_POST
@staff_view(Action.APPROVE)
def hold(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    p = request.POST
    return _act(request, case_id, lambda c, now: erasure.record_hold(
        c, category=p.get("category", ""), ground=p.get("ground", ""), note=p.get("note", ""), actor=request.user,
        now=now), "legal hold recorded: that category will be kept and named on the certificate.")


@require_POST
@staff_view(Action.WORK)
def other_channel(request: HttpRequest, case_id: uuid.UUID, notice_id: uuid.UUID) -> HttpResponse:
    notice = get_object_or_404(RecipientNotice, pk=notice_id, erasure__case_id=case_id)
    note = request.POST.get("note", "")
    return _act(request, case_id, lambda c, now: erasure.record_other_channel(
        notice, note=note, actor=request.user, now=now), "recorded: the recipient counts as told.")


@require_safe
@staff_view(Action.VIEW)
def certificate(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    found = get_object_or_404(Erasure, case_id=case_id, state=ErasureState.COMPLETED)
    response = HttpResponse(certificates.render(found), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificates.filename(found)}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@staff_view(Action.WORK)
def complete_flags(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    purposes = [p for p in request.POST.getlist("purposes") if p]
    return _act(request, case_id, lambda c, now: processing.complete_with_flags(
        c, purposes=purposes, actor=request.user, now=now),
        "completed: the platform's processing answer now stops the chosen purposes.")


@require_POST
@staff_view(Action.WORK)
def flag_inform(request: HttpRequest, case_id: uuid.UUID, flag_id: int) -> HttpResponse:
    flag = get_object_or_404(ProcessingFlag, pk=flag_id, case_id=case_id)
    channel = request.POST.get("channel", "email")
    return _act(request, case_id, lambda c, now: processing.inform_before_lifting(
        flag, actor=request.user, now=now, channel=channel), "the subject has been told; the restriction may now be "
        "lifted.")


@require_POST
@staff_view(Action.WORK)
def flag_lift(request: HttpRequest, case_id: uuid.UUID, flag_id: int) -> HttpResponse:
    flag = get_object_or_404(ProcessingFlag, pk=flag_id, case_id=case_id)
    reason = request.POST.get("reason", "")
    return _act(request, case_id, lambda c, now: processing.lift_flag(flag, reason=reason, actor=request.user,
                                                                      now=now), "flag lifted.")
