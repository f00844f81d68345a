"""Breaches through the API (issue 12): monitoring and security tooling open an incident with
``POST /api/v1/breaches`` (scope ``breaches:write``) and read the desk with ``GET`` (``breaches:read``). Views
parse, call one verb, answer. Free text (description, evidence, rationale, remedial actions) is not returned:
it may describe people, and the console shows it to staff."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from dsr import breaches
from dsr.models import Breach, BreachDeadline, BreachOrigin
from dsr.views.apiutil import (
    ApiError,
    actor_of,
    api_view,
    error_response,
    json_body,
    optional_str,
    parse_uuid,
)

LIST_LIMIT = 100


def _at(value: Any) -> str | None:
    return value.isoformat() if value else None


def deadline_json(d: BreachDeadline) -> dict[str, Any]:
    return {"rule": d.rule, "regime": d.regime, "authority": d.authority, "started_at": _at(d.started_at),
            "due_at": _at(d.due_at), "basis": d.basis, "met_at": _at(d.met_at), "not_required": d.not_required,
            "not_required_reason": d.not_required_reason or None, "open": d.is_open}


def breach_json(breach: Breach) -> dict[str, Any]:
    deadlines = list(breach.deadlines.all())
    # The same choice as breaches.governing_deadline, made on the (prefetched) rows: earliest open due instant.
    timed = [d for d in deadlines if d.is_open and d.due_at is not None]
    governing = min(timed, key=lambda d: (d.due_at, d.rule)) if timed else None
    return {
        "id": str(breach.pk), "reference": breach.reference, "title": breach.title, "state": breach.state,
        "origin": breach.origin, "created_at": _at(breach.created_at), "closed_at": _at(breach.closed_at),
        "detected_at": _at(breach.detected_at), "aware_at": _at(breach.aware_at),
        "types": breach.types, "categories": breach.categories, "systems": breach.systems,
        "occurred_from": _at(breach.occurred_from), "occurred_until": _at(breach.occurred_until),
        "data_encrypted": breach.data_encrypted, "keys_exposed": breach.keys_exposed,
        "risk_factors": breach.risk_factors, "jurisdictions_declared": breach.jurisdictions_declared,
        "risk": {"suggested": breach.risk_suggested or None, "reasons": breach.risk_suggested_reasons,
                 "decided": breach.risk_level or None, "assessed_at": _at(breach.risk_assessed_at),
                 "high_risk_determined_at": _at(breach.high_risk_determined_at)},
        "exception_34_3": breach.exception_34_3 or None,
        "scope": {"version": breach.scope_version, "computed_at": _at(breach.scope_computed_at),
                  "subjects": breach.scope_subjects, "items": breach.scope_items,
                  "jurisdictions": (breach.scope_counts or {}).get("jurisdictions", {})},
        "deadlines": [deadline_json(d) for d in deadlines],
        "governing": None if governing is None else {"rule": governing.rule, "due_at": _at(governing.due_at),
                                                     "authority": governing.authority},
        "filings": [{"id": str(f.pk), "rule": f.rule, "phase": f.phase, "follows": str(f.follows_id) if f.follows_id
                     else None, "filed_at": _at(f.filed_at), "late": f.late}
                    for f in sorted(breach.filings.all(), key=lambda f: f.filed_at)],
    }


@api_view({"POST"}, scope="breaches:write")
def breaches_create(request: HttpRequest) -> HttpResponse:
    """Open an incident. The schema refuses malformed input (400); input that is well-formed but breaks a rule
    (aware before detected, an instant in the future, an unknown jurisdiction or recipient) gets 422 naming the
    field; nothing is written either way. A repeated ``idempotency_key`` (or ``Idempotency-Key`` header) returns
    the first breach with 200 and writes nothing, so a monitoring tool may retry a call that timed out."""
    body = json_body(request)
    key = optional_str(body, "idempotency_key", 100)
    if key is None:
        key = optional_str({"Idempotency-Key": request.headers.get("Idempotency-Key")}, "Idempotency-Key", 100)
    data = {name: value for name, value in body.items() if name != "idempotency_key"}
    try:
        breach, created = breaches.open_breach_once(data=data, actor=actor_of(request), now=request.now,
                                                    origin=BreachOrigin.API, idempotency_key=key)
    except breaches.BreachInputError as exc:
        field, message = next(iter(exc.errors.items()))
        raise ApiError(422, "invalid_breach", f"'{field}' {message}" if field != "__all__" else message,
                       field=field, errors=exc.errors) from exc
    resp = JsonResponse(breach_json(breach), status=201 if created else 200)
    resp["Location"] = f"/api/v1/breaches/{breach.pk}"
    return resp


@api_view({"GET"}, scope="breaches:read")
def breaches_list(request: HttpRequest) -> HttpResponse:
    """The newest breaches first (by awareness), at most ``limit``; ``state`` filters open or closed ones."""
    state = request.GET.get("state")
    if state is not None and state not in ("open", "closed"):
        raise ApiError(400, "invalid_field", "'state' must be open or closed", field="state")
    raw = request.GET.get("limit", str(LIST_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT:
        raise ApiError(400, "invalid_field", f"'limit' must be a whole number from 1 to {LIST_LIMIT}", field="limit")
    rows = Breach.objects.all().prefetch_related("deadlines", "filings")
    if state:
        rows = rows.filter(state=state)
    return JsonResponse({"breaches": [breach_json(b) for b in rows.order_by("-aware_at", "reference")[:int(raw)]]})


def breaches_collection(request: HttpRequest) -> HttpResponse:
    """One URL, two scopes: GET reads (breaches:read), POST opens (breaches:write)."""
    if request.method == "POST":
        return breaches_create(request)
    if request.method == "GET":
        return breaches_list(request)
    resp = error_response(405, "method_not_allowed", "use GET or POST")
    resp["Allow"] = "GET, POST"
    return resp


breaches_collection.csrf_exempt = True  # type: ignore[attr-defined]
breaches_collection.api_scope = "breaches:read"  # type: ignore[attr-defined]
breaches_collection.api_scopes = {"get": "breaches:read", "post": "breaches:write"}  # type: ignore[attr-defined]
breaches_collection.api_methods = frozenset({"GET", "POST"})  # type: ignore[attr-defined]


@api_view({"GET"}, scope="breaches:read")
def breach_detail(request: HttpRequest, breach_id: str) -> HttpResponse:
    breach = Breach.objects.filter(pk=parse_uuid(breach_id, "breach_id")).first()
    if breach is None:
        raise ApiError(404, "not_found", "no breach with that id")
    return JsonResponse(breach_json(breach))
