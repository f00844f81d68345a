"""The admin site: approvers (the DPO) keep the processing register here; superusers see the rest read-only.

Entry goes through the console's sign-in (django-axes lockout, second factor), never through a login form of
the admin's own, and needs the approver role (or superuser) plus a verified second factor where one is owed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache


def may_edit_register(request: HttpRequest) -> bool:
    from dsr.roles import Action, can

    user = request.user
    return bool(user.is_active and user.is_authenticated and can(user, Action.REGISTER))  # type: ignore[arg-type]


class DsrAdminSite(admin.AdminSite):
    site_header = "dsr administration"
    site_title = "dsr admin"
    index_title = "Processing register (Art. 30) and read-only records"
    site_url = "/staff/"

    def has_permission(self, request: HttpRequest) -> bool:
        from dsr import twofactor

        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        if not (user.is_superuser or may_edit_register(request)):
            return False
        return twofactor.pending_step(request) is None

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """No second login form: anonymous visitors go to the console's sign-in; a signed-in user without the
        role gets the console's 403 page (audited), not a redirect loop back to a login they already passed."""
        from dsr.views.staff import forbidden

        if request.user.is_authenticated:
            if self.has_permission(request):
                return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
            return forbidden(request)
        return redirect_to_login(request.GET.get("next") or reverse("admin:index", current_app=self.name),
                                 reverse("staff-login"))
