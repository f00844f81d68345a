"""Operator console (server-rendered, works without JavaScript)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def console_context(request: HttpRequest) -> dict[str, Any]:
    return {}


def home(request: HttpRequest) -> HttpResponse:
    return redirect("staff-login")


login_view = auth_views.LoginView.as_view(template_name="staff/login.html", redirect_authenticated_user=True)
logout_view = auth_views.LogoutView.as_view()
