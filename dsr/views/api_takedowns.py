"""Takedown requests through the platform API (issue 13): the report button in the platform's own app files
``POST /api/v1/takedowns`` for a person who need not have an account. Views parse, call one verb, answer."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from dsr import takedown_intake, takedowns
from dsr.models import Takedown
from dsr.views.apiutil import ApiError, actor_of, api_view, json_body, optional_str

_LINE_FIELDS = {"signature_name": 200, "acting_for": 200, "contact_email": 254, "contact_phone": 40}
_TEXT_FIELDS = {"authority": 2000, "location_details": 4000, "good_faith_statement": 4000}  # may hold line breaks
_BOOL_FIELDS = ("signature_attested", "good_faith_confirmed", "intimate", "minor_suspected", "also_erase_own_data")


def takedown_json(td: Takedown) -> dict[str, Any]:
    """The request's state for the platform: no requester data beyond what it filed, and nothing of the items."""
    clocks = takedowns.current_clocks(td)
    return {
        "number": td.number,
        "state": td.state,
        "channel": td.channel,
        "received_at": td.received_at.isoformat(),
        "valid_at": td.valid_at.isoformat() if td.valid_at else None,
        "missing": [{"element": m.element, "field": m.field, "message": m.message}
                    for m in takedown_intake.missing_elements(td)] if td.state == "incomplete" else [],
        "intimate_claimed": td.intimate_claimed,
        "minor_suspected": td.minor_suspected,
        "clocks": [{"regime": c.regime, "starts_at": c.starts_at.isoformat(), "due_at": c.due_at.isoformat(),
                    "met_at": c.met_at.isoformat() if c.met_at else None} for c in clocks],
        "governing_due_at": td.due_at.isoformat() if td.due_at else None,
        "decision": None if td.decided_at is None else {
            "valid": td.decision_valid, "intimate": td.decision_intimate, "decided_at": td.decided_at.isoformat(),
            "ground": td.refusal_ground or None},
        "removed_at": td.removed_at.isoformat() if td.removed_at else None,
    }


def _filing(body: dict[str, Any]) -> takedown_intake.Filing:
    f = takedown_intake.Filing()
    for name, limit in _LINE_FIELDS.items():
        setattr(f, name, optional_str(body, name, limit) or "")
    for name, limit in _TEXT_FIELDS.items():
        value = body.get(name) or ""
        if not isinstance(value, str) or len(value) > limit:
            raise ApiError(400, "invalid_field", f"'{name}' must be a string of at most {limit} characters",
                           field=name)
        setattr(f, name, value)
    for name in _BOOL_FIELDS:
        value = body.get(name, False)
        if not isinstance(value, bool):
            raise ApiError(400, "invalid_field", f"'{name}' must be true or false", field=name)
    f.signature_attested = body.get("signature_attested", False)
    f.good_faith_confirmed = body.get("good_faith_confirmed", False)
    f.intimate, f.minor = body.get("intimate", False), body.get("minor_suspected", False)
    f.also_erase_own_data = body.get("also_erase_own_data", False)
    filed_as = body.get("filed_as", "individual")
    if filed_as not in ("individual", "authorized"):
        raise ApiError(400, "invalid_field", "'filed_as' must be 'individual' or 'authorized'", field="filed_as")
    f.filed_as = filed_as
    for name in ("item_ids", "links"):
        value = body.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 2000 for v in value):
            raise ApiError(400, "invalid_field", f"'{name}' must be a list of strings", field=name)
    f.item_refs, f.links = list(body.get("item_ids", [])), list(body.get("links", []))
    raw = body.get("reference_image_base64")
    if raw is not None:
        if not isinstance(raw, str):
            raise ApiError(400, "invalid_field", "'reference_image_base64' must be a base64 string",
                           field="reference_image_base64")
        try:
            f.reference_image = base64.b64decode(raw, validate=True) or None
        except (binascii.Error, ValueError) as exc:
            raise ApiError(400, "invalid_field", "'reference_image_base64' is not base64",
                           field="reference_image_base64") from exc
    return f


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except takedowns.TakedownError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc


@api_view({"POST"}, scope="takedowns:write")
def takedowns_create(request: HttpRequest) -> HttpResponse:
    """File a takedown request, complete or not. 201 with the request number at once; ``missing`` says exactly
    what still has to be given (the clock starts when nothing is missing). A repeated ``idempotency_key`` returns
    the first request (200)."""
    body = json_body(request)
    key = optional_str(body, "idempotency_key", 100)
    td, created, _token = _call(takedown_intake.file_takedown, _filing(body), channel="api", actor=actor_of(request),
                                now=request.now, idempotency_key=key)
    return JsonResponse(takedown_json(td), status=201 if created else 200)


def _get(number: str) -> Takedown:
    td = Takedown.objects.filter(number=number[:20]).first() if isinstance(number, str) else None
    if td is None:
        raise ApiError(404, "not_found", "no takedown request with that number")
    return td


@api_view({"GET"}, scope="takedowns:read")
def takedown_detail(request: HttpRequest, number: str) -> HttpResponse:
    return JsonResponse(takedown_json(_get(number)))


@api_view({"POST"}, scope="takedowns:write")
def takedown_supplement(request: HttpRequest, number: str) -> HttpResponse:
    """Add missing elements to an incomplete request (409 once it is complete)."""
    td = _get(number)
    body = json_body(request)
    try:
        td = takedown_intake.supplement_takedown(td, _filing(body), actor=actor_of(request), now=request.now)
    except takedowns.TakedownError as exc:
        status = 409 if td.state != "incomplete" else 422
        raise ApiError(status, "conflict" if status == 409 else "invalid_request", str(exc)) from exc
    return JsonResponse(takedown_json(td))
