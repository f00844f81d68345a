"""The breach desk in the operator console (issue 12 §6): the board, the breach page, its forms and documents.

Same rules as dsr/views/staff.py: ``staff_view(action)`` guards every view (anonymous → login, no capability →
403 before anything runs). Reading is ``VIEW`` (auditors too); entering and updating facts, the scope and remedial
actions is ``WORK`` (operators); the decisions — the risk level, an Art. 34(3) exception, a filing to an
authority, starting the notices to affected people, closing — are ``APPROVE`` (the DPO), as forced erasure is.
Actions are POST only (CSRF by the middleware), parse a form, call ONE verb with ``actor=request.user`` and ``now``
read here; on success they redirect (post/redirect/get); on bad input — the form's or the verb's
``BreachInputError`` — the page comes back (400) with the errors next to the fields and nothing changed.
Every document download is audited (object_type "breach").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from dsr import audit, breach_console, workflow
from dsr.breach_forms import (
    AUTHORITY_RULES,
    MODEL_FIELD,
    BreachFactsForm,
    ConfirmForm,
    ExceptionForm,
    FilingForm,
    InDoubtForm,
    RemedialForm,
    RiskForm,
)
from dsr.models import Breach, BreachFiling, BreachState, FilingPhase, RiskLevel
from dsr.roles import Action, can
from dsr.views.staff import staff_view

FORM_NAMES = ("facts", "risk", "exception", "filing", "remedial", "notices", "in_doubt", "close")


def _verbs() -> Any:
    """dsr/breaches.py, imported when used (it imports the scope and notice modules in turn)."""
    from dsr import breaches

    return breaches


def _input_error() -> type[Exception]:
    return _verbs().BreachInputError


def _pdf(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _audit_download(request: HttpRequest, breach: Breach | None, document: str, now: datetime, **data: Any) -> None:
    audit.record("breach.document_downloaded" if breach else "breach.register_exported",
                 actor=workflow.actor_label(request.user), now=now, object_type="breach",
                 object_id=breach.pk if breach else "",
                 data={**({"reference": breach.reference} if breach else {}), "document": document, **data})


# --- the board -------------------------------------------------------------------------------------------------


@require_safe
@staff_view(Action.VIEW)
def breach_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    zone = breach_console.operator_zone()
    open_rows, closed_rows = breach_console.board_rows(now, zone=zone)
    return render(request, "staff/breaches.html", {
        "open_rows": open_rows, "closed_rows": closed_rows, "can_open": can(request.user, Action.WORK),
        **breach_console.page_clock(now, zone)})


@staff_view(Action.WORK)
def breach_new(request: HttpRequest) -> HttpResponse:
    zone = breach_console.operator_zone()
    if request.method == "POST":
        form = BreachFactsForm(request.POST, zone=zone, prefix="facts")
        if form.is_valid():
            try:
                breach = _verbs().open_breach(data=form.values(), actor=workflow.actor_label(request.user),
                                              now=timezone.now())
            except _input_error() as exc:
                form.add_verb_errors(getattr(exc, "errors", {"__all__": str(exc)}))
            else:
                messages.success(request, f"{breach.reference} opened: the clocks are running.")
                return redirect("staff-breach", breach_id=breach.pk)
        return render(request, "staff/breach_new.html", {"form": form, "zone": zone}, status=400)
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    return render(request, "staff/breach_new.html", {"form": BreachFactsForm(zone=zone, prefix="facts"),
                                                     "zone": zone})


# --- the breach page -------------------------------------------------------------------------------------------


def _capabilities(user: User, breach: Breach) -> dict[str, bool]:
    is_open = breach.state == BreachState.OPEN
    work, approve = can(user, Action.WORK), can(user, Action.APPROVE)
    return {
        "edit": work and is_open, "scope": work and is_open, "remedial": work and is_open,
        "risk": approve and is_open, "exception": approve and is_open, "filing": approve and is_open,
        "notices": approve and is_open and breach.risk_level == RiskLevel.HIGH and not breach.exception_34_3,
        "close": approve and is_open,
        "in_doubt": approve and is_open,
    }


def _suggestion(breach: Breach) -> tuple[str, list[str]]:
    """The decision aid's suggestion (§5.1): as stored when the facts last changed, or computed now."""
    if breach.risk_suggested:
        return breach.risk_suggested, list(breach.risk_suggested_reasons or [])
    from dsr import breach_risk

    level, reasons = breach_risk.suggest(breach)
    return str(level), list(reasons)


