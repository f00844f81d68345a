"""Staff sign-in plumbing: who is counted (keyed hashes of usernames, the real client address), and what the
audit trail learns about sign-ins and refusals (security.md "Web"; issue 7 §3).

The lockout itself is django-axes (settings "staff sign-in"); this module gives it the username and address
to count, and writes the audit events: ids and keyed hashes only, never what was typed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dsr import audit, keys

FORBIDDEN_AUDITED_PREFIXES = ("/staff/", "/admin/")


def _keyed(purpose: str, value: str) -> str:
    return hmac.new(keys.pseudonym_key(), f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]


def normalise_username(username: str | None) -> str:
    """Counted case-insensitively, so 'Operator' and 'operator' share one budget of attempts."""
    return (username or "").strip().lower()


def username_ref(username: str | None) -> str:
    """Keyed hash of an attempted username: the same for every attempt at one name, whether or not such a
    user exists, and meaningless without the pseudonym key."""
    return "usr_" + _keyed("staff-username", normalise_username(username))


def ip_ref(ip: str | None) -> str:
    return "ip_" + _keyed("client-ip", ip or "")


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE: axes counts (and stores) this hash, never the typed name."""
    raw = (credentials or {}).get("username")
    if raw is None:
        raw = request.POST.get("username", "")
    return username_ref(raw)


def client_ip(request: HttpRequest) -> str:
    """The client's address. X-Forwarded-For is read only when DSR_TRUSTED_PROXY_COUNT proxies are configured:
    each proxy appends the address it received from, so the entry that many places from the right was written
    by the outermost trusted proxy; anything further left came from the client and may be forged."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    trusted = settings.DSR_TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) < trusted:
        return remote  # the request did not come through every configured proxy
    return hops[-trusted]


def record_failed_sign_in(request: HttpRequest, username: str, *, now: datetime) -> None:
    """Audit one refused password sign-in: the user's id when the name exists, the keyed hash of the name, and of
    the address. An attempt refused while the lockout is already in force is counted by axes, not audited
    again, so a flood cannot grow the chain without bound."""
    locked = bool(getattr(request, "axes_locked_out", False))
    failures = getattr(request, "axes_failures_since_start", None)
    if locked and failures is not None and failures > settings.AXES_FAILURE_LIMIT:
        return
    user_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
    audit.record(
        "staff.sign_in_locked" if locked else "staff.sign_in_failed",
        actor="anonymous",
        now=now,
        object_type="user" if user_id else "",
        object_id=user_id or "",
        data={"username_ref": username_ref(username), "ip_ref": ip_ref(client_ip(request)),
              "failures": failures, "path": request.resolver_match.url_name if request.resolver_match else ""},
    )


def record_sign_in(request: HttpRequest, user: User, *, now: datetime, second_factor: str) -> None:
    audit.record("staff.signed_in", actor=f"staff:{user.pk}", now=now, object_type="user", object_id=user.pk,
                 data={"ip_ref": ip_ref(client_ip(request)), "second_factor": second_factor})


class ForbiddenAuditMiddleware:
    """Every 403 a signed-in user meets in the console or the admin becomes an audit event (the route's name and
    the method: ids only). Anonymous visitors are sent to the login page instead and are not recorded."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 403 and request.path.startswith(FORBIDDEN_AUDITED_PREFIXES):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                match = request.resolver_match
                kwargs = match.kwargs if match else {}
                audit.record(
                    "staff.forbidden", actor=f"staff:{user.pk}", now=timezone.now(),
                    object_type="case" if "case_id" in kwargs else "",
                    object_id=kwargs.get("case_id", ""),
                    data={"route": match.view_name if match else "", "method": request.method},
                )
        return response
