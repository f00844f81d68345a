"""Filing rights requests from other systems: POST /api/v1/cases, GET /api/v1/cases/{id} (issue 3 §4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from dsr import certificates, erasure, exports, vault, workflow
from dsr.models import Case, Erasure, ErasureState, Subject
from dsr.views.apiutil import (
    ApiError,
    _forbidden,
    actor_of,
    api_view,
    json_body,
    optional_str,
    parse_instant,
    parse_uuid,
)

ATTEST_SCOPE = "cases:attest_identity"


def case_json(case: Case) -> dict[str, Any]:
    rows = workflow.current_deadlines(case)
    return {
        "id": str(case.pk),
        "reference": case.reference,
        "kind": case.kind,
        "regimes": case.regimes,
        "state": case.state,
        "subject": str(case.subject_id) if case.subject_id else None,
        "channel": case.channel,
        "filed_by": case.filed_by,
        "received_at": case.received_at.isoformat().replace("+00:00", "Z"),
        "due_dates": [
            {"regime": r.regime, "rule": r.rule, "purpose": r.purpose, "due_on": r.due_on.isoformat(),
             "basis": r.basis, "met_at": r.met_at.isoformat() if r.met_at else None}
            for r in rows
        ],
        "governing_due_on": case.due_on.isoformat(),
        "governing_rule": case.due_rule,
        "governing_regime": case.due_regime,
        "acknowledged_at": case.acknowledged_at.isoformat() if case.acknowledged_at else None,
        "outcome": case.outcome or None,
        # issue 10: access/portability package (state, size, expiry, manifest digest) or null
        "package": exports.export_status(case) if case.kind in exports.EXPORT_KINDS else None,
        "verification_method": case.verification_method or None,
        # issue 9: the cascade's progress (steps, counts, recipients) and, once completed, the certificate's URL
        "erasure": erasure.erasure_status(case),
    }


def _subject_from(body: dict[str, Any], request: HttpRequest) -> Subject:
    ident = body.get("subject")
    if not isinstance(ident, dict):
        raise ApiError(400, "invalid_field", "'subject' must be an object with 'email' or 'account_id'",
                       field="subject")
    if ident.get("id"):
        subject = Subject.objects.filter(pk=parse_uuid(ident["id"], "subject.id")).first()
        if subject is None:
            raise ApiError(422, "unknown_reference", "no subject with that id", field="subject")
        return subject
    email = optional_str(ident, "email")
    account_id = optional_str(ident, "account_id", 128, strip=False)
    if not email and not account_id:
        raise ApiError(400, "invalid_field", "'subject' needs 'email' or 'account_id'", field="subject")
    try:
        subject, _ = vault.find_or_create_subject(actor=actor_of(request), now=request.now, email=email,
                                                  account_id=account_id)
    except vault.IdentifierConflict as exc:
        raise ApiError(409, "identifier_conflict", str(exc), field="subject") from exc
    except (vault.VaultError, ValueError) as exc:
        raise ApiError(400, "invalid_field", str(exc), field="subject") from exc
    return subject


@api_view({"POST"}, scope="cases:write")
def cases(request: HttpRequest) -> HttpResponse:
    body = json_body(request)
    kind = body.get("kind")
    regimes = body.get("regimes")
    if not isinstance(kind, str) or not kind:
        raise ApiError(400, "invalid_field", "'kind' is required", field="kind")
    if not isinstance(regimes, list) or not regimes or not all(isinstance(r, str) for r in regimes):
        raise ApiError(400, "invalid_field", "'regimes' must be a non-empty list of regime names", field="regimes")
    received_at = parse_instant(body["received_at"], "received_at") if body.get("received_at") else request.now
    details = body.get("details") or ""
    if not isinstance(details, str) or len(details) > 10_000:
        raise ApiError(400, "invalid_field", "'details' must be text of at most 10,000 characters", field="details")
    # Validate everything that needs no write before the subject may be created.
    try:
        workflow.validate_request(kind=kind, regimes=regimes)
    except workflow.WorkflowError as exc:
        raise ApiError(422, "unsupported_request", str(exc)) from exc
    attested_at = _platform_verification(body, request, kind)
    if attested_at is not None and not request.api_token.has_scope(ATTEST_SCOPE):
        return _forbidden(request, request.api_token, ATTEST_SCOPE)
    if attested_at is None:
        subject = _subject_from(body, request)
        case, created = _submit(body, request, kind, regimes, received_at, details, subject)
        return JsonResponse(case_json(case), status=201 if created else 200)
    with transaction.atomic():  # a platform-verified erasure is filed, verified and approved, or nothing is
        subject = _subject_from(body, request)
        case, created = _submit(body, request, kind, regimes, received_at, details, subject)
        if created:
            try:
                workflow.verify_identity(case, method="platform_account", actor=actor_of(request), now=request.now,
                                         authenticated_at=attested_at.isoformat())
                erasure.approve_erasure(case, actor=actor_of(request), now=request.now)
            except workflow.WorkflowError as exc:
                raise ApiError(422, "unsupported_request", str(exc)) from exc
            case.refresh_from_db()
    return JsonResponse(case_json(case), status=201 if created else 200)


def _platform_verification(body: dict[str, Any], request: HttpRequest, kind: str) -> Any:
    """``"verification": {"method": "platform_account", "at": "<when the account holder signed in>"}``."""
    value = body.get("verification")
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("method") != "platform_account":
        raise ApiError(400, "invalid_field", "'verification' must be {\"method\": \"platform_account\", \"at\": "
                       "\"<ISO 8601>\"}", field="verification")
    at = parse_instant(value.get("at"), "verification.at")
    max_age = timedelta(minutes=settings.DSR_PLATFORM_VERIFICATION_MAX_AGE_MINUTES)
    if at > request.now + timedelta(minutes=5) or request.now - at > max_age:
        raise ApiError(422, "unsupported_request", "'verification.at' must be a recent sign-in, not in the future",
                       field="verification")
    if kind != "erasure":
        raise ApiError(422, "unsupported_request", "platform verification at filing is accepted for erasure "
                       "requests only", field="verification")
    return at


def _submit(body: dict[str, Any], request: HttpRequest, kind: str, regimes: list[str], received_at: Any,
            details: str, subject: Subject) -> tuple[Case, bool]:
    try:
        return workflow.submit_case(
            kind=kind,
            regimes=regimes,
            subject=subject,
            received_at=received_at,
            channel=optional_str(body, "channel", 20) or "api",
            filed_by=optional_str(body, "filed_by", 10) or "subject",
            agent_name=optional_str(body, "agent_name", 200) or "",
            details=details,
            idempotency_key=optional_str(body, "idempotency_key", 100) or request.headers.get("Idempotency-Key"),
            actor=actor_of(request),
            now=request.now,
        )
    except workflow.WorkflowError as exc:
        raise ApiError(422, "unsupported_request", str(exc)) from exc


@api_view({"GET"}, scope="cases:read")
def case_detail(request: HttpRequest, case_id: str) -> HttpResponse:
    case = Case.objects.filter(pk=parse_uuid(case_id, "case")).first()
    if case is None:
        raise ApiError(404, "not_found", "no such case")
    return JsonResponse(case_json(case))


@api_view({"GET"}, scope="cases:read")
def case_certificate(request: HttpRequest, case_id: str) -> HttpResponse:
    """The erasure certificate (PDF) once the case's erasure has completed."""
    case = Case.objects.filter(pk=parse_uuid(case_id, "case")).first()
    if case is None:
        raise ApiError(404, "not_found", "no such case")
    done = Erasure.objects.filter(case=case, state=ErasureState.COMPLETED).first()
    if done is None:
        raise ApiError(409, "not_completed", "this case has no completed erasure yet")
    response = HttpResponse(certificates.render(done), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificates.filename(done)}"'
    response["Cache-Control"] = "no-store"
    return response
