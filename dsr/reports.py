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
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from dsr import audit
from dsr.deadlines import Kind, receipt_date
from dsr.models import Case, CaseState, CcpaMetricsPublication, Channel, FiledBy, Outcome
from dsr.roles import Action, can
from dsr.workflow import GROUNDS_BY_CODE, actor_label

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
    "had a substantive response. Denials by reason (optional, §7102(a)(2)) count the requests denied in whole or "
    "in part: every denial, and every compliance in part, by the basis recorded for the part not complied with. "
    "Scope: California consumers (requests filed under the CCPA)."
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
        g = GROUNDS_BY_CODE.get(ground) if ground and ground != "other" else None
        return _mask_emails((f"Partly denied ({g.label}): {reason}" if g else f"Partly denied: {reason}").strip())
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

    @property
    def denied_in_whole_or_part(self) -> int:
        """§7102(a)(2): the requests "denied in whole or in part" (a compliance in part denies the rest)."""
        return self.denied + self.complied_partial


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
    also broken down by reason (§7102(a)(2), optional) over the requests denied *in whole or in part*: a
    compliance in part counts there with the ground recorded for the part denied ("other" if none).
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
            m.denials_by_reason[_GROUND_TO_REASON.get(ground, "other")] += 1  # denied in part, §7102(a)(2)
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


# --- §7102 publication: frozen snapshots, the 1 July duty, the 10-million threshold ------------------------

CCPA_METRICS_THRESHOLD = 10_000_000  # §7102(a): consumers whose PI is bought/received/sold/shared in a year
FIGURE_FIELDS: tuple[str, ...] = ("received", "complied_whole", "complied_partial", "denied", "pending", "cancelled",
                                  "median_days", "mean_days")
FIGURE_LABELS = {
    "received": "received", "complied_whole": "complied in whole", "complied_partial": "complied in part",
    "denied": "denied", "pending": "pending", "cancelled": "withdrawn", "median_days": "median days",
    "mean_days": "mean days", **{f"denied_{k}": f"denied in whole or in part: {v.lower()}"
                                 for k, v in DENIAL_REASONS.items()},
}


class ReportError(Exception):
    """A refused publication; the message says why and is safe to show."""


def metrics_to_json(metrics: CcpaMetrics) -> list[dict[str, object]]:
    return [{"request_type": r.request_type, **{f: getattr(r, f) for f in FIGURE_FIELDS},
             "denials_by_reason": dict(r.denials_by_reason)} for r in metrics.rows]


def metrics_from_publication(pub: CcpaMetricsPublication) -> CcpaMetrics:
    """The figures exactly as published (never recomputed)."""
    rows = []
    for item in pub.figures:
        t = str(item["request_type"])
        m = TypeMetrics(request_type=t, label=REQUEST_TYPE_LABELS.get(t, t))
        for f in FIGURE_FIELDS:
            setattr(m, f, item.get(f))
        m.denials_by_reason = {**dict.fromkeys(DENIAL_REASONS, 0), **dict(item.get("denials_by_reason") or {})}
        rows.append(m)
    return CcpaMetrics(year=pub.year, time_zone=pub.time_zone, rows=rows, method=pub.method)


@dataclass(frozen=True)
class Change:
    """One figure that differs between the published snapshot and the figures computed now."""

    request_type: str
    label: str
    field: str
    field_label: str
    published: object
    current: object


def _flat(m: TypeMetrics) -> dict[str, object]:
    return {**{f: getattr(m, f) for f in FIGURE_FIELDS},
            **{f"denied_{k}": v for k, v in m.denials_by_reason.items()}}


def metrics_difference(published: CcpaMetrics, current: CcpaMetrics) -> list[Change]:
    """Every figure that changed since publication (shown next to the published figures, never instead)."""
    now_rows = current.by_type()
    out = []
    for p in published.rows:
        c = now_rows.get(p.request_type)
        if c is None:
            continue
        before, after = _flat(p), _flat(c)
        for key, value in before.items():
            new = after.get(key)
            if isinstance(value, float) or isinstance(new, float):
                same = (value is None and new is None) or (
                    value is not None and new is not None and round(float(value), 6) == round(float(new), 6))
            else:
                same = value == new
            if not same:
                out.append(Change(p.request_type, p.label, key, FIGURE_LABELS.get(key, key), value, new))
    return out


