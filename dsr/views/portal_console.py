"""The portal seen from the other side: what operators see and do with a portal filing in the console (the filing
as given, the agent's mandate, the message thread, a correction of the inferred regimes), and the platform's API
call that hands its signed-in user to the portal."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from dsr import audit, portal, workflow
from dsr.deadlines import Regime
from dsr.models import Case, PortalFiling, Subject
from dsr.models.cases import REGIME_LABELS
from dsr.roles import Action
from dsr.views.apiutil import ApiError, actor_of, api_view, json_body, optional_str, parse_instant, parse_uuid
from dsr.views.staff import staff_view


def case_context(case: Case) -> dict[str, Any]:
    """Extra context for the console's case page (templates/staff/_portal_panel.html)."""
    filings = list(case.portal_filings.order_by("created_at"))
    return {
        "portal_filings": filings,
        "portal_thread": list(case.thread.order_by("created_at", "id")),
        "portal_route": portal.verification_route(case, filings[0] if filings else None),
        "portal_regime_choices": [(r.value, REGIME_LABELS[r]) for r in Regime],
    }


@require_POST
@staff_view(Action.WORK)
def case_message(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Ask the requester a question: it appears on their status page and they are told at the address on file."""
    case = get_object_or_404(Case, pk=case_id)
    try:
        portal.post_message(case, body=request.POST.get("body", ""), from_subject=False, actor=request.user,
                            now=timezone.now())
    except portal.PortalError as exc:
        messages.error(request, f"{case.reference}: {exc.message}")
    else:
        messages.success(request, f"{case.reference}: question sent; the requester answers on the status page.")
    return redirect("staff-case", case_id=case.pk)


@require_POST
@staff_view(Action.WORK)
def case_regimes(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Override the regimes the portal inferred from the country the requester gave."""
    case = get_object_or_404(Case, pk=case_id)
    try:
        workflow.change_regimes(case, regimes=request.POST.getlist("regimes"), reason=request.POST.get("reason", ""),
                                actor=request.user, now=timezone.now())
    except workflow.WorkflowError as exc:
        messages.error(request, f"{case.reference}: {exc}")
    else:
        messages.success(request, f"{case.reference}: regimes changed; every date was recomputed.")
    return redirect("staff-case", case_id=case.pk)


@require_safe
@staff_view(Action.WORK)
def filing_mandate(request: HttpRequest, filing_id: uuid.UUID) -> HttpResponse:
    """The agent's signed mandate, decrypted for an operator: an attachment, never inline, never cached; the
    reading is an audit event."""
    filing = get_object_or_404(PortalFiling, pk=filing_id, mandate_sealed__isnull=False)
    data = portal.open_mandate(filing)
    audit.record("portal.mandate_viewed", actor=workflow.actor_label(request.user), now=timezone.now(),
                 object_type="portal_filing", object_id=filing.pk,
                 subject_ref=filing.subject.reference if filing.subject else "")
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(
        filing.mandate_type, "bin")
    response = HttpResponse(data, content_type=filing.mandate_type or "application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="mandate-{filing.pk}.{extension}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@api_view({"POST"}, scope="portal:handoff")
def api_handoff(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/portal/handoff: the platform's signed-in, just re-authenticated user gets a short-lived,
    single-use link to their own requests on the portal."""
    body = json_body(request)
    ident = body.get("subject")
    if not isinstance(ident, dict):
        raise ApiError(400, "invalid_field", "'subject' must be an object with 'id' or 'account_id'", field="subject")
    if ident.get("id"):
        subject = Subject.objects.filter(pk=parse_uuid(ident["id"], "subject.id")).first()
    else:
        account_id = optional_str(ident, "account_id", 128)
        if not account_id:
            raise ApiError(400, "invalid_field", "'subject' needs 'id' or 'account_id'", field="subject")
        subject = Subject.objects.filter(account_id=account_id).first()
    if subject is None:
        raise ApiError(404, "not_found", "no subject with that identifier", field="subject")
    if not body.get("reauthenticated_at"):
        raise ApiError(400, "invalid_field", "'reauthenticated_at' is required: when the user last proved who they "
                       "are to the platform", field="reauthenticated_at")
    reauth = parse_instant(body["reauthenticated_at"], "reauthenticated_at")
    try:
        url, expires_at = portal.mint_handoff(subject, reauthenticated_at=reauth, actor=actor_of(request),
                                              now=request.now)
    except portal.PortalError as exc:
        raise ApiError(422, "not_allowed", exc.message, field=exc.field or "") from exc
    return JsonResponse({"url": url, "expires_at": expires_at.isoformat().replace("+00:00", "Z")}, status=201)
