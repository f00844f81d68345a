"""Scripts the console pages load. Served by Django itself so they work wherever the app runs (``runserver``,
any WSGI server) without a static-file server, and from this origin, as the CSP's ``script-src 'self'`` asks."""

from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@require_safe
def countdown_js(request: HttpRequest) -> HttpResponse:
    """The breach desk's live countdowns (dsr/assets/countdown.js). Not secret: it carries no data."""
    response = HttpResponse((ASSETS / "countdown.js").read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response