def publications(year: int) -> list[CcpaMetricsPublication]:
    return list(CcpaMetricsPublication.objects.filter(year=year).order_by("-version"))


def publish_ccpa_metrics(year: int, *, actor: User, now: datetime, correction_reason: str = "") -> (
        CcpaMetricsPublication):
    """Publish a calendar year's §7102 figures as a frozen snapshot. Steps: the actor must be an approver;
    the year must be over in the CCPA zone (the figures cover "the previous calendar year"); a year already
    published needs a correction reason and becomes a new version (the earlier one stays); compute the
    figures, store them with the method, the zone and the consumer-count setting; write
    ``ccpa_metrics.published`` in the same transaction."""
    if not can(actor, Action.APPROVE):
        raise ReportError("only an approver (DPO) can publish the §7102 figures")
    tz = ccpa_time_zone()
    if year >= receipt_date(now, tz).year:
        raise ReportError(f"{year} is not over yet in California; §7102 figures are published for a past calendar "
                          "year")
    if year < 2020:
        raise ReportError("the CCPA applies from 2020")
    correction_reason = (correction_reason or "").strip()
    with transaction.atomic():
        existing = list(CcpaMetricsPublication.objects.select_for_update().filter(year=year).order_by("-version"))
        if existing and len(correction_reason) < 10:
            raise ReportError(f"{year} was published on {receipt_date(existing[0].published_at, tz):%-d %B %Y}; "
                              "publishing it again is a correction and needs its reason (at least 10 characters)")
        metrics = ccpa_metrics(year)
        try:
            with transaction.atomic():
                pub = CcpaMetricsPublication.objects.create(
                    year=year, version=existing[0].version + 1 if existing else 1, published_at=now,
                    published_by=actor, published_by_name=actor.get_username(), figures=metrics_to_json(metrics),
                    method=metrics.method, time_zone=metrics.time_zone,
                    consumers_per_year=settings.DSR_CCPA_CONSUMERS_PER_YEAR,
                    correction_reason=correction_reason if existing else "",
                )
        except IntegrityError:
            raise ReportError(f"{year} was published by someone else at the same moment; reload the page") from None
        audit.record("ccpa_metrics.published", actor=actor_label(actor), now=now, object_type="ccpa_metrics",
                     object_id=pub.pk, data={"year": year, "version": pub.version, "correction": bool(existing),
                                             "received": sum(r.received for r in metrics.rows)})
    return pub


@dataclass(frozen=True)
class MetricsDuty:
    """The §7102(a)(2) duty for the year whose figures are due by 1 July of ``today``'s year."""

    applies: bool
    consumers: int
    threshold: int
    year: int
    due_on: date
    published_on: date | None
    days_left: int  # negative: overdue

    @property
    def days_overdue(self) -> int:
        return max(-self.days_left, 0)

    @property
    def on_time(self) -> bool | None:
        return None if self.published_on is None else self.published_on <= self.due_on


def metrics_duty(today: date) -> MetricsDuty:
    """Whether §7102 applies (DSR_CCPA_CONSUMERS_PER_YEAR against the 10,000,000 threshold) and where the
    publication of last year's figures stands against 1 July (legal-matrix §2.3 C-MET, §7.9)."""
    consumers = settings.DSR_CCPA_CONSUMERS_PER_YEAR
    year = today.year - 1
    due_on = date(today.year, 7, 1)
    first = CcpaMetricsPublication.objects.filter(year=year).order_by("version").first()
    published_on = receipt_date(first.published_at, ccpa_time_zone()) if first else None
    return MetricsDuty(applies=consumers >= CCPA_METRICS_THRESHOLD, consumers=consumers,
                       threshold=CCPA_METRICS_THRESHOLD, year=year, due_on=due_on, published_on=published_on,
                       days_left=(due_on - today).days)