def _documents(breach: Breach) -> list[dict[str, Any]]:
    """The Art. 33 PDF for each authority the breach runs a clock for, by phase; the California sample notice
    when a California rule applies; the documents as filed."""
    docs: list[dict[str, Any]] = []
    authorities = []
    for d in breach.deadlines.all():
        if d.rule in ("B-SA", "UK-BR") and d.authority and d.authority not in authorities:
            authorities.append(d.authority)
    phases = [FilingPhase.INITIAL] + ([FilingPhase.FOLLOW_UP, FilingPhase.FINAL] if breach.filings.exists() else [])
    for authority in authorities:
        for phase in phases:
            docs.append({"kind": "art33", "authority": authority, "phase": phase.value,
                         "label": f"Art. 33 notification to {authority} — {phase.label.lower()}"})
    if any(d.rule.startswith("CB-") for d in breach.deadlines.all()):
        docs.append({"kind": "california", "label": "California “Notice of Data Breach” (AG sample copy)"})
    return docs


def _scope_run(breach: Breach) -> Any:
    from dsr import breach_scope

    return breach_scope.scope_run(breach)


def _page_context(request: HttpRequest, breach: Breach, now: datetime,
                  bound: dict[str, forms.Form] | None = None) -> dict[str, Any]:
    zone = breach_console.operator_zone()
    deadlines = list(breach.deadlines.order_by("due_at", "rule"))
    governing = breach_console.governing(deadlines)
    events = breach_console.breach_events(breach)
    suggested, reasons = _suggestion(breach)
    forms_ = {
        "facts": BreachFactsForm.for_breach(breach, zone=zone),
        "risk": RiskForm(initial={"level": breach.risk_level or suggested}, suggested=suggested),
        "exception": ExceptionForm(initial={"exception": breach.exception_34_3,
                                            "rationale": breach.exception_rationale}),
        "filing": FilingForm(breach=breach),
        "remedial": RemedialForm(),
        "notices": ConfirmForm(prefix="notices", label="Send the Art. 34 notice to every affected person in scope"),
        "in_doubt": InDoubtForm(),
        "close": ConfirmForm(prefix="close", label="Close the breach: the register entry is complete"),
    }
    forms_.update(bound or {})
    filings = breach_console.filings_with_followups(breach)
    names = breach_console.staff_names({f.filed_by for f in filings} | {breach.risk_assessed_by, breach.opened_by}
                                       | {a.get("by", "") for a in breach.remedial_actions or []})
    for f in filings:
        f.filed_by_label = names.get(f.filed_by, f.filed_by)
    actions = []
    for a in breach.remedial_actions or []:
        at = a.get("at")
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at)
            except ValueError:
                at = None
        actions.append({**a, "at": at, "by_label": names.get(a.get("by", ""), a.get("by", ""))})
    return {
        "breach": breach, **breach_console.page_clock(now, zone),
        "countdowns": [breach_console.countdown(d, now, zone) for d in deadlines],
        "governing": breach_console.countdown(governing, now, zone),
        "register": breach_console.register_entry(breach),
        "timeline": breach_console.timeline(breach, events, zone=zone),
        "decisions": breach_console.decisions(breach, events),
        "scope": breach_console.scope_view(breach),
        "scope_run": _scope_run(breach),
        "subject_notice": breach_console.subject_notice_words(breach),
        "progress": breach_console.notice_progress(breach),
        "notice_run": breach_console.notice_run(breach),
        "filings": filings, "remedial_actions": actions,
        "documents": _documents(breach),
        "suggested": suggested, "suggested_label": RiskLevel(suggested).label if suggested else "",
        "suggested_reasons": reasons,
        "risk_assessed_by": names.get(breach.risk_assessed_by, breach.risk_assessed_by),
        "opened_by": names.get(breach.opened_by, breach.opened_by),
        "forms": forms_, "open_form": next(iter(bound or {}), ""),
        "can": _capabilities(request.user, breach), "authority_rules": AUTHORITY_RULES,
    }


def _breach(breach_id: uuid.UUID) -> Breach:
    return get_object_or_404(Breach.objects.select_related("processor"), pk=breach_id)


