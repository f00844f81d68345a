"""CCPA records and metrics (legal-matrix §7.8 / §10.6 = regs §7101; §7.9 / §10.4 = regs §7102).

Plain functions over Case rows: no request objects, dates are passed in, the clock is never read. Every
date is a *statutory* date: the instant turned into a calendar date in the CCPA time zone
(``settings.DSR_CCPA_TIME_ZONE``, legal-matrix §1.3) with ``deadlines.receipt_date``.

Nothing personal leaves this module: the log names a case by its reference and the subject not at all
(no e-mail address, account id or agent name); free-text reasons have e-mail addresses masked.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, QuerySet

from dsr.deadlines import Kind, receipt_date
from dsr.models import Case, CaseState, Channel, FiledBy, Outcome
from dsr.workflow import GROUNDS_BY_CODE

# --- vocabulary ---------------------------------------------------------------------------------------

# Case kind → CCPA request type, in the order of legal-matrix §10.4 (the order of §7102(a)).
REQUEST_TYPES: dict[str, str] = {
    Kind.ERASURE: "delete",
    Kind.RECTIFICATION: "correct",
    Kind.ACCESS: "know",
    Kind.OPT_OUT_SALE_SHARING: "opt-out",
    Kind.LIMIT_SENSITIVE: "limit",
}
REQUEST_TYPE_LABELS: dict[str, str] = {
    "delete": "Requests to delete",
    "correct": "Requests to correct",
    "know": "Requests to know",
    "opt-out": "Requests to opt out of sale/sharing",
    "limit": "Requests to limit use of sensitive personal information",
}

# The optional denial breakdown of §7102(a) / legal-matrix §7.9, keyed by refusal ground.
DENIAL_REASONS: dict[str, str] = {
    "unverifiable": "Request not verifiable",
    "not_consumer": "Not made by a consumer or authorized agent",
    "exempt": "Exempt information",
    "other": "Other grounds",
}
_GROUND_TO_REASON = {"ccpa_unverifiable": "unverifiable", "ccpa_not_consumer": "not_consumer",
                     "ccpa_exempt": "exempt"}

# Verification method → the level of §7062 (or how identity was established), legal-matrix §10.6.
VERIFICATION_LEVELS: dict[str, str] = {
    "data_points_3_declaration": "reasonably high (3 data points + signed declaration)",
    "data_points_2": "reasonable (2 data points)",
    "account_reauth": "account re-authentication",
    "email_code": "one-time code to address on file",
    "agent_mandate_confirmed": "agent mandate + subject confirmed directly",
    "not_required": "not required (opt-out / limit)",
}

CCPA_FILTER = Q(regimes__icontains='"ccpa"')  # JSON list text contains the quoted code: SQLite and PostgreSQL

METHOD_STATEMENT = (
    "Counting method: a request is counted in the calendar year in which it was received, by its date of "
    "receipt in the {tz} time zone. \"Received\" counts every CCPA request received in the year, whatever its "
    "state; requests still pending (or withdrawn by the requester) when the report is generated are counted as "
    "received only, not as complied with or denied. \"Complied with in whole or in part\" and \"denied\" count "
    "the requests received in the year that reached that outcome, whenever they were answered. Each opt-out "
    "preference signal (Global Privacy Control) recorded as a request counts as one request to opt out. "
    "Days to respond: calendar days from the date of receipt to the date of the substantive response (the "
    "compliance or the denial), both in the {tz} time zone, over the requests received in the year that have "
    "a substantive response. Both the median and the mean are given; \"—\" means no request of that type has "
    "had a substantive response. Scope: California consumers (requests filed under the CCPA)."
)


def ccpa_time_zone() -> str:
    return settings.DSR_CCPA_TIME_ZONE


def method_statement() -> str:
    return METHOD_STATEMENT.format(tz=ccpa_time_zone())


def _day_start(day: date, tz: str) -> datetime:
    """The instant a calendar day begins in ``tz`` (handles DST: midnight always exists in US zones)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz))


_EMAIL = re.compile(r"[^\s@<>\"'(),;:]+@[^\s@<>\"'(),;:]+\.[^\s@<>\"'(),;:]+")


def _mask_emails(text: str) -> str:
    return _EMAIL.sub("[e-mail address removed]", text)


# --- §7101 request log ----------------------------------------------------------------------------------

