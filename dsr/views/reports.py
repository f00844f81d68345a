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
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dsr import reports
from dsr.deadlines import Regime
from dsr.pdf import render_pdf
from dsr.roles import Action
from dsr.views.staff import staff_view
from dsr.workflow import local_today

FIRST_YEAR = 2020  # the CCPA applies from 1 January 2020
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(9998, 12, 31)  # room to turn dates into instants either side


class BadQuery(ValueError):
    """A query parameter the report cannot use; the message is shown to the user with a 400."""


View = Callable[..., HttpResponse]


def reports_access(view: View) -> View:
    """GET only. Anonymous → login page; signed in without a role that may see reports → the console's 403
    page (``staff_view``); a query the report cannot use → 400 with the reason. Always ``no-store``."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadQuery as exc:
            return HttpResponse(f"Bad request: {exc}", status=400, content_type="text/plain; charset=utf-8")

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
    """The previous calendar year (the one §7102 metrics are published for by 1 July)."""
    return _ccpa_today(now).year - 1


def parse_year(request: HttpRequest, now: datetime, *, required: bool = True) -> int:
    raw = request.GET.get("year", "").strip()
    last = _ccpa_today(now).year
    if not raw:
        if required:
            raise BadQuery(f"give the calendar year, e.g. ?year={default_year(now)}")
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


@reports_access
def reports_index(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    year = default_year(now)
    return render(request, "staff/reports.html", {
        "default_year": year,
        "years": list(range(_ccpa_today(now).year, FIRST_YEAR - 1, -1)),
        "time_zone": reports.ccpa_time_zone(),
    })


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


def _metrics_context(request: HttpRequest) -> dict[str, Any]:
    now = timezone.now()
    year = parse_year(request, now)
    metrics = reports.ccpa_metrics(year)
    return {
        "metrics": metrics,
        "rows": [_display_row(r) for r in metrics.rows],
        "year": year,
        "year_complete": year < _ccpa_today(now).year,
        "years": list(range(_ccpa_today(now).year, FIRST_YEAR - 1, -1)),
        "denial_reasons": reports.DENIAL_REASONS,
        "controller_name": settings.DSR_CONTROLLER_NAME,
        "generated_at": now,
    }


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
    metrics = reports.ccpa_metrics(year)
    return _csv_response(_csv_stream(reports.METRICS_COLUMNS, reports.metrics_table(metrics)),
                         f"ccpa-metrics-{year}.csv")


@reports_access
def ccpa_metrics_pdf(request: HttpRequest) -> HttpResponse:
    context = _metrics_context(request)
    pdf = render_pdf("pdf/ccpa_metrics.html", context)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="ccpa-metrics-{context["year"]}.pdf"'
    return response
