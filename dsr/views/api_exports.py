"""The platform fetches a ready access/portability package for its signed-in user (issue 10 §4):
GET /api/v1/cases/{id}/package — scope ``exports:read``, streamed, an attachment, never cached."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from dsr import crypto, exports, vault
from dsr.models import Case, PackageState
from dsr.views.apiutil import ApiError, actor_of, api_view, parse_uuid


@api_view({"GET"}, scope="exports:read")
def case_package(request: HttpRequest, case_id: str) -> HttpResponse:
    case = Case.objects.filter(pk=parse_uuid(case_id, "case")).first()
    if case is None:
        raise ApiError(404, "not_found", "no such case")
    package = exports.package_for(case)
    if package is None:
        raise ApiError(404, "not_found", "this case has no package")
    if package.state == PackageState.BUILDING:
        raise ApiError(409, "not_ready", f"the package is being built ({package.progress_percent()}% done)")
    if package.state != PackageState.READY:
        raise ApiError(410, "gone", f"the package is {package.get_state_display().lower()}")
    try:
        stream = exports.open_package(package)
        first = next(stream, b"")  # a destroyed key or a tampered blob answers in JSON, before the 200
    except vault.KeyDestroyed as exc:
        raise ApiError(410, "erased", "the subject has been erased") from exc
    except (crypto.CryptoError, OSError, exports.ExportError) as exc:
        raise ApiError(503, "unavailable", "the package cannot be read right now") from exc
    exports.mark_downloaded(package, actor=actor_of(request), now=request.now, channel="api")

    def body():
        yield first
        yield from stream

    response = StreamingHttpResponse(body(), content_type="application/zip")
    response["Content-Length"] = str(package.size)
    response["Content-Disposition"] = f'attachment; filename="{exports.download_name(package)}"'
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    return response