LOG_COLUMNS: tuple[str, ...] = (
    "reference",
    "date_of_request",
    "nature_of_request",
    "manner_of_request",
    "agent",
    "date_of_response",
    "nature_of_response",
    "basis_for_denial",
    "receipt_ack_sent_at",
    "extension_notice_sent_at",
    "verification_level",
)


@dataclass(frozen=True)
class LogRow:
    """One §7101 record (legal-matrix §10.6): the six statutory fields plus operational ones.

    Dates are statutory dates in the CCPA zone; ``*_sent_at`` are instants (render them in that zone)."""

    reference: str
    date_of_request: date
    nature_of_request: str
    manner_of_request: str
    agent: bool
    date_of_response: date | None
    nature_of_response: str
    basis_for_denial: str
    receipt_ack_sent_at: datetime | None
    extension_notice_sent_at: datetime | None
    verification_level: str


def nature_of_response(state: str, outcome: str) -> str:
    if outcome == Outcome.COMPLIED_FULL:
        return "complied in whole"
    if outcome == Outcome.COMPLIED_PARTIAL:
        return "complied in part"
    if outcome == Outcome.DENIED:
        return "denied"
    if state == CaseState.CANCELLED:
        return "cancelled"
    return "pending"


def basis_for_denial(outcome: str, ground: str, reason: str) -> str:
    """The basis of a denial, or of the part denied in a partial compliance (§7101 "basis for denial")."""
    if outcome == Outcome.DENIED:
        g = GROUNDS_BY_CODE.get(ground)
        label = g.label if g else ground
        return _mask_emails(f"{label}: {reason}".strip().rstrip(":"))
    if outcome == Outcome.COMPLIED_PARTIAL:
        return _mask_emails(f"Partly denied: {reason}".strip())
    return ""


def manner_of_request(channel: str, filed_by: str) -> str:
    label = Channel(channel).label if channel in Channel.values else channel
    return f"{label} (authorized agent)" if filed_by == FiledBy.AGENT else label


def ccpa_cases(start: date | None = None, end: date | None = None, *, tz: str | None = None) -> QuerySet[Case]:
    """CCPA cases whose receipt date (in ``tz``) is within [start, end], both inclusive, in received order."""
    tz = tz or ccpa_time_zone()
    qs = Case.objects.filter(CCPA_FILTER)
    if start is not None:
        qs = qs.filter(received_at__gte=_day_start(start, tz))
    if end is not None:
        qs = qs.filter(received_at__lt=_day_start(end + timedelta(days=1), tz))
    return qs.order_by("received_at", "id")


def ccpa_request_log(start: date | None = None, end: date | None = None) -> Iterator[LogRow]:
    """Stream the §7101 log of CCPA requests received from ``start`` to ``end`` (inclusive, receipt dates in
    the CCPA zone; ``None`` = open-ended), oldest first. Rows are read in chunks, so memory stays flat."""
    tz = ccpa_time_zone()
    qs = ccpa_cases(start, end, tz=tz).only(
        "reference", "kind", "channel", "filed_by", "received_at", "state", "outcome", "refusal_ground",
        "refusal_reason", "substantive_response_at", "acknowledged_at", "extended_at", "verification_method",
    )
    for case in qs.iterator(chunk_size=1000):
        yield LogRow(
            reference=case.reference,
            date_of_request=receipt_date(case.received_at, tz),
            nature_of_request=REQUEST_TYPES.get(case.kind, case.kind),
            manner_of_request=manner_of_request(case.channel, case.filed_by),
            agent=case.filed_by == FiledBy.AGENT,
            date_of_response=(receipt_date(case.substantive_response_at, tz)
                              if case.substantive_response_at else None),
            nature_of_response=nature_of_response(case.state, case.outcome),
            basis_for_denial=basis_for_denial(case.outcome, case.refusal_ground, case.refusal_reason),
            receipt_ack_sent_at=case.acknowledged_at,
            extension_notice_sent_at=case.extended_at,
            verification_level=VERIFICATION_LEVELS.get(case.verification_method, case.verification_method),
        )


# --- §7102 metrics ---------------------------------------------------------------------------------------


