"""Staff sign-in pages: password (with django-axes' lockout), then the second factor (a code, or enrolment of
an authenticator), then the page asked for. The console and the admin share these pages.

A known and an unknown username get the same page for a wrong password and the same page once locked out
(Django's ModelBackend hashes the password for an unknown user too, so timing matches as well).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from dsr import signin, twofactor


class StaffLoginView(auth_views.LoginView):
    template_name = "staff/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        username, password = form.data.get("username", ""), form.data.get("password", "")
        if username and password:  # only then did the form try to authenticate
            signin.record_failed_sign_in(self.request, username, now=timezone.now())
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        step = twofactor.pending_step(self.request)
        signin.record_sign_in(self.request, form.get_user(), now=timezone.now(),
                              second_factor="required" if step else "not required")
        if step:
            return redirect(twofactor.step_url(step, self.get_success_url()))
        return response


login_view = StaffLoginView.as_view()
logout_view = auth_views.LogoutView.as_view()


def locked_out(request: HttpRequest, original_response: HttpResponse | None = None,
               credentials: dict[str, Any] | None = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page with the lockout notice, 429. It names neither the username nor
    whether it exists, and is the same for both."""
    from django.contrib.auth.forms import AuthenticationForm

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "staff/login.html", {"form": AuthenticationForm(request), "locked_minutes": minutes,
                                                "next": ""}, status=429)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@never_cache
@sensitive_post_parameters("otp_token")
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Enter a code from the authenticator, or a recovery code."""
    step = twofactor.pending_step(request)
    if step != "verify":
        return redirect(twofactor.step_url(step, _next_url(request)) if step else _next_url(request))
    error = ""
    if request.method == "POST":
        used = twofactor.verify(request, request.POST.get("otp_token", ""), now=timezone.now())
        if used:
            if used == "recovery":
                left = twofactor.recovery_codes_left(request.user)  # type: ignore[arg-type]
                messages.warning(request, f"Recovery code used; {left} left. If your authenticator is lost, ask an "
                                          "administrator to reset your second factor.")
            return redirect(_next_url(request))
        error = "That code is not valid (or was tried too soon after a wrong one): try the next code."
    return render(request, "staff/two_factor_verify.html", {"next": _next_url(request), "error": error},
                  status=200 if not error else 400)


@never_cache
@sensitive_post_parameters("otp_token")
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator: scan the QR code (drawn here, as SVG), type its first code, keep the recovery
    codes shown once. Only for a signed-in user without a device (a password alone never adds a second one)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if twofactor.has_device(request.user):  # type: ignore[arg-type]
        if request.user.is_verified():  # type: ignore[union-attr]
            messages.info(request, "Two-factor authentication is already set up for this account.")
            return redirect(_next_url(request))
        return redirect(twofactor.step_url("verify", _next_url(request)))
    error = ""
    if request.method == "POST":
        try:
            codes = twofactor.enrol(request, request.POST.get("otp_token", ""), now=timezone.now())
        except twofactor.EnrolmentError as exc:
            error = str(exc)
        else:
            return render(request, "staff/two_factor_recovery_codes.html", {
                "codes": [twofactor.format_code(c) for c in codes], "next": _next_url(request)})
    key = twofactor.pending_secret(request)
    uri = twofactor.provisioning_uri(request.user, key)  # type: ignore[arg-type]
    return render(request, "staff/two_factor_enrol.html", {
        "qr_svg": twofactor.qr_svg(uri),
        "manual_key": twofactor.manual_key(key),
        "next": _next_url(request),
        "error": error,
        "required": twofactor.required(),
    }, status=200 if not error else 400)
