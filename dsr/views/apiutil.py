"""Plumbing shared by the JSON API views: token auth, JSON parsing, uniform errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from dsr import audit
from dsr.models import ApiToken
from dsr.models.api import hash_token
from dsr.scopes import SCOPES


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


def api_view(methods: set[str], *, scope: str, max_body: Callable[[], int] | None = None) -> Callable:
    """Token-authenticated JSON endpoint needing ``scope`` (dsr/scopes.py). The view gets
    ``request.api_token`` and ``request.now``. A method not in ``methods`` gets 405 with ``Allow``.
    ``max_body`` returns the largest body the route accepts (default ``DSR_MAX_BODY_BYTES``), enforced by
    dsr/bodylimit.py before the body is read."""
    if scope not in SCOPES:
        raise ImproperlyConfigured(f"api_view: unknown scope {scope!r}; add it to dsr/scopes.py")
    allow = ", ".join(sorted(methods))

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                resp = error_response(405, "method_not_allowed", f"use {' or '.join(sorted(methods))}")
                resp["Allow"] = allow
                return resp
            request.now = timezone.now()  # the clock is read here, at the edge
            token, problem = _authenticate(request, request.now)
            if token is None:
                resp = error_response(401, "unauthorized", problem)
                resp["WWW-Authenticate"] = 'Bearer realm="dsr"'
                return resp
            if not token.has_scope(scope):
                return _forbidden(request, token, scope)
            request.api_token = token
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message, **exc.extra)
            except Http404:
                return error_response(404, "not_found", "nothing with that id")
            # Raised by Django while parsing the body (request.POST / FILES / body); documented in the schema.
            except RequestDataTooBig:
                return error_response(413, "too_large", "the fields of this body are larger than the server accepts")
            except (TooManyFieldsSent, TooManyFilesSent):
                return error_response(400, "too_many_fields", "the body has more fields or files than allowed")
            except (MultiPartParserError, UnreadablePostError):
                return error_response(400, "invalid_body", "the body could not be parsed as the declared type")

        wrapper.api_methods = frozenset(methods)  # type: ignore[attr-defined]
        wrapper.api_scope = scope  # type: ignore[attr-defined]
        wrapper.max_body_bytes = max_body  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _authenticate(request: HttpRequest, now: datetime) -> tuple[ApiToken | None, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None, "send a valid token as 'Authorization: Bearer <token>'"
    token = ApiToken.objects.filter(token_hash=hash_token(value.strip())).first()
    if token is None:
        return None, "send a valid token as 'Authorization: Bearer <token>'"
    state = token.state(now)
    if state != "active":
        return None, f"this token has been {'revoked' if state == 'revoked' else 'expired'}; ask for a new one"
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        # Coarse on purpose: one write per token per five minutes, not one per request.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token, ""


def _forbidden(request: HttpRequest, token: ApiToken, scope: str) -> HttpResponse:
    match = request.resolver_match
    audit.record(
        "api_token.forbidden",
        actor=token.actor,
        now=request.now,
        object_type="api_token",
        object_id=token.pk,
        data={"scope": scope, "route": match.url_name if match else "", "method": request.method},
    )
    resp = error_response(403, "insufficient_scope", f"this token lacks the scope '{scope}' that this endpoint needs",
                          required_scope=scope)
    resp["WWW-Authenticate"] = f'Bearer realm="dsr", error="insufficient_scope", scope="{scope}"'
    return resp


def actor_of(request: HttpRequest) -> str:
    return request.api_token.actor


def json_body(request: HttpRequest) -> dict[str, Any]:
    if not (request.content_type or "").startswith("application/json"):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    from dsr.views.openapi import validate_json_body  # openapi imports this module

    validate_json_body(request, body)
    return body


def parse_uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ApiError(400, "invalid_field", f"'{field}' must be a UUID", field=field) from exc


def parse_instant(value: Any, field: str) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ApiError(400, "invalid_field", f"'{field}' must be an ISO 8601 date-time", field=field)
    if parsed.tzinfo is None:
        raise ApiError(400, "invalid_field", f"'{field}' needs a time zone offset (e.g. Z)", field=field)
    return parsed.astimezone(UTC)


def optional_str(body: dict[str, Any], field: str, max_len: int = 254, *, strip: bool = True) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ApiError(400, "invalid_field", f"'{field}' must be a string of at most {max_len} characters", field=field)
    if "\r" in value or "\n" in value or "\x00" in value:
        # Single-line fields may end up in headers (content types, mail): a line break is refused at input.
        raise ApiError(400, "invalid_field", f"'{field}' must be a single line", field=field)
    return value.strip() if strip else value