@dataclass
class TypeMetrics:
    """The §7102(a) figures for one request type."""

    request_type: str  # delete / correct / know / opt-out / limit
    label: str
    received: int = 0
    complied_whole: int = 0
    complied_partial: int = 0
    denied: int = 0
    pending: int = 0  # still open when the report was generated (counted as received only)
    cancelled: int = 0  # withdrawn by the requester (counted as received only)
    median_days: float | None = None
    mean_days: float | None = None
    denials_by_reason: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DENIAL_REASONS, 0))

    @property
    def complied(self) -> int:
        """Complied with in whole or in part."""
        return self.complied_whole + self.complied_partial

    @property
    def responded(self) -> int:
        return self.complied + self.denied


@dataclass
class CcpaMetrics:
    year: int
    time_zone: str
    rows: list[TypeMetrics]
    method: str

    def by_type(self) -> dict[str, TypeMetrics]:
        return {r.request_type: r for r in self.rows}


def ccpa_metrics(year: int) -> CcpaMetrics:
    """The §7102 metrics (legal-matrix §10.4) for the CCPA requests received in calendar ``year``.

    Counting method: a case belongs to ``year`` when its receipt date in the CCPA time zone falls in it
    (23:30 on 31 December in Los Angeles is the old year, although it is 1 January in UTC). ``received``
    counts all such cases, whatever their state; ``complied_whole`` / ``complied_partial`` / ``denied``
    count those with that outcome, even if it came after the year ended; pending and withdrawn (cancelled)
    cases are counted as received only. Statistic: both the **median** and the **mean** of the calendar
    days from the receipt date to the substantive-response date (both in the CCPA zone), over the year's
    cases that have a substantive response (compliance or denial); ``None`` when there is none. Denials are
    also broken down by reason (§7102(a) optional: unverifiable / not a consumer / exempt / other).
    """
    tz = ccpa_time_zone()
    rows = {t: TypeMetrics(request_type=t, label=REQUEST_TYPE_LABELS[t]) for t in REQUEST_TYPES.values()}
    days: dict[str, list[int]] = {t: [] for t in rows}
    qs = ccpa_cases(date(year, 1, 1), date(year, 12, 31), tz=tz).values_list(
        "kind", "state", "outcome", "refusal_ground", "received_at", "substantive_response_at"
    )
    for kind, state, outcome, ground, received_at, responded_at in qs.iterator(chunk_size=2000):
        request_type = REQUEST_TYPES.get(kind)
        if request_type is None:  # not one of the five CCPA request types
            continue
        m = rows[request_type]
        m.received += 1
        if outcome == Outcome.COMPLIED_FULL:
            m.complied_whole += 1
        elif outcome == Outcome.COMPLIED_PARTIAL:
            m.complied_partial += 1
        elif outcome == Outcome.DENIED:
            m.denied += 1
            m.denials_by_reason[_GROUND_TO_REASON.get(ground, "other")] += 1
        elif state == CaseState.CANCELLED:
            m.cancelled += 1
        else:
            m.pending += 1
        if outcome and responded_at is not None:
            days[request_type].append((receipt_date(responded_at, tz) - receipt_date(received_at, tz)).days)
    for t, values in days.items():
        if values:
            rows[t].median_days = float(statistics.median(values))
            rows[t].mean_days = statistics.fmean(values)
    return CcpaMetrics(year=year, time_zone=tz, rows=list(rows.values()), method=method_statement())


METRICS_COLUMNS: tuple[str, ...] = (
    "year", "request_type", "received", "complied_in_whole", "complied_in_part", "complied_in_whole_or_in_part",
    "denied", "pending", "withdrawn", "median_days_to_substantive_response", "mean_days_to_substantive_response",
    *(f"denied_{k}" for k in DENIAL_REASONS),
)


def format_days(value: float | None) -> str:
    """Days as shown on the page, CSV and PDF: one decimal place, "—" when there is no figure."""
    return "—" if value is None else f"{value:.1f}"


def metrics_table(metrics: CcpaMetrics) -> Iterator[list[str | int]]:
    """The metrics as rows of METRICS_COLUMNS (for the CSV)."""
    for r in metrics.rows:
        yield [
            metrics.year, r.request_type, r.received, r.complied_whole, r.complied_partial, r.complied, r.denied,
            r.pending, r.cancelled,
            "" if r.median_days is None else f"{r.median_days:.1f}",
            "" if r.mean_days is None else f"{r.mean_days:.1f}",
            *(r.denials_by_reason[k] for k in DENIAL_REASONS),
        ]
