"""The takedown desk in the operator console (issue 13). Same rules as dsr/views/staff.py: ``staff_view(action)``
guards every view; actions are POST-only, call ONE verb with ``actor=request.user`` and ``now`` read here, flash
the outcome and redirect (post/redirect/get)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from dsr import (
    audit,
    hour_clocks,
    takedown_copies,
    takedown_intake,
    takedown_notices,
    takedown_reports,
    takedowns,
    workflow,
)
from dsr.models import DataItem, Event
from dsr.models.takedowns import (
    OPEN_TAKEDOWN_STATES,
    Complaint,
    RefusalGround,
    Takedown,
    TakedownItem,
    TakedownState,
)
from dsr.roles import Action, can
from dsr.views.staff import staff_view


def queue_rows(now: datetime, limit: int = 200) -> list[Takedown]:
    """Open takedowns for the top of the queue: minors first, then the earliest hour clock; each with its due
    instant in the operator's zone and how long is left."""
    zone = takedowns.operator_zone()
    rows = list(Takedown.objects.queue()[:limit])
    for td in rows:
        td.due_local = takedowns.shown(td.due_at, zone) if td.due_at else None
        if td.due_at:
            left = hour_clocks.margin(td.due_at, now)
            td.left_text = hour_clocks.describe_margin(left).replace("to spare", "left")
            td.urgency_class = "overdue" if left < timedelta(0) else "at-risk" if left < timedelta(hours=24) else ""
        else:
            td.left_text, td.urgency_class = "clock not started", ""
    return rows


@require_safe
@staff_view(Action.VIEW)
def takedown_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    closed = Takedown.objects.exclude(state__in=OPEN_TAKEDOWN_STATES).order_by(
        "-closed_at", "-received_at")[:50]
    return render(request, "staff/takedowns.html", {"open_rows": queue_rows(now), "closed": closed,
                                                    "zone": takedowns.operator_zone(), "now": now})


def _items_with_categories(rows: QuerySet[TakedownItem]) -> list[TakedownItem]:
    rows = list(rows)
    live = set(DataItem.objects.live().filter(pk__in=[r.item_id for r in rows]).values_list("pk", flat=True))
    for r in rows:
        r.held = r.item_id in live
    return rows


@require_safe
@staff_view(Action.VIEW)
def takedown_detail(request: HttpRequest, takedown_id: uuid.UUID) -> HttpResponse:
    now = timezone.now()
    td = get_object_or_404(Takedown.objects.select_related("decided_by", "erasure_case", "notifier"), pk=takedown_id)
    items = _items_with_categories(td.items.order_by("created_at", "id"))
    reference_ids = {i.item_id for i in items if i.found_by == TakedownItem.FoundBy.REFERENCE}
    candidates = takedowns.likeness_candidates(td) if td.state == TakedownState.UNDER_REVIEW else []
    events = list(Event.objects.for_object("takedown", td.pk).order_by("id"))
    work = can(request.user, Action.WORK)
    threshold = settings.DSR_TAKEDOWN_ABUSE_THRESHOLD
    return render(request, "staff/takedown.html", {
        "td": td, "now": now, "zone": takedowns.operator_zone(),
        "missing": takedown_intake.missing_elements(td) if td.state == TakedownState.INCOMPLETE else [],
        "clocks": takedowns.clocks_view(td), "items": items,
        "located": [i for i in items if i.role != TakedownItem.Role.COPY],
        "copies": [i for i in items if i.role == TakedownItem.Role.COPY],
        "listed_copies": [i for i in items
                          if i.role == TakedownItem.Role.COPY and i.state == TakedownItem.State.LISTED],
        "candidates": candidates, "preselected": reference_ids,
        "grounds": RefusalGround.choices, "notices": td.notices.select_related("message").order_by("created_at"),
        "complaints": td.complaints.order_by("opened_at"), "reuploads": td.reupload_blocks.order_by("at"),
        "removals": td.removals.order_by("batch"), "events": events,
        "can_work": work, "can_decide": work and td.state == TakedownState.UNDER_REVIEW,
        "can_mark_abusive": work and td.notifier is not None and td.notifier.manifestly_unfounded >= threshold
        and not td.notifier.is_abusive(now),
        "notifier_abusive": td.notifier is not None and td.notifier.is_abusive(now), "abuse_threshold": threshold,
        "received_local": takedowns.shown(td.received_at, takedowns.operator_zone()),
    })


