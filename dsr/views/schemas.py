"""The package's JSON schemas at a stable URL (issue 10 §2): /schemas/export/v1/<name>.schema.json.
Public documentation (no personal data), the same files the repository holds and every package carries."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from dsr import exports


@require_safe
def export_schema(request: HttpRequest, name: str) -> HttpResponse:
    try:
        body = exports.schema_text(name)
    except KeyError as exc:
        raise Http404("no such schema") from exc
    response = HttpResponse(body, content_type="application/schema+json")
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    return response
