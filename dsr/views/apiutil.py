"""Plumbing shared by the JSON API views: token auth, JSON parsing, uniform errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from dsr.models import ApiToken
from dsr.models.api import hash_token


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


def api_view(methods: set[str]) -> Callable:
    """Token-authenticated JSON endpoint. The view gets ``request.api_token`` and ``request.now``."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return error_response(405, "method_not_allowed", f"use {' or '.join(sorted(methods))}")
            token = _authenticate(request)
            if token is None:
                resp = error_response(401, "unauthorized", "send a valid token as 'Authorization: Bearer <token>'")
                resp["WWW-Authenticate"] = 'Bearer realm="dsr"'
                return resp
            request.api_token = token
            request.now = timezone.now()  # the clock is read here, at the edge
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message, **exc.extra)

        return wrapper

    return decorate


def _authenticate(request: HttpRequest) -> ApiToken | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    token = ApiToken.objects.active().filter(token_hash=hash_token(value.strip())).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def actor_of(request: HttpRequest) -> str:
    return f"api:{request.api_token.pk}"


def json_body(request: HttpRequest) -> dict[str, Any]:
    if not (request.content_type or "").startswith("application/json"):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
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


def optional_str(body: dict[str, Any], field: str, max_len: int = 254) -> str | None:
    value = body.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ApiError(400, "invalid_field", f"'{field}' must be a string of at most {max_len} characters", field=field)
    return value.strip()