def _back(td_id: uuid.UUID) -> HttpResponse:
    return redirect("staff-takedown", takedown_id=td_id)


def _ids(values: list[str]) -> list[uuid.UUID]:
    out = []
    for v in values:
        try:
            out.append(uuid.UUID(v))
        except ValueError as exc:
            raise takedowns.TakedownError("an item id is not valid") from exc
    return out


@require_POST
@staff_view(Action.WORK)
def decide(request: HttpRequest, takedown_id: uuid.UUID) -> HttpResponse:
    td = get_object_or_404(Takedown, pk=takedown_id)
    valid = request.POST.get("valid")
    intimate = request.POST.get("intimate")
    try:
        if valid not in ("yes", "no") or (valid == "yes" and intimate not in ("yes", "no")):
            raise takedowns.TakedownError("say whether the request is valid and whether the depiction is intimate")
        extra = [v.strip() for v in request.POST.get("extra_items", "").replace(",", " ").split() if v.strip()]
        takedowns.decide_takedown(
            td, valid=valid == "yes", intimate=intimate == "yes", reason=request.POST.get("reason", ""),
            ground=request.POST.get("ground", ""), likeness_item_ids=_ids(request.POST.getlist("likeness")),
            extra_item_ids=_ids(extra), actor=request.user, now=timezone.now())
    except takedowns.TakedownError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Decision recorded." + (" Removal started." if valid == "yes" else
                                                          " The requester is told, with the reasons."))
    return _back(td.pk)


@require_POST
@staff_view(Action.WORK)
def copies_action(request: HttpRequest, takedown_id: uuid.UUID) -> HttpResponse:
    td = get_object_or_404(Takedown, pk=takedown_id)
    now = timezone.now()
    try:
        ids = _ids(request.POST.getlist("items"))
        if request.POST.get("action") == "confirm":
            removal = takedown_copies.confirm_copies(td, ids, actor=request.user, now=now)
            messages.success(request, f"Removing {len(ids)} cop{'y' if len(ids) == 1 else 'ies'} (batch "
                                      f"{removal.batch}).")
        elif request.POST.get("action") == "dismiss":
            n = takedown_copies.dismiss_copies(td, ids, reason=request.POST.get("reason", ""), actor=request.user,
                                               now=now)
            messages.success(request, f"{n} listed item{'s' if n != 1 else ''} dismissed as not a copy.")
        else:
            raise takedowns.TakedownError("choose to confirm or to dismiss")
    except takedowns.TakedownError as exc:
        messages.error(request, str(exc))
    return _back(td.pk)


@require_POST
@staff_view(Action.WORK)
def sweep(request: HttpRequest, takedown_id: uuid.UUID) -> HttpResponse:
    td = get_object_or_404(Takedown, pk=takedown_id)
    try:
        n = takedown_copies.sweep_again(td, actor=request.user, now=timezone.now())
    except takedowns.TakedownError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Copy sweep done: {n} new match{'es' if n != 1 else ''} listed.")
    return _back(td.pk)


@require_POST
@staff_view(Action.WORK)
def withdraw(request: HttpRequest, takedown_id: uuid.UUID) -> HttpResponse:
    td = get_object_or_404(Takedown, pk=takedown_id)
    try:
        takedowns.withdraw_takedown(td, actor=request.user, now=timezone.now())
    except takedowns.TakedownError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Recorded as withdrawn by the requester; the block is lifted.")
    return _back(td.pk)


@require_POST
@staff_view(Action.WORK)
def notifier_action(request: HttpRequest, takedown_id: uuid.UUID) -> HttpResponse:
    td = get_object_or_404(Takedown, pk=takedown_id)
    now = timezone.now()
    try:
        if request.POST.get("action") == "mark":
            takedown_notices.mark_notifier_abusive(td, reason=request.POST.get("reason", ""), actor=request.user,
                                                   now=now)
            messages.success(request, "Notifier marked abusive: their next requests are reviewed without the "
                                      "automatic block.")
        elif request.POST.get("action") == "lift":
            takedown_notices.lift_notifier_abuse(td, actor=request.user, now=now)
            messages.success(request, "The notifier is no longer marked abusive.")
        else:
            raise takedowns.TakedownError("choose to mark or to lift")
    except takedowns.TakedownError as exc:
        messages.error(request, str(exc))
    return _back(td.pk)