@require_safe
@staff_view(Action.VIEW)
def breach_detail(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    return render(request, "staff/breach.html", _page_context(request, breach, timezone.now()))


def _refused(request: HttpRequest, breach: Breach, name: str, form: forms.Form) -> HttpResponse:
    """The page again with the failed form bound (its errors next to its fields), 400, nothing changed."""
    breach.refresh_from_db()  # whatever the verb may have touched before refusing is not shown as done
    return render(request, "staff/breach.html", _page_context(request, breach, timezone.now(), {name: form}),
                  status=400)


def _act(request: HttpRequest, breach: Breach, name: str, form: forms.Form,
         verb: Callable[[datetime], Any], done: str) -> HttpResponse:
    """Validate ``form``; run ``verb(now)`` in one transaction; on a refusal show the form again."""
    if not form.is_valid():
        return _refused(request, breach, name, form)
    try:
        with transaction.atomic():
            verb(timezone.now())
    except _input_error() as exc:
        form.add_verb_errors(getattr(exc, "errors", None) or {"__all__": str(exc)})  # type: ignore[attr-defined]
        return _refused(request, breach, name, form)
    messages.success(request, f"{breach.reference}: {done}")
    return redirect("staff-breach", breach_id=breach.pk)


def _open_or_refuse(request: HttpRequest, breach: Breach) -> HttpResponse | None:
    if breach.state != BreachState.OPEN:
        messages.error(request, f"{breach.reference} is closed: its register entry no longer changes.")
        return redirect("staff-breach", breach_id=breach.pk)
    return None


def _actor(request: HttpRequest) -> str:
    return workflow.actor_label(request.user)


@require_POST
@staff_view(Action.WORK)
def breach_edit(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    form = BreachFactsForm(request.POST, zone=breach_console.operator_zone(), prefix="facts")

    def verb(now: datetime) -> None:
        values = form.values()
        changes = {}
        for key, value in values.items():
            current = breach.processor if key == "processor" else getattr(breach, MODEL_FIELD.get(key, key))
            if key == "jurisdictions":
                same = sorted(c.upper() for c in value) == sorted(current or [])
            else:
                same = value == current
            if not same:
                changes[key] = value
        if not changes:
            raise _input_error()({"__all__": "Nothing changed."})
        _verbs().update_breach(breach, changes=changes, actor=_actor(request), now=now)

    return _act(request, breach, "facts", form, verb, "facts updated; the clocks and the aid's suggestion follow.")


@require_POST
@staff_view(Action.APPROVE)
def breach_risk(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    form = RiskForm(request.POST, suggested=_suggestion(breach)[0])
    return _act(request, breach, "risk", form, lambda now: _verbs().assess_risk(
        breach, level=form.cleaned_data["level"], rationale=form.cleaned_data["rationale"], actor=_actor(request),
        now=now), "risk decided.")


@require_POST
@staff_view(Action.WORK)
def breach_scope(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    from dsr import breach_scope as scope

    try:
        asked = scope.request_scope(breach, actor=_actor(request), now=timezone.now())
    except _input_error() as exc:
        messages.error(request, f"{breach.reference}: {exc}")
        return redirect("staff-breach", breach_id=breach.pk)
    n = asked.counted
    if asked.result is not None:
        messages.success(request, f"{breach.reference}: scope computed — {n.subjects} people, {n.items} items.")
    else:
        messages.success(request, f"{breach.reference}: {n.subjects} people and {n.items} items counted; the scope "
                                  "is being stored in the background (a row per person) — this page shows when it "
                                  "is done.")
    return redirect("staff-breach", breach_id=breach.pk)


@require_POST
@staff_view(Action.APPROVE)
def breach_exception(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    form = ExceptionForm(request.POST)
    return _act(request, breach, "exception", form, lambda now: _verbs().set_exception(
        breach, exception=form.cleaned_data["exception"], rationale=form.cleaned_data["rationale"],
        actor=_actor(request), now=now), "Art. 34(3) decision recorded.")


@require_POST
@staff_view(Action.APPROVE)
def breach_filing(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    form = FilingForm(request.POST, request.FILES, breach=breach)

    def verb(now: datetime) -> None:
        data = form.cleaned_data
        document = data.get("document")
        if document is None and data["rule"] in ("B-SA", "UK-BR"):
            from dsr import breach_documents

            # The copy as filed: with its delay reasons and the filing it follows.
            document = breach_documents.art33_pdf(breach, authority=data["authority"], phase=data["phase"],
                                                  now=now, delay_reason=data["delay_reason"],
                                                  follows=data["follows"], rule=data["rule"])
        _verbs().record_filing(breach, rule=data["rule"], authority=data["authority"], phase=data["phase"],
                               actor=_actor(request), now=now, follows=data["follows"],
                               submission_ref=data["submission_ref"], delay_reason=data["delay_reason"],
                               document=document)

    return _act(request, breach, "filing", form, verb, "filing recorded.")


@require_POST
@staff_view(Action.APPROVE)
def breach_notices(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    form = ConfirmForm(request.POST, prefix="notices", label="Send the notices")

    def verb(now: datetime) -> None:
        from dsr import breach_notices

        breach_notices.start_subject_notices(breach, actor=_actor(request), now=now)

    return _act(request, breach, "notices", form, verb, "notices to the affected people are being sent.")


@require_POST
@staff_view(Action.APPROVE)
def breach_in_doubt(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    form = InDoubtForm(request.POST)

    def verb(now: datetime) -> None:
        from dsr import breach_notices

        breach_notices.resolve_in_doubt(breach, decision=form.cleaned_data["decision"],
                                        reason=form.cleaned_data["reason"], actor=_actor(request), now=now)

    return _act(request, breach, "in_doubt", form, verb, "the notices in doubt are resolved.")


@require_POST
@staff_view(Action.WORK)
def breach_remedial(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    form = RemedialForm(request.POST)
    return _act(request, breach, "remedial", form, lambda now: _verbs().add_remedial_action(
        breach, action=form.cleaned_data["action"], actor=_actor(request), now=now), "remedial action added.")


@require_POST
@staff_view(Action.APPROVE)
def breach_close(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    if (closed := _open_or_refuse(request, breach)) is not None:
        return closed
    form = ConfirmForm(request.POST, prefix="close", label="Close")
    return _act(request, breach, "close", form, lambda now: _verbs().close_breach(
        breach, actor=_actor(request), now=now), "closed.")


# --- documents (every download audited) ------------------------------------------------------------------------


@require_safe
@staff_view(Action.VIEW)
def art33_pdf(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    authority = request.GET.get("authority", "")
    phase = request.GET.get("phase", FilingPhase.INITIAL)
    known = {d.authority for d in breach.deadlines.all() if d.rule in ("B-SA", "UK-BR") and d.authority}
    if authority not in known or phase not in FilingPhase.values:
        raise Http404("no such authority or phase for this breach")
    from dsr import breach_documents

    now = timezone.now()
    body = breach_documents.art33_pdf(breach, authority=authority, phase=phase, now=now)
    _audit_download(request, breach, "art33", now, authority=authority, phase=phase, bytes=len(body))
    return _pdf(body, f"{breach.reference}-art33-{phase}.pdf")


@require_safe
@staff_view(Action.VIEW)
def california_pdf(request: HttpRequest, breach_id: uuid.UUID) -> HttpResponse:
    breach = _breach(breach_id)
    from dsr import breach_documents

    now = timezone.now()
    body = breach_documents.california_notice_pdf(breach, now=now)
    _audit_download(request, breach, "california_notice", now, bytes=len(body))
    return _pdf(body, f"{breach.reference}-california-notice.pdf")


@require_safe
@staff_view(Action.VIEW)
def filing_document(request: HttpRequest, breach_id: uuid.UUID, filing_id: uuid.UUID) -> HttpResponse:
    filing = get_object_or_404(BreachFiling.objects.select_related("breach"), pk=filing_id, breach_id=breach_id)
    if not filing.document:
        raise Http404("no document stored with this filing")
    now = timezone.now()
    body = bytes(filing.document)
    _audit_download(request, filing.breach, "filing", now, filing=str(filing.pk), rule=filing.rule, bytes=len(body))
    return _pdf(body, f"{filing.breach.reference}-{filing.rule}-{filing.phase}-as-filed.pdf")


@require_safe
@staff_view(Action.VIEW)
def register_csv(request: HttpRequest) -> HttpResponse:
    from dsr import breach_documents

    now = timezone.now()
    queryset = Breach.objects.order_by("aware_at")
    body = breach_documents.register_csv(queryset)
    _audit_download(request, None, "register_csv", now, breaches=queryset.count(), bytes=len(body))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="breach-register-{now:%Y%m%d}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_safe
@staff_view(Action.VIEW)
def register_pdf(request: HttpRequest) -> HttpResponse:
    from dsr import breach_documents

    now = timezone.now()
    queryset = Breach.objects.order_by("aware_at")
    body = breach_documents.register_pdf(queryset, now=now)
    _audit_download(request, None, "register_pdf", now, breaches=queryset.count(), bytes=len(body))
    return _pdf(body, f"breach-register-{now:%Y%m%d}.pdf")
