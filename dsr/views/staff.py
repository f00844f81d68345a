"""Operator console (server-rendered, works without JavaScript).

Every view is wrapped in ``staff_view(action)``: anonymous users go to the login page, signed-in users
without the capability get a 403 page and nothing changes. Action views accept POST only (CSRF-checked by
the middleware), parse the form, call ONE workflow verb with ``actor=request.user`` and ``now`` read here at
the edge, flash the outcome and redirect back to the case (post/redirect/get).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from dsr import deadlines, exports, holders, workflow
from dsr.deadlines import Kind, Purpose, Regime
from dsr.models import Case, CaseDeadline, CaseState, Channel, DataItem, Event, OutboundMessage, Outcome
from dsr.models.cases import KIND_CHOICES, OPEN_STATES, REGIME_LABELS
from dsr.models.vault import derived_item_ids
from dsr.roles import Action, Role, can, roles_of

PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100, 200)
RESPONSE_PURPOSES = (Purpose.RESPONSE, Purpose.EXTENDED_RESPONSE, Purpose.SUPPRESSION)
WORKING_ROLES = (Role.OPERATOR, Role.APPROVER)
UNFOUNDED_CHOICES = [("unfounded", "Manifestly unfounded"), ("excessive", "Manifestly excessive")]
OUTCOME_CHOICES = [(Outcome.COMPLIED_FULL.value, Outcome.COMPLIED_FULL.label),
                   (Outcome.COMPLIED_PARTIAL.value, Outcome.COMPLIED_PARTIAL.label)]
QUEUE_COLUMNS = ("id", "reference", "kind", "regimes", "state", "received_at", "due_on", "due_rule", "due_regime",
                 "intake", "filed_by",
                 "assignee__id", "assignee__username", "assignee__first_name", "assignee__last_name")


# --- access control ----------------------------------------------------------------------------------


def console_context(request: HttpRequest) -> dict[str, Any]:
    """Roles and capabilities of the signed-in user, for every template (a context processor)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from dsr.models import StepRun

    return {
        "staff_roles": sorted(r.value for r in roles_of(user)),
        "staff_can": {a.value: can(user, a) for a in Action},
        # Shown in the navigation: a job stopped on a failed step waits for a person (dsr/steps.py).
        "jobs_needing_attention": StepRun.objects.needs_attention().count() if can(user, Action.VIEW) else 0,
    }


def forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/403.html", status=403)