@require_POST
@staff_view(Action.WORK)
def complaint_decide(request: HttpRequest, complaint_id: uuid.UUID) -> HttpResponse:
    c = get_object_or_404(Complaint.objects.select_related("takedown"), pk=complaint_id)
    outcome = request.POST.get("outcome")
    try:
        if outcome not in ("upheld", "rejected"):
            raise takedowns.TakedownError("choose upheld or rejected")
        if c.takedown.decided_by_id == request.user.pk:
            raise takedowns.TakedownError("a complaint is reviewed by someone who did not take the decision")
        takedown_notices.decide_complaint(c, upheld=outcome == "upheld", reason=request.POST.get("reason", ""),
                                   actor=request.user, now=timezone.now())
    except takedowns.TakedownError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Complaint outcome recorded; the complainant is told.")
    return _back(c.takedown_id)


@require_safe
@staff_view(Action.WORK)
def reference_image(request: HttpRequest, takedown_id: uuid.UUID) -> HttpResponse:
    """The requester's reference image, decrypted for the operator reviewing the request (audited)."""
    td = get_object_or_404(Takedown, pk=takedown_id)
    try:
        data = takedown_intake.open_reference(td)
    except takedowns.TakedownError as exc:
        messages.error(request, str(exc))
        return _back(td.pk)
    audit.record("takedown.reference_viewed", actor=workflow.actor_label(request.user), now=timezone.now(),
                 object_type="takedown", object_id=td.pk, data={"number": td.number})
    response = HttpResponse(data, content_type=td.ref_content_type or "application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{td.number}-reference"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
@staff_view(Action.VIEW)
def evidence_pdf(request: HttpRequest, takedown_id: uuid.UUID) -> HttpResponse:
    td = get_object_or_404(Takedown.objects.select_related("decided_by", "erasure_case"), pk=takedown_id)
    now = timezone.now()
    body = takedown_reports.evidence_pdf(td, now=now)
    audit.record("takedown.evidence_exported", actor=workflow.actor_label(request.user), now=now,
                 object_type="takedown", object_id=td.pk, data={"number": td.number, "bytes": len(body)})
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="takedown-{td.number}-evidence.pdf"'
    response["Cache-Control"] = "no-store"
    return response


# --- figures ------------------------------------------------------------------------------------------------------


def _period(request: HttpRequest, now: datetime) -> tuple[datetime, datetime, str]:
    """?start=YYYY-MM-DD&end=YYYY-MM-DD (UTC days, end inclusive); default the last 30 days."""
    def day(name: str) -> datetime | None:
        raw = request.GET.get(name, "")
        try:
            return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC) if raw else None
        except ValueError:
            return None

    start, end = day("start"), day("end")
    error = ""
    if (request.GET.get("start") and start is None) or (request.GET.get("end") and end is None):
        error = "Dates are YYYY-MM-DD."
    end = (end + timedelta(days=1)) if end else (now.replace(hour=0, minute=0, second=0, microsecond=0)
                                                 + timedelta(days=1))
    start = start or end - timedelta(days=30)
    if start >= end or end - start > timedelta(days=3660):
        error, start, end = "The period must run forwards and span at most ten years.", end - timedelta(days=30), end
    return start, end, error


@require_safe
@staff_view(Action.REPORTS)
def metrics_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    start, end, error = _period(request, now)
    m = takedown_reports.metrics(start, end)
    return render(request, "staff/takedown_metrics.html", {"m": m, "error": error, "start": start,
                                                           "end_inclusive": end - timedelta(days=1)},
                  status=400 if error else 200)


@require_safe
@staff_view(Action.REPORTS)
def metrics_csv(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    start, end, error = _period(request, now)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    m = takedown_reports.metrics(start, end)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["metric", "value"])
    writer.writerows(m.rows())
    response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (f'attachment; filename="takedown-metrics-{start:%Y%m%d}-'
                                       f'{end - timedelta(days=1):%Y%m%d}.csv"')
    return response


def context_for_queue(now: datetime) -> dict[str, Any]:
    """For the main queue page: the hour clocks shown above the day clocks."""
    return {"takedown_rows": queue_rows(now, limit=50), "takedown_zone": takedowns.operator_zone()}
