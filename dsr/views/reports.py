"""CCPA §7101 request log and §7102 metrics for staff with the REPORTS capability (operator, approver,
auditor). Views parse and validate the query, read the clock (here, at the edge, only for defaults and
the generation stamp), call dsr.reports and render. Every answer is ``Cache-Control: no-store``."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dsr import reports
from dsr.deadlines import Regime, receipt_date
from dsr.models import CcpaMetricsPublication
from dsr.pdf import render_pdf
from dsr.roles import Action, can
from dsr.views.staff import staff_view
from dsr.workflow import local_today

FIRST_YEAR = 2020  # the CCPA applies from 1 January 2020
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(9998, 12, 31)  # room to turn dates into instants either side


class BadQuery(ValueError):
    """A query parameter the report cannot use; the message is shown to the user with a 400."""


View = Callable[..., HttpResponse]


def reports_access(view: View) -> View:
    """GET only. Anonymous → login page; signed in without a role that may see reports → the console's 403
    page (``staff_view``); a query the report cannot use → the reports page with the reason above its forms
    (status 400), never a bare error. Always ``no-store``."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadQuery as exc:
            return render(request, "staff/reports.html", _index_context(timezone.now(), error=str(exc)), status=400)

    guarded = staff_view(Action.REPORTS)(checked)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = guarded(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    return require_GET(wrapper)


# --- parsing --------------------------------------------------------------------------------------------


def _ccpa_today(now: datetime) -> date:
    return local_today(now, Regime.CCPA)


def default_year(now: datetime) -> int:
    """The current calendar year in California: the reports open on the year the work is in (issue 8 §7)."""
    return _ccpa_today(now).year


def parse_year(request: HttpRequest, now: datetime) -> int:
    """The ``year`` query parameter; missing → the current year; anything else unusable → BadQuery."""
    raw = request.GET.get("year", "").strip()
    last = _ccpa_today(now).year
    if not raw:
        return default_year(now)
    if not (raw.isascii() and raw.isdigit() and len(raw) == 4):
        raise BadQuery(f"year must be a four-digit calendar year such as {default_year(now)}, not {raw[:20]!r}")
    year = int(raw)
    if not FIRST_YEAR <= year <= last:
        raise BadQuery(f"year must be between {FIRST_YEAR} (the CCPA's first year) and {last}")
    return year


def parse_date(request: HttpRequest, name: str) -> date | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise BadQuery(f"{name} must be a date in the form YYYY-MM-DD, not {raw[:20]!r}") from None
    if len(raw) != 10:  # fromisoformat also accepts 20250101 and 2025-W01-1
        raise BadQuery(f"{name} must be a date in the form YYYY-MM-DD, not {raw[:20]!r}")
    if not EARLIEST_DATE <= value <= LATEST_DATE:  # the day after 9999-12-31 does not exist (OverflowError)
        raise BadQuery(f"{name} must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


# --- CSV helpers ----------------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    """Plain text for a CSV cell; text a spreadsheet would run as a formula is prefixed with a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_stream(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def _csv_response(stream: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- views ----------------------------------------------------------------------------------------------


def _index_context(now: datetime, *, error: str = "") -> dict[str, Any]:
    today = _ccpa_today(now)
    return {
        "default_year": default_year(now),
        "years": list(range(today.year, FIRST_YEAR - 1, -1)),
        "time_zone": reports.ccpa_time_zone(),
        "duty": reports.metrics_duty(today),
        "published": CcpaMetricsPublication.objects.order_by("-year", "-version")[:20],
        "error": error,
    }


@reports_access
def reports_index(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/reports.html", _index_context(timezone.now()))


@reports_access
def ccpa_log_csv(request: HttpRequest) -> HttpResponse:
    start, end = parse_date(request, "start"), parse_date(request, "end")
    if start and end and start > end:
        raise BadQuery("start must be on or before end")
    tz = reports.ccpa_time_zone()

    def rows() -> Iterator[list[object]]:
        for r in reports.ccpa_request_log(start, end):
            yield [
                r.reference, r.date_of_request.isoformat(), r.nature_of_request, r.manner_of_request, r.agent,
                r.date_of_response.isoformat() if r.date_of_response else "", r.nature_of_response,
                r.basis_for_denial, _local(r.receipt_ack_sent_at, tz), _local(r.extension_notice_sent_at, tz),
                r.verification_level,
            ]

    span = f"-{start or 'start'}-to-{end or 'now'}" if start or end else ""
    return _csv_response(_csv_stream(reports.LOG_COLUMNS, rows()), f"ccpa-request-log{span}.csv")


def _local(value: datetime | None, tz: str) -> str:
    """An instant as ISO 8601 in the CCPA zone, with its offset (so it stays unambiguous)."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def _year_figures(year: int) -> tuple[reports.CcpaMetrics, CcpaMetricsPublication | None, list[reports.Change]]:
    """A published year shows its frozen figures and what has changed since; otherwise the live figures."""
    live = reports.ccpa_metrics(year)
    versions = reports.publications(year)
    if not versions:
        return live, None, []
    published = reports.metrics_from_publication(versions[0])
    return published, versions[0], reports.metrics_difference(published, live)


def _metrics_context(request: HttpRequest) -> dict[str, Any]:
    now = timezone.now()
    year = parse_year(request, now)
    metrics, publication, changes = _year_figures(year)
    tz = reports.ccpa_time_zone()
    return {
        "metrics": metrics,
        "rows": [_display_row(r) for r in metrics.rows],
        "year": year,
        "year_complete": year < _ccpa_today(now).year,
        "years": list(range(_ccpa_today(now).year, FIRST_YEAR - 1, -1)),
        "denial_reasons": reports.DENIAL_REASONS,
        "controller_name": settings.DSR_CONTROLLER_NAME,
        "generated_at": now,
        "publication": publication,
        "published_on": receipt_date(publication.published_at, tz) if publication else None,
        "versions": reports.publications(year),
        "changes": [{"c": c, "published": _shown(c.published), "current": _shown(c.current)} for c in changes],
        "can_publish": can(request.user, Action.APPROVE) and year < _ccpa_today(now).year,  # type: ignore[arg-type]
    }


def _shown(value: object) -> str:
    return reports.format_days(value) if isinstance(value, float) or value is None else str(value)


def _display_row(r: reports.TypeMetrics) -> dict[str, Any]:
    return {
        "m": r,
        "median": reports.format_days(r.median_days),
        "mean": reports.format_days(r.mean_days),
        "denials": [r.denials_by_reason[k] for k in reports.DENIAL_REASONS],
    }


@reports_access
def ccpa_metrics_page(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/reports_ccpa_metrics.html", _metrics_context(request))


@reports_access
def ccpa_metrics_csv(request: HttpRequest) -> HttpResponse:
    year = parse_year(request, timezone.now())
    metrics, publication, _ = _year_figures(year)
    status = (f"published {receipt_date(publication.published_at, reports.ccpa_time_zone())} "
              f"(version {publication.version})" if publication else "not published: computed now")
    rows = ([*row, status] for row in reports.metrics_table(metrics))
    return _csv_response(_csv_stream([*reports.METRICS_COLUMNS, "publication"], rows), f"ccpa-metrics-{year}.csv")


@require_POST
@staff_view(Action.APPROVE)
def ccpa_metrics_publish(request: HttpRequest) -> HttpResponse:
    """An approver publishes a past year's figures as a frozen snapshot (a second time: a correction)."""
    raw = request.POST.get("year", "")
    year = int(raw) if raw.isascii() and raw.isdigit() and len(raw) == 4 else 0
    if not year:
        messages.error(request, "Choose the calendar year to publish.")
        return redirect("staff-reports")
    try:
        pub = reports.publish_ccpa_metrics(year, actor=request.user, now=timezone.now(),  # type: ignore[arg-type]
                                           correction_reason=request.POST.get("correction_reason", ""))
    except reports.ReportError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{year} figures published (version {pub.version}); they no longer change.")
    return redirect(f"{reverse('staff-reports-ccpa-metrics')}?year={year}")


@reports_access
def ccpa_metrics_pdf(request: HttpRequest) -> HttpResponse:
    context = _metrics_context(request)
    pdf = render_pdf("pdf/ccpa_metrics.html", context)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="ccpa-metrics-{context["year"]}.pdf"'
    return response
