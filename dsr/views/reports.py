"""CCPA §7101 log and §7102 metrics (placeholder until the reports module lands)."""

from django.http import HttpRequest, HttpResponse


def reports_index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("reports")