def staff_view(action: Action) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous → login; signed in without ``action`` → 403 before the view runs."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not can(request.user, action):  # type: ignore[arg-type]
                return forbidden(request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def home(request: HttpRequest) -> HttpResponse:
    return redirect("staff-queue")


# --- small helpers ----------------------------------------------------------------------------------


def _today(now: datetime) -> date:
    return workflow.local_today(now)


def mask_email(address: str) -> str:
    """'alice@example.com' → 'a***@example.com' (enough to tell messages apart, not to read the address)."""
    local, at, domain = (address or "").partition("@")
    if not at:
        return (address[:1] + "***") if address else ""
    return f"{local[:1]}***@{domain}"


def working_staff() -> QuerySet[User]:
    """Active users who may be given cases (operators and approvers)."""
    return (User.objects.filter(is_active=True, groups__name__in=[r.value for r in WORKING_ROLES])
            .distinct().order_by("username").only("id", "username", "first_name", "last_name"))


def _urgency(due_on: date, today: date, at_risk_days: int) -> tuple[str, int]:
    """('overdue', days late) / ('at-risk', days left) / ('', days left)."""
    if due_on < today:
        return "overdue", (today - due_on).days
    left = (due_on - today).days
    return ("at-risk" if left <= at_risk_days else ""), left


# --- queue ------------------------------------------------------------------------------------------


def _choice(value: str | None, allowed: set[str]) -> str:
    return value if value in allowed else ""


def parse_id(raw: str | None) -> int | None:
    """A row id from a form or query: ASCII digits only, at most 18 (fits a bigint), else None. str.isdigit()
    alone is not enough: '²'.isdigit() is True but int('²') raises, and int('３') quietly reads 3."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None


@require_safe
@staff_view(Action.VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    today = _today(now)
    at_risk_days = settings.DSR_AT_RISK_DAYS
    staff = list(working_staff())
    staff_ids = {str(u.pk) for u in staff}

    f = {
        "kind": _choice(request.GET.get("kind"), {k for k, _ in KIND_CHOICES}),
        "regime": _choice(request.GET.get("regime"), {r.value for r in Regime}),
        "state": _choice(request.GET.get("state"), {s.value for s in OPEN_STATES}),
        "assignee": _choice(request.GET.get("assignee"), staff_ids | {"unassigned"}),
        "urgency": _choice(request.GET.get("urgency"), {"overdue", "at-risk"}),
    }
    qs = Case.objects.queue()
    if f["kind"]:
        qs = qs.filter(kind=f["kind"])
    if f["regime"]:
        qs = qs.filter(Q(regimes__icontains=f'"{f["regime"]}"'))
    if f["state"]:
        qs = qs.filter(state=f["state"])
    if f["assignee"] == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif f["assignee"]:
        qs = qs.filter(assignee_id=int(f["assignee"]))
    horizon = today + timedelta(days=at_risk_days)
    counts = qs.aggregate(
        total=Count("pk"),
        overdue=Count("pk", filter=Q(due_on__lt=today)),
        at_risk=Count("pk", filter=Q(due_on__gte=today, due_on__lte=horizon)),
    )
    if f["urgency"] == "overdue":
        qs = qs.filter(due_on__lt=today)
    elif f["urgency"] == "at-risk":
        qs = qs.filter(due_on__gte=today, due_on__lte=horizon)

    per_page = int(request.GET["per_page"]) if request.GET.get("per_page", "") in {str(n) for n in PAGE_SIZES} \
        else PAGE_SIZE
    page = Paginator(qs.select_related("assignee").only(*QUEUE_COLUMNS), per_page).get_page(request.GET.get("page"))
    for case in page.object_list:
        case.urgency_class, case.urgency_days = _urgency(case.due_on, today, at_risk_days)
        case.received_local = workflow.local_today(case.received_at)
    from dsr.views.takedowns_staff import context_for_queue  # hour clocks above day clocks (issue 13)

    return render(request, "staff/queue.html", {
        **context_for_queue(now),
        "page": page,
        "page_links": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "ellipsis": Paginator.ELLIPSIS,
        "cases": page.object_list,
        "counts": counts,
        "filters": f,
        "filtered": any(f.values()),
        "today": today,
        "at_risk_days": at_risk_days,
        "per_page": per_page,
        "page_sizes": PAGE_SIZES,
        "kind_choices": KIND_CHOICES,
        "regime_choices": [(r.value, REGIME_LABELS[r]) for r in Regime],
        "state_choices": [(s.value, s.label) for s in OPEN_STATES],
        "staff": staff,
    })


# --- case page --------------------------------------------------------------------------------------


def _deadline_status(row: CaseDeadline, case: Case, now: datetime, at_risk_days: int) -> tuple[str, str]:
    """(css class, text) for one date: met, no longer running, overdue, at risk or open."""
    if row.met_at:
        late = workflow.local_today(row.met_at, row.regime) > row.due_on
        return ("late" if late else "met"), f"Met {row.met_at:%-d %b %Y}" + (" (late)" if late else "")
    if row.superseded_at:
        return "superseded", f"Superseded {row.superseded_at:%-d %b %Y}"
    if not case.is_open:
        return "closed", "Not met (case closed)"
    cls, days = _urgency(row.due_on, workflow.local_today(now, row.regime), at_risk_days)
    if row.purpose == Purpose.EXTENSION_NOTICE:
        # Not a duty unless the case is extended: the last day on which an extension can be notified.
        if case.extended_at:
            return "met", "Not needed"
        return ("closed", "Passed · no extension possible") if cls == "overdue" else \
            ("open", f"Last day to extend · {days} day{'s' if days != 1 else ''} left")
    if cls == "overdue":
        return cls, f"Overdue by {days} day{'s' if days != 1 else ''}"
    if cls == "at-risk":
        return cls, f"At risk · {days} day{'s' if days != 1 else ''} left"
    return "open", f"Open · {days} days left"


def _available(case: Case, user: User, now: datetime) -> dict[str, bool]:
    """Which action forms to show: the user's capability and what the case's state allows. The workflow
    verbs check again; this only avoids offering buttons that cannot work."""
    work = can(user, Action.WORK) and case.is_open
    pause_too_late = work and workflow.passed_response(case, now) is not None
    paused = case.state == CaseState.PAUSED
    kind = Kind(case.kind)
    regimes = list(case.regimes)
    return {
        "any": work or (can(user, Action.APPROVE) and case.is_open),
        "assign": work,
        "request_verification": work and not case.verified_at and kind not in workflow.NO_VERIFICATION_KINDS
        and case.state in (CaseState.RECEIVED, CaseState.IN_PROGRESS, CaseState.EXTENDED),
        "verify": work and not case.verified_at,
        "acknowledge": work and not case.acknowledged_at,
        "extend": work and not case.extended_at and not paused
        and all(deadlines.can_extend(r, kind) for r in regimes),
        "pause": work and not paused and kind not in workflow.IMMEDIATE_KINDS
        and all(deadlines.can_pause(r) for r in regimes) and not pause_too_late,
        "pause_forbidden": work and not paused and not all(deadlines.can_pause(r) for r in regimes),
        "pause_too_late": work and not paused and pause_too_late and all(deadlines.can_pause(r) for r in regimes)
        and kind not in workflow.IMMEDIATE_KINDS,
        "relevant_time": work and not paused and Regime.UK_GDPR.value in regimes,
        "resume": work and paused,
        "unfounded": work,
        "refuse": work and kind not in (Kind.DIRECT_MARKETING_OBJECTION, Kind.CONSENT_WITHDRAWAL),
        # Erasures complete by themselves (dsr/erasure.py); objections, restrictions and withdrawals with their
        # flags (dsr/processing.py); access and portability with their export (issue 10).
        "complete": work and not paused and case.kind not in ("access", "portability")
        and kind not in workflow.SELF_COMPLETING_KINDS | workflow.FLAG_KINDS,
        "export": work and not paused and case.kind in ("access", "portability") and bool(case.verified_at),
        "cancel": work,
        "request_forced_erasure": work and kind == Kind.ERASURE and not case.forced_erasure_requested_by_id,
        "approve_forced_erasure": can(user, Action.APPROVE) and case.is_open
        and case.forced_erasure_requested_by_id is not None and not case.forced_erasure_approved_by_id,
    }


def _staff_names(events: list[Event]) -> dict[str, str]:
    """'staff:<id>' → username for the actors and assignees named in these events (one query)."""
    ids = {e.actor.split(":", 1)[1] for e in events if e.actor.startswith("staff:")}
    ids |= {str(e.data["assignee"]) for e in events if isinstance(e.data.get("assignee"), int)}
    pks = {pk for pk in map(parse_id, ids) if pk is not None}
    users = User.objects.filter(pk__in=pks).only("id", "username") if pks else []
    return {f"staff:{u.pk}": u.username for u in users}


def _event_data(ev: Event, names: dict[str, str]) -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for key, value in ev.data.items():
        if key == "assignee":
            value = names.get(f"staff:{value}", value) if value is not None else "nobody"
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        items.append((key, value))
    return items


@require_safe
@staff_view(Action.VIEW)
def case_detail(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    now = timezone.now()
    at_risk_days = settings.DSR_AT_RISK_DAYS
    case = get_object_or_404(
        Case.objects.select_related("assignee", "verified_by", "subject", "forced_erasure_requested_by",
                                    "forced_erasure_approved_by"),
        pk=case_id,
    )
    rows = list(case.deadlines.order_by("due_on", "regime", "purpose", "id"))
    for row in rows:
        row.status_class, row.status_text = _deadline_status(row, case, now, at_risk_days)
        row.regime_label = REGIME_LABELS.get(Regime(row.regime), row.regime)
        row.purpose_label = row.purpose.replace("_", " ").capitalize()
        row.governing = (row.superseded_at is None and row.purpose in RESPONSE_PURPOSES and row.due_on == case.due_on
                         and row.rule == case.due_rule and row.regime == case.due_regime)
    current = [r for r in rows if r.superseded_at is None]
    superseded = sorted((r for r in rows if r.superseded_at is not None), key=lambda r: (r.superseded_at, r.due_on))

    events = list(Event.objects.for_object("case", case.pk).order_by("id"))
    names = _staff_names(events)
    for ev in events:
        ev.actor_label = names.get(ev.actor, ev.actor)
        ev.data_items = _event_data(ev, names)

    subject = case.subject
    holdings: list[tuple[str, list[tuple[str, int]]]] = []
    derived = 0
    if subject is not None:
        holdings = [(name, sorted((cat.replace("_", " "), n) for cat, n in counts.items()))
                    for name, counts in holders.describe(subject).items()]
        own = DataItem.objects.of_subject(subject).values_list("pk", flat=True)
        derived = len(derived_item_ids(list(own)))

    today = _today(now)
    urgency, urgency_days = _urgency(case.due_on, today, at_risk_days) if case.is_open else ("", 0)
    grounds = workflow.grounds_for(case)
    ctx = {
        "case": case,
        "current_deadlines": current,
        "superseded_deadlines": superseded,
        "events": events,
        "outbox": list(case.messages.order_by("created_at", "id")),
        "subject": subject,
        "subject_email_masked": mask_email(subject.email) if subject and subject.email else "",
        "holdings": holdings,
        "derived_count": derived,
        "received_local": workflow.local_today(case.received_at),
        "controller_tz": workflow.controller_time_zone(),
        # which calendar each regime's dates were computed with (stored at submission; older cases: settings)
        "clock": [{**c, "regime_label": REGIME_LABELS.get(Regime(c["regime"]), c["regime"])}
                  for c in (case.clock or workflow.calendars_in_use(case.regimes))],
        "clock_from_settings": not case.clock,
        "today": today,
        "urgency": urgency,
        "urgency_days": urgency_days,
        "can": _available(case, request.user, now),  # type: ignore[arg-type]
        # issue 10: the access/portability package's state, its build job, and who may download it
        "export": exports.export_status(case) if case.kind in exports.EXPORT_KINDS else None,
        "package_run": getattr(exports.package_for(case), "run_id", None),
        "can_download": can(request.user, Action.WORK),
        "pause_grounds": list(workflow.PAUSE_GROUNDS.items()),
        "pause_ground_label": workflow.PAUSE_GROUNDS.get(case.pause_ground, ""),
        "relevant_what": list(deadlines.RELEVANT_TIME_WHAT.items()),
        "uk_regime": Regime.UK_GDPR.value in case.regimes,
        "uk_access": Regime.UK_GDPR.value in case.regimes and case.kind == Kind.ACCESS,
        "staff": list(working_staff()),
        # opt-out / limit requests are never verified (C-OPT / C-LIM): only "not required" fits them
        "verification_methods": [(k, v) for k, v in workflow.VERIFICATION_METHODS.items()
                                 if (k == "not_required") == (Kind(case.kind) in workflow.NO_VERIFICATION_KINDS)
                                 and k != "platform_account"],  # only the platform's token attests its sign-in
        "state_before_pause": CaseState(case.state_before_pause).label if case.state_before_pause else "",
        "verification_label": workflow.VERIFICATION_METHODS.get(case.verification_method, case.verification_method),
        "channels": Channel.choices,
        "unfounded_choices": UNFOUNDED_CHOICES,
        "outcome_choices": OUTCOME_CHOICES,
        "grounds": grounds,
        "refusal_ground_label": getattr(workflow.GROUNDS_BY_CODE.get(case.refusal_ground), "label",
                                        case.refusal_ground),
    }
    from dsr.views import portal_console  # the portal's panel (issue 11)

    ctx.update(portal_console.case_context(case))

    from dsr.views import erasure_console  # issue 9: erasure cascade and processing flags

    ctx.update(erasure_console.case_context(case, request.user, now))  # type: ignore[arg-type]
    return render(request, "staff/case.html", ctx)


# --- actions (POST → one verb → redirect) ----------------------------------------------------------


def _act(request: HttpRequest, case_id: uuid.UUID, verb: Callable[[Case, datetime], object], done: str) -> HttpResponse:
    case = get_object_or_404(Case, pk=case_id)
    try:
        verb(case, timezone.now())
    except workflow.WorkflowError as exc:
        messages.error(request, f"{case.reference}: {exc}")
    else:
        messages.success(request, f"{case.reference}: {done}")
    return redirect("staff-case", case_id=case.pk)


def _post(request: HttpRequest, name: str) -> str:
    return request.POST.get(name, "")


@require_POST
@staff_view(Action.WORK)
def case_assign(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    raw = _post(request, "assignee")
    assignee: User | None = None
    if raw:
        pk = parse_id(raw)
        assignee = working_staff().filter(pk=pk).first() if pk is not None else None
        if assignee is None:
            messages.error(request, "Choose an active operator or approver.")
            return redirect("staff-case", case_id=case_id)
    done = f"assigned to {assignee.username}." if assignee else "unassigned."
    return _act(request, case_id, lambda c, now: workflow.assign_case(
        c, assignee=assignee, actor=request.user, now=now), done)


@require_POST
@staff_view(Action.WORK)
def case_request_verification(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    return _act(request, case_id, lambda c, now: workflow.request_verification(c, actor=request.user, now=now),
                "identity verification requested; the case is awaiting verification.")


@require_POST
@staff_view(Action.WORK)
def case_verify(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    method = _post(request, "method")
    return _act(request, case_id, lambda c, now: workflow.verify_identity(
        c, method=method, actor=request.user, now=now), "identity verification recorded.")  # type: ignore[arg-type]


@require_POST
@staff_view(Action.WORK)
def case_acknowledge(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    channel = _post(request, "channel")
    if channel not in Channel.values:
        messages.error(request, "Choose how receipt was acknowledged.")
        return redirect("staff-case", case_id=case_id)
    return _act(request, case_id, lambda c, now: workflow.record_acknowledgement(
        c, channel=channel, actor=request.user, now=now), "acknowledgement recorded.")


@require_POST
@staff_view(Action.WORK)
def case_extend(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    reason = _post(request, "reason")
    return _act(request, case_id, lambda c, now: workflow.extend_case(c, reason=reason, actor=request.user, now=now),
                "extended; the extension notice is in the outbox.")


@require_POST
@staff_view(Action.WORK)
def case_pause(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    ground, justification = _post(request, "ground"), _post(request, "justification")
    legal_basis = _post(request, "legal_basis")
    return _act(request, case_id, lambda c, now: workflow.pause_case(
        c, ground=ground, justification=justification, legal_basis=legal_basis, actor=request.user, now=now),
        "paused; the clock is stopped.")


def _uk_local_instant(raw: str) -> datetime | None:
    """A console date-time (``datetime-local``, UK time as the form says) as an aware instant, or None."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(deadlines.time_zone_for(Regime.UK_GDPR, workflow.clock_options())))
    return value


@require_POST
@staff_view(Action.WORK)
def case_relevant_time(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    requested_at, received_at = _uk_local_instant(_post(request, "requested_at")), \
        _uk_local_instant(_post(request, "received_at"))
    if requested_at is None or received_at is None:
        messages.error(request, "Give the date and time the information was asked for and when it arrived.")
        return redirect("staff-case", case_id=case_id)
    what, evidence = _post(request, "what"), _post(request, "evidence")
    return _act(request, case_id, lambda c, now: workflow.record_relevant_time(
        c, what=what, requested_at=requested_at, received_at=received_at, evidence=evidence, actor=request.user,
        now=now), "relevant time recorded; the UK dates now run from it.")


@require_POST
@staff_view(Action.WORK)
def case_resume(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    return _act(request, case_id, lambda c, now: workflow.resume_case(c, actor=request.user, now=now),
                "resumed; running dates moved by the paused days.")


@require_POST
@staff_view(Action.WORK)
def case_unfounded(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    which, justification = _post(request, "which"), _post(request, "justification")
    return _act(request, case_id, lambda c, now: workflow.mark_unfounded(
        c, which=which, justification=justification, actor=request.user, now=now),
        f"marked manifestly {which}.")


@require_POST
@staff_view(Action.WORK)
def case_refuse(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    ground, reason = _post(request, "ground"), _post(request, "reason")
    return _act(request, case_id, lambda c, now: workflow.refuse_case(
        c, ground=ground, reason=reason, actor=request.user, now=now), "refused; the refusal notice is in the outbox.")


@require_POST
@staff_view(Action.WORK)
def case_complete(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    outcome, note = _post(request, "outcome"), _post(request, "note")
    ground = _post(request, "ground") if outcome == "complied_partial" else ""
    return _act(request, case_id, lambda c, now: workflow.complete_case(
        c, outcome=outcome, note=note, ground=ground, actor=request.user, now=now),
        "completed; the completion notice is in the outbox.")


@require_POST
@staff_view(Action.WORK)
def case_cancel(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    reason = _post(request, "reason")
    return _act(request, case_id, lambda c, now: workflow.cancel_case(c, reason=reason, actor=request.user, now=now),
                "cancelled.")


@require_POST
@staff_view(Action.WORK)
def case_request_forced_erasure(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    reason = _post(request, "reason")
    return _act(request, case_id, lambda c, now: workflow.request_forced_erasure(
        c, reason=reason, actor=request.user, now=now),  # type: ignore[arg-type]
        "forced erasure requested; a second person (an approver) must approve it.")


@require_POST
@staff_view(Action.APPROVE)
def case_approve_forced_erasure(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    return _act(request, case_id, lambda c, now: workflow.approve_forced_erasure(
        c, actor=request.user, now=now), "forced erasure approved.")  # type: ignore[arg-type]


# --- outbox -----------------------------------------------------------------------------------------

OUTBOX_STATUSES = {"queued": Q(sent_at__isnull=True), "failed": Q(sent_at__isnull=True, attempts__gt=0),
                   "sent": Q(sent_at__isnull=False)}


@require_safe
@staff_view(Action.VIEW)
def outbox(request: HttpRequest) -> HttpResponse:
    status = _choice(request.GET.get("status"), set(OUTBOX_STATUSES))
    qs = (OutboundMessage.objects.select_related("case")
          .only("id", "template", "to", "subject_line", "created_at", "sent_at", "attempts", "last_error",
                "case__id", "case__reference")
          .order_by("-created_at", "-id"))
    counts = qs.aggregate(total=Count("pk"), **{k: Count("pk", filter=v) for k, v in OUTBOX_STATUSES.items()})
    if status:
        qs = qs.filter(OUTBOX_STATUSES[status])
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for m in page.object_list:
        m.to_masked = mask_email(m.to)
    return render(request, "staff/outbox.html", {
        "page": page,
        "page_links": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "ellipsis": Paginator.ELLIPSIS,
        "outbox_messages": page.object_list,
        "status": status,
        "counts": counts,
    })
