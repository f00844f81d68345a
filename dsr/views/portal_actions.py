"""Status-page actions that drive other desks: cancel an erasure in its grace window (dsr/erasure.py), show an
export's progress and download it once (dsr/exports.py), through the names agreed in notes/interfaces.md.
Both desks are on main; the modules are still looked up by name so the portal does not import them at start.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _

from dsr import portal, workflow
from dsr.deadlines import Kind
from dsr.models import Case


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"dsr.{name}")
    except ModuleNotFoundError:
        return None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if isinstance(value, datetime) else None


def _erasure_info(case: Case) -> dict[str, Any] | None:
    """erasure.erasure_status(case) with its instants as datetimes (for the page's wording)."""
    erasure = _module("erasure")
    if erasure is None or Kind(case.kind) != Kind.ERASURE or not hasattr(erasure, "erasure_status"):
        return None
    info = erasure.erasure_status(case)
    if not isinstance(info, dict):
        return None
    return {**info, "grace_ends_at": _instant(info.get("grace_ends_at")),
            "completed_at": _instant(info.get("completed_at"))}


def in_grace(info: dict[str, Any] | None, now: datetime) -> bool:
    """Cancellable: the erasure desk says so, and its grace window has not ended."""
    if not info:
        return False
    end = info.get("grace_ends_at")
    return bool(info.get("cancellable") and (end is None or now < end))


def _export_info(case: Case) -> dict[str, Any] | None:
    """exports.export_status(case) with its instants as datetimes."""
    exports = _module("exports")
    if exports is None or Kind(case.kind) not in (Kind.ACCESS, Kind.PORTABILITY) or not hasattr(exports,
                                                                                              "export_status"):
        return None
    info = exports.export_status(case)
    if not isinstance(info, dict):
        return None
    return {**info, "expires_at": _instant(info.get("expires_at"))}


def download_allowed(case: Case, login: portal.Login, now: datetime) -> bool:
    """The data goes only to the verified subject: never on an agent's session (an agent never signs in as the
    subject), and for an account holder only right after the platform's own sign-in (step-up)."""
    if str(case.subject_id) != login.subject_id or not case.verified_at:
        return False
    return not (portal.verification_route(case, None) == "account" and login.method != "account")


def extras(case: Case, login: portal.Login, *, now: datetime) -> dict[str, Any]:
    erasure = _erasure_info(case)
    export = _export_info(case)
    downloaded = bool(export and export.get("downloads"))
    expires = export.get("expires_at") if export else None
    ready = bool(export and export.get("state") == "ready" and not downloaded and (expires is None or now < expires))
    return {
        "erasure": erasure,
        "can_cancel_erasure": in_grace(erasure, now),
        "export": export,
        "export_ready": ready,
        # issue 10 §3: the build's progress shows on the status page while it runs
        "export_building": bool(export and export.get("state") == "building"),
        "export_downloaded": downloaded,
        "can_download": ready and download_allowed(case, login, now),
        "download_needs_account": ready and not download_allowed(case, login, now),
    }


def cancel_erasure(request: HttpRequest, case: Case, login: portal.Login) -> HttpResponse:
    from dsr.views.portal import _back, _problem

    erasure = _module("erasure")
    if erasure is None or not in_grace(_erasure_info(case), request.now):
        raise Http404
    try:
        erasure.cancel_erasure(case, actor=portal.ACTOR, now=request.now,
                               reason="cancelled by the requester on the status page")
    except workflow.WorkflowError as exc:
        return _problem(request, str(exc))
    except Exception as exc:  # noqa: BLE001 - the erasure desk's own refusal (e.g. the window just closed)
        if exc.__class__.__name__.endswith("Error"):
            return _problem(request, _("The deletion can no longer be cancelled."))
        raise
    return _back("erasure_cancelled", case)


def download(request: HttpRequest, case: Case, login: portal.Login) -> HttpResponse:
    """The export, once: streamed, attachment, never cached, no referrer; a second request is refused (410). The
    package row is locked while the first download is recorded, so two requests at once cannot both pass."""
    from dsr.views.portal import _page

    exports = _module("exports")
    if exports is None or Kind(case.kind) not in (Kind.ACCESS, Kind.PORTABILITY):
        raise Http404
    if not download_allowed(case, login, request.now):
        return _page(request, "portal/problem.html",
                     {"message": _("For your security, sign in through your account on the platform again, then "
                                   "download.")}, status=403)
    gone = _page(request, "portal/problem.html",
                 {"message": _("This download was already used or has expired. Write to us if you need it "
                               "again.")}, status=410)
    package = exports.package_for(case)
    if package is None:
        return gone
    with transaction.atomic():
        package = type(package).objects.select_for_update().get(pk=package.pk)
        expires = getattr(package, "expires_at", None)
        if (getattr(package, "download_count", 0) or getattr(package, "state", "ready") != "ready"
                or (expires is not None and request.now >= expires)):
            return gone
        try:
            stream = exports.open_package(package)  # checks the key and the blob before anything is recorded
        except Exception as exc:  # noqa: BLE001 - ExportError / KeyDestroyed: nothing to hand over
            if type(exc).__name__ in ("ExportError", "KeyDestroyed"):
                return gone
            raise
        exports.mark_downloaded(package, actor=portal.ACTOR, now=request.now, channel="portal")
    response = StreamingHttpResponse(stream, content_type="application/zip")
    name = exports.download_name(package) if hasattr(exports, "download_name") else f"{case.reference}.zip"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def session_is_fresh(at: datetime, now: datetime) -> bool:
    return now - at <= timedelta(minutes=settings.DSR_PORTAL_SESSION_MINUTES)
