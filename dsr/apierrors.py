"""Every answer under /api/ is the documented JSON, errors included (issue 7 §8).

Views answer through ``api_view`` (dsr/views/apiutil.py), which turns refusals into the ``Error`` shape. This
middleware covers what happens outside a view: a URL under /api/ that matches no route (404), and, as the
last line only, an exception no view handled (500: logged with its traceback, answered without details). Known
failures are fixed where they happen and documented per operation; this is not a substitute for that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

log = logging.getLogger("dsr.api")


def api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


class ApiJsonMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            try:
                resolve(request.path_info)
            except Resolver404:
                return api_error(404, "not_found", "no such endpoint; see /api/v1/openapi.json")
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path_info.startswith("/api/"):
            return None
        log.exception("unhandled error in %s", request.resolver_match.url_name if request.resolver_match else "?")
        return api_error(500, "internal_error", "the server failed to answer; the error has been logged")
