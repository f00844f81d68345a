"""The second factor for staff: a TOTP authenticator (django-otp) plus one-time recovery codes (django-otp's
static device), required for every staff account when DSR_REQUIRE_2FA is on (always in production).

A signed-in user who has a device but has not entered a code in this session, or who must enrol and has no
device, reaches nothing but the code / enrolment pages (SecondFactorMiddleware). Enrolment keeps the new secret
in the session until the first code proves the authenticator holds it, then stores the device, its recovery
codes and an audit event in one transaction.
"""

from __future__ import annotations

import secrets
import time
from base64 import b32encode
from binascii import unhexlify
from collections.abc import Callable
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

import django_otp
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from dsr import audit

Step = Literal["verify", "enrol"]
PENDING_KEY = "dsr_totp_pending_key"
STEP_URLS: dict[Step, str] = {"verify": "staff-2fa-verify", "enrol": "staff-2fa-enrol"}
# Reachable before the second factor: the sign-in pages themselves and logging out.
OPEN_ROUTES = frozenset({"staff-login", "staff-logout", "admin:logout", *STEP_URLS.values()})


class EnrolmentError(ValueError):
    """The code does not match the new authenticator (or enrolment is not possible now)."""


def has_device(user: User) -> bool:
    return django_otp.user_has_device(user, confirmed=True)


def required() -> bool:
    return bool(settings.DSR_REQUIRE_2FA)


def pending_step(request: HttpRequest) -> Step | None:
    """What stands between this signed-in user and the console: a code ('verify'), enrolment ('enrol'), or
    nothing. A user who enrolled is always asked, even where 2FA is not required."""
    user = request.user
    if not user.is_authenticated:
        return None
    # OTPMiddleware gives request.user is_verified(); a user just logged in by auth.login() has none yet.
    is_verified = getattr(user, "is_verified", None)
    if is_verified is not None and is_verified():
        return None
    if has_device(user):  # type: ignore[arg-type]
        return "verify"
    return "enrol" if required() else None


def step_url(step: Step, next_url: str) -> str:
    return f"{reverse(STEP_URLS[step])}?{urlencode({'next': next_url})}"


class SecondFactorMiddleware:
    """Sends a signed-in user who still owes a second factor to the code or enrolment page, from every page but
    the sign-in pages and the API (which authenticates with tokens, not sessions)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict) -> HttpResponse | None:
        if request.path.startswith("/api/") or request.resolver_match is None:
            return None
        if request.resolver_match.view_name in OPEN_ROUTES:
            return None
        step = pending_step(request)
        if step is None:
            return None
        return redirect(step_url(step, request.get_full_path()))


# --- enrolment ------------------------------------------------------------------------------------------


def pending_secret(request: HttpRequest) -> str:
    """The hex secret offered to this session's authenticator; the same one until enrolment succeeds."""
    key = request.session.get(PENDING_KEY)
    if not key:
        key = request.session[PENDING_KEY] = default_key()
    return key


def provisioning_uri(user: User, key_hex: str) -> str:
    return TOTPDevice(user=user, key=key_hex).config_url


def manual_key(key_hex: str) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    b32 = b32encode(unhexlify(key_hex)).decode().rstrip("=")
    return " ".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code, drawn here (no remote service or script sees the secret)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def _totp_at(key_hex: str, token: str, now_ts: float) -> int | None:
    """The time step at which TOKEN is valid for KEY (one step of clock skew allowed), or None."""
    if not (token.isascii() and token.isdigit() and len(token) == 6):
        return None
    totp = TOTP(unhexlify(key_hex), step=30, t0=0, digits=6, drift=0)
    totp.time = now_ts
    if not totp.verify(int(token), tolerance=1):
        return None
    return totp.t()  # includes the drift that matched


def new_recovery_code() -> str:
    """80 random bits as 16 base32 characters (StaticToken holds up to 16)."""
    return b32encode(secrets.token_bytes(10)).decode().lower()


def format_code(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise_code(raw: str) -> str:
    return "".join(raw.split()).replace("-", "").lower()


def enrol(request: HttpRequest, token: str, *, now: datetime) -> list[str]:
    """Confirm the session's pending authenticator with its first code: store the TOTP device and a fresh set
    of recovery codes, mark this session verified, audit it. Returns the recovery codes (shown once).

    Refused when the user already has a device: a password alone must never be enough to add one."""
    user: User = request.user  # type: ignore[assignment]
    key = request.session.get(PENDING_KEY)
    if not key:
        raise EnrolmentError("the enrolment page expired: scan the new code shown")
    t = _totp_at(key, normalise_code(token), time.time())
    if t is None:
        raise EnrolmentError("that code does not match: check the authenticator's clock and try the next code")
    codes = [new_recovery_code() for _ in range(settings.DSR_RECOVERY_CODES)]
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one enrolment at a time per user
        if has_device(user):
            raise EnrolmentError("this account already has an authenticator: enter its code instead")
        device = TOTPDevice.objects.create(user=user, name="authenticator", key=key, confirmed=True, last_t=t)
        recovery = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
        StaticToken.objects.bulk_create(StaticToken(device=recovery, token=c) for c in codes)
        audit.record("staff.second_factor_enrolled", actor=f"staff:{user.pk}", now=now, object_type="user",
                     object_id=user.pk, data={"device": "totp", "recovery_codes": len(codes)})
    del request.session[PENDING_KEY]
    _mark_verified(request, device)
    return codes


# --- verification ---------------------------------------------------------------------------------------


def verify(request: HttpRequest, token: str, *, now: datetime) -> str | None:
    """Check a code from the authenticator or a recovery code (used up by this) against the user's own devices.
    Returns "totp" / "recovery" and marks the session verified, or None (each device throttles its failures:
    after n wrong codes the next try is refused for 2^(n-1) seconds). Both outcomes are audited."""
    user: User = request.user  # type: ignore[assignment]
    code = normalise_code(token)
    is_totp = code.isascii() and code.isdigit() and len(code) == 6
    model = TOTPDevice if is_totp else StaticDevice
    matched = None
    with transaction.atomic():
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            if code and device.verify_token(code):
                matched = device
                break
        kind = "totp" if is_totp else "recovery"
        if matched is None:
            audit.record("staff.second_factor_failed", actor=f"staff:{user.pk}", now=now, object_type="user",
                         object_id=user.pk, data={"device": kind})
            return None
        left = StaticToken.objects.filter(device__user=user).count()
        audit.record("staff.second_factor_verified", actor=f"staff:{user.pk}", now=now, object_type="user",
                     object_id=user.pk, data={"device": kind, "recovery_codes_left": left})
    _mark_verified(request, matched)
    return kind


def _mark_verified(request: HttpRequest, device: TOTPDevice | StaticDevice) -> None:
    # A new session id at the step that grants access, so an id fixed before it is worth nothing after.
    request.session.cycle_key()
    django_otp.login(request, device)


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user).count()


# --- reset ----------------------------------------------------------------------------------------------


def reset(user: User, *, actor: str, now: datetime) -> int:
    """Remove every second-factor device of USER (a lost phone): their sessions lose the verified mark at once
    and they enrol again at their next sign-in. Returns how many devices were removed."""
    with transaction.atomic():
        removed = 0
        for model in (TOTPDevice, StaticDevice):
            count, _ = model.objects.filter(user=user).delete()
            removed += count
        audit.record("staff.second_factor_reset", actor=actor, now=now, object_type="user", object_id=user.pk,
                     data={"records_removed": removed})
    return removed
