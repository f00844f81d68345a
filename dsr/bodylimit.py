"""Request bodies are bounded per route, before a byte of them is read (issue 7 §6).

Django only enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` on non-file fields; a multipart file of any size is spooled
to a temporary file in full before a view can look at its size. This middleware runs first and refuses a body
larger than the route's limit from its ``Content-Length`` alone (413), so nothing is read or written. A chunked
body (no ``Content-Length``; a WSGI server such as gunicorn de-chunks it and sets ``wsgi.input_terminated``)
is read up to the limit and cut off there; a server that cannot de-chunk gets 411.

A route declares its limit with ``@api_view(..., max_body=lambda: <bytes>)`` (or the ``max_body_bytes``
attribute on any view); every other route gets ``DSR_MAX_BODY_BYTES``. The proxy in front should refuse the
same sizes first (nginx ``client_max_body_size``; see the README).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

# Room for the multipart framing and the small fields that travel with a file.
MULTIPART_SLACK = 1024 * 1024
_CHUNK = 64 * 1024


def route_limit(request: HttpRequest) -> int:
    try:
        view = resolve(request.path_info).func
    except Resolver404:
        return settings.DSR_MAX_BODY_BYTES
    limit = getattr(view, "max_body_bytes", None)
    if limit is None:
        return settings.DSR_MAX_BODY_BYTES
    return int(limit() if callable(limit) else limit)


def _refuse(request: HttpRequest, status: int, code: str, message: str, limit: int) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"error": {"code": code, "message": message, "limit": limit}}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class BodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = route_limit(request)
        too_large = f"the body is larger than this route accepts ({limit} bytes)"
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return _refuse(request, 400, "invalid_content_length", "Content-Length is not a number", limit)
            if length > limit:
                return _refuse(request, 413, "too_large", too_large, limit)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            if not request.META.get("wsgi.input_terminated"):
                return _refuse(request, 411, "length_required", "send a Content-Length (this server does not "
                               "de-chunk request bodies)", limit)
            body = _read_at_most(request.META["wsgi.input"], limit)
            if body is None:
                return _refuse(request, 413, "too_large", too_large, limit)
            size = body.seek(0, 2)
            body.seek(0)
            # Django reads bodies through this stream, sized by CONTENT_LENGTH (it ignores chunked input).
            request.META["CONTENT_LENGTH"] = str(size)
            request._stream = LimitedStream(body, size)
        return self.get_response(request)


def _read_at_most(stream, limit: int):  # type: ignore[no-untyped-def]
    """Copy a de-chunked body into a spooled file; None (and nothing kept) once it passes ``limit``."""
    body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE,  # noqa: SIM115
                                         dir=settings.FILE_UPLOAD_TEMP_DIR)
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return body
        total += len(chunk)
        if total > limit:
            body.close()
            return None
        body.write(chunk)
