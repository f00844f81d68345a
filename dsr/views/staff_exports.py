"""Console actions for access/portability packages (issue 10 §3-4): start the export of an approved case,
watch its progress on the case page, download the finished package (an audit event)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from dsr import crypto, exports, vault, workflow
from dsr.models import Case
from dsr.roles import Action
from dsr.views.staff import staff_view


@require_POST
@staff_view(Action.WORK)
def case_export(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = get_object_or_404(Case, pk=case_id)
    try:
        exports.start_export(case, actor=request.user, now=timezone.now(),
                             full_history=request.POST.get("full_history") == "1",
                             withheld_note=request.POST.get("withheld_note", ""),
                             withheld_ground=request.POST.get("withheld_ground", ""))
    except workflow.WorkflowError as exc:
        messages.error(request, f"{case.reference}: {exc}")
    else:
        messages.success(request, f"{case.reference}: the package is being built; the case completes and the "
                                  "requester is told how to get it when it is ready.")
    return redirect("staff-case", case_id=case.pk)


@require_safe
@staff_view(Action.WORK)
def case_package(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = get_object_or_404(Case, pk=case_id)
    package = exports.package_for(case)
    try:
        if package is None:
            raise exports.ExportError("this case has no package")
        stream = exports.open_package(package)
        first = next(stream, b"")
    except (exports.ExportError, vault.KeyDestroyed, crypto.CryptoError, OSError):
        messages.error(request, f"{case.reference}: there is no package to download")
        return redirect("staff-case", case_id=case.pk)
    exports.mark_downloaded(package, actor=request.user, now=timezone.now(), channel="console")

    def body():
        yield first
        yield from stream

    response = StreamingHttpResponse(body(), content_type="application/zip")
    response["Content-Length"] = str(package.size)
    response["Content-Disposition"] = f'attachment; filename="{exports.download_name(package)}"'
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
