"""Statutory deadline arithmetic for data-subject requests (EU GDPR, UK GDPR, CCPA).

This module is deliberately pure: it never reads the clock, never imports Django and never touches the
database.  Every function takes instants, dates and holiday calendars and returns dates, so the same
inputs always give the same answer.  That is what lets an operator (or a regulator) re-derive a deadline
months later from the audit trail, and what makes the arithmetic testable against the worked vectors of
``legal-matrix.md`` §1 without freezing time.

Source of truth: ``/work/shared/reference/legal-matrix.md`` §1 (clock arithmetic), §2.1 (GDPR table),
§2.3 (CCPA table), §2.5 (UK-DSR), §11 (design decisions) and §12 (rule seed).  Rule IDs from the matrix
(G-ACC, G-REF, C-ACK, UK-DSR, ...) are cited next to the code that implements them.

All returned dates are *local statutory dates*: a deadline "on" a date ends at the last hour of that day
in the regime's time zone (Reg. 1182/71 Art 3(2)(c); CCP §12).
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsr.calendars import (
    HolidayCalendar,
    california,
    package_calendar,
    time_zone_for_country,
    uk_nation,
)

__all__ = [
    "DEFAULT_OPTIONS",
    "ClockOptions",
    "DueDate",
    "Kind",
    "NoExtension",
    "PauseGround",
    "PauseRule",
    "Purpose",
    "Regime",
    "UnsupportedKind",
    "add_business_days",
    "calendar_for",
    "can_extend",
    "can_pause",
    "check_supported",
    "due_dates",
    "due_dates_for_case",
    "eu_add_months",
    "extended_due",
    "governing",
    "pause_length",
    "pause_rule",
    "paused_due",
    "receipt_date",
    "roll_forward",
    "supports",
    "time_zone_for",
    "uk_relevant_time_dates",
]


class Regime(StrEnum):
    """Legal regime whose clock applies; values are persisted, so they must never change."""

    EU_GDPR = "eu_gdpr"
    UK_GDPR = "uk_gdpr"
    CCPA = "ccpa"


class Kind(StrEnum):
    """Request type, named after the GDPR right where one exists (CCPA "know" = ACCESS, "delete" = ERASURE,
    "correct" = RECTIFICATION) so one case can carry several regimes."""

    ACCESS = "access"
    PORTABILITY = "portability"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    DIRECT_MARKETING_OBJECTION = "direct_marketing_objection"
    CONSENT_WITHDRAWAL = "consent_withdrawal"
    AUTOMATED_DECISION_REVIEW = "automated_decision_review"
    OPT_OUT_SALE_SHARING = "opt_out_sale_sharing"
    LIMIT_SENSITIVE = "limit_sensitive"
    # A complaint to the controller about how data was handled (not a rights request): UK DPA 2018 s.164A sets
    # an acknowledgement clock (UK-CMP); elsewhere only the controller's own commitment applies (P-CMP).
    COMPLAINT = "complaint"


class Purpose(StrEnum):
    """What a date is *for*: several duties with different consequences can share one request."""

    ACKNOWLEDGEMENT = "acknowledgement"
    RESPONSE = "response"
    EXTENSION_NOTICE = "extension_notice"
    EXTENDED_RESPONSE = "extended_response"
    REFUSAL = "refusal"
    SUPPRESSION = "suppression"


class UnsupportedKind(ValueError):
    """The regime has no such request type, so no deadline can honestly be computed for it."""


class NoExtension(ValueError):
    """The request type exists in the regime, but the law gives no extension for it."""


@dataclass(frozen=True)
class ClockOptions:
    """Operator settings the sources leave open (legal-matrix §11); the defaults are the conservative ones."""

    eu_country: str = "IE"  # controller's Member State: Reg. 1182/71 Art 2 public holidays
    eu_subdivision: str | None = None  # e.g. "BY": regional holidays of that Member State
    eu_time_zone: str | None = None  # None: the zone of eu_country (calendars.COUNTRY_TIME_ZONES)
    uk_time_zone: str = "Europe/London"
    uk_nation: str = "england-wales"  # UK-CAL (§2.5): england-wales, scotland or northern-ireland
    ccpa_time_zone: str = "America/Los_Angeles"  # CCPA: Gov. Code §6700/§6701 holidays (calendars.py)
    conservative_extension: bool = True  # §1.1 / §11.2: min(anchored receipt+3m, chained (receipt+1m)+2m)
    ccpa_roll_weekend: bool = False  # §1.3 / §11.6: CCP §12a roll, unsettled, default off
    ccpa_business_days_strict: bool = False  # §1.3: weekends only excluded (earlier date)
    ccpa_saturday_business_days: bool = False  # §1.3: Civ. Code §9 reading (Saturdays count), default off
    ccpa_extra_holidays: tuple[tuple[date, str], ...] = ()  # §6700(a) days appointed by President/Governor
    complaint_policy_days: int = 30  # P-CMP: the controller's own answer period for complaints (no statute)


DEFAULT_OPTIONS = ClockOptions()


@dataclass(frozen=True)
class DueDate:
    """One statutory date, with the sentence that justifies it.

    ``basis`` is shown to operators and regulators, so it restates the inputs (receipt instant, local
    receipt date, time zone, calendar) and every roll, rather than only the result.

    ``kind`` and ``unrolled_on`` are optional extras: ``unrolled_on`` is the last day of the period
    *before* any weekend/holiday roll, which is what a lawful pause must extend (see :func:`paused_due`).
    """

    regime: Regime
    rule: str
    purpose: Purpose
    due_on: date
    basis: str
    kind: Kind | None = None
    unrolled_on: date | None = None


# --------------------------------------------------------------------------------------------------
# Rule tables
# --------------------------------------------------------------------------------------------------

_GDPR_KINDS: dict[Kind, tuple[str, str]] = {
    # kind -> (matrix rule id, article of the underlying right)  -- legal-matrix §2.1
    Kind.ACCESS: ("G-ACC", "Art 15"),
    Kind.PORTABILITY: ("G-POR", "Art 20"),
    Kind.ERASURE: ("G-ERA", "Art 17"),
    Kind.RECTIFICATION: ("G-REC", "Art 16"),
    Kind.RESTRICTION: ("G-RES", "Art 18"),
    Kind.OBJECTION: ("G-OBJ", "Art 21(1)"),
    Kind.AUTOMATED_DECISION_REVIEW: ("G-ADM", "Art 22(3)"),
    Kind.DIRECT_MARKETING_OBJECTION: ("G-DM", "Art 21(2)-(3)"),
    Kind.CONSENT_WITHDRAWAL: ("G-CW", "Art 7(3)"),
}

# G-DM and G-CW: immediate suppression plus Art 12(3) information within one month; no extension,
# no refusal (G-DM is absolute; a withdrawal of consent cannot be refused), no pause.
_GDPR_IMMEDIATE = frozenset({Kind.DIRECT_MARKETING_OBJECTION, Kind.CONSENT_WITHDRAWAL})

_CCPA_KINDS: dict[Kind, tuple[str, str]] = {
    # legal-matrix §2.3
    Kind.ACCESS: ("C-KNOW", "request to know, Civ. Code §1798.130(a)(2), regs §7021(b)"),
    Kind.ERASURE: ("C-DEL", "request to delete, regs §§7021(b), 7022"),
    Kind.RECTIFICATION: ("C-COR", "request to correct, regs §§7021(b), 7023"),
    Kind.OPT_OUT_SALE_SHARING: ("C-OPT", "opt-out of sale/sharing, Civ. Code §§1798.120/.135, regs §7026"),
    Kind.LIMIT_SENSITIVE: ("C-LIM", "limit use of sensitive PI, regs §7027"),
}
_CCPA_BUSINESS_DAY_KINDS = frozenset({Kind.OPT_OUT_SALE_SHARING, Kind.LIMIT_SENSITIVE})

_CCPA_ONLY = frozenset({Kind.OPT_OUT_SALE_SHARING, Kind.LIMIT_SENSITIVE})

_CCPA_RESPONSE_DAYS = 45  # §7021(b)
_CCPA_MAX_DAYS = 90  # C-KNOW/C-DEL/C-COR: +45, max 90 in total
_CCPA_ACK_BUSINESS_DAYS = 10  # C-ACK, §7021(a)
_CCPA_OPT_OUT_BUSINESS_DAYS = 15  # C-OPT / C-LIM

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _regime(value: Regime | str) -> Regime:
    return value if isinstance(value, Regime) else Regime(value)


def _kind(value: Kind | str) -> Kind:
    return value if isinstance(value, Kind) else Kind(value)


def _fmt(d: date) -> str:
    """Weekday-prefixed ISO date: operators check weekend rolls at a glance."""
    return f"{d:%a} {d.isoformat()}"


def _supported_kinds(regime: Regime) -> tuple[Kind, ...]:
    table = _CCPA_KINDS if regime is Regime.CCPA else _GDPR_KINDS
    return (*table, Kind.COMPLAINT)


# --------------------------------------------------------------------------------------------------
# Support checks
# --------------------------------------------------------------------------------------------------


def supports(regime: Regime | str, kind: Kind | str) -> bool:
    """Whether the regime knows this request type at all (so a deadline can be computed)."""
    regime, kind = _regime(regime), _kind(kind)
    return kind in _supported_kinds(regime)


def check_supported(regime: Regime | str, kind: Kind | str) -> None:
    """Raise :class:`UnsupportedKind` with a message an operator can act on.

    Silently mapping e.g. a CCPA "restriction" onto some other clock would invent a deadline the law does
    not set, so unsupported combinations are refused loudly.
    """
    regime, kind = _regime(regime), _kind(kind)
    if supports(regime, kind):
        return
    if kind in _CCPA_ONLY:
        raise UnsupportedKind(
            f"{kind.value} exists only under CCPA; {regime.value} has no such request "
            "(under GDPR/UK GDPR use 'objection' or 'direct_marketing_objection')."
        )
    listing = ", ".join(k.value for k in _supported_kinds(regime))
    raise UnsupportedKind(f"{regime.name} has no {kind.value!r} request; {regime.name} supports: {listing}.")


def can_extend(regime: Regime | str, kind: Kind | str) -> bool:
    """Whether an extension exists in law for this request type (False for unsupported combinations).

    GDPR/UK: Art 12(3) "+2 further months" for the Art 15-22 rights, but not for the immediate duties
    (G-DM suppression, G-CW).  CCPA: +45 days only for know/delete/correct (C-KNOW, C-DEL, C-COR), never for
    opt-out / limit (C-OPT, C-LIM).
    """
    regime, kind = _regime(regime), _kind(kind)
    if not supports(regime, kind) or kind is Kind.COMPLAINT:
        return False
    if regime is Regime.CCPA:
        return kind not in _CCPA_BUSINESS_DAY_KINDS
    return kind not in _GDPR_IMMEDIATE


def can_pause(regime: Regime | str) -> bool:
    """Whether the clock may lawfully be paused at all.

    EU: EDPB-ACCESS §159 allows a (non-statutory) suspension while identity information or clarification
    is awaited; UK: statutory clarification pause in Art 12A.  CCPA: never -- §7021(b) runs the 45 days
    "regardless of time required to verify" (legal-matrix §11.1).
    """
    return _regime(regime) is not Regime.CCPA


# --------------------------------------------------------------------------------------------------
# Primitive arithmetic
# --------------------------------------------------------------------------------------------------


def _zone(tz_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz_name!r}") from exc


def _require_aware(received_at: datetime) -> None:
    if not isinstance(received_at, datetime):
        raise TypeError(f"received_at must be a datetime, not {type(received_at).__name__}")
    if received_at.tzinfo is None or received_at.tzinfo.utcoffset(received_at) is None:
        raise ValueError(
            f"received_at {received_at.isoformat()} is naive; an aware datetime is required because the "
            "receipt date depends on the regime's time zone"
        )


def receipt_date(received_at: datetime, tz_name: str) -> date:
    """Local calendar date of receipt in the regime's time zone.

    The statutory period runs from the *day* of receipt (EDPB-ACCESS §159; CCPA §7021(b)), and that day
    differs by time zone: 23:30 UTC on 30 June is already 1 July in Dublin.  A naive datetime would make
    the answer depend on the server's zone, so it is rejected.
    """
    _require_aware(received_at)
    return received_at.astimezone(_zone(tz_name)).date()


def eu_add_months(anchor: date, n: int) -> date:
    """Same date ``n`` months later, clamped to the month's last day (Reg. 1182/71 Art 3(2)(c)).

    This implements EDPB-ACCESS examples 32/33: 5 March -> 5 April, 31 August -> 30 September.
    """
    y, m = divmod(anchor.month - 1 + n, 12)
    y += anchor.year
    m += 1
    return date(y, m, min(anchor.day, _calendar.monthrange(y, m)[1]))


def _cal_label(cal: HolidayCalendar) -> str:
    return getattr(cal, "label", None) or "the configured calendar"


def _non_working_reason(d: date, cal: HolidayCalendar | None, *, saturday_works: bool = False) -> str | None:
    """Why ``d`` is not a working day (for the basis text), or None if it is one.

    ``saturday_works``: the Civ. Code §9 option for California business days (Saturday is a business day
    unless it is a holiday); Sunday is always a holiday there (Gov. Code §6700(a)(1)).
    """
    name = cal.get(d) if cal is not None else None
    label = _cal_label(cal) if cal is not None else ""
    if d.weekday() == 6 or (d.weekday() == 5 and not saturday_works):
        reason = f"{_fmt(d)} is a {_WEEKDAY_NAMES[d.weekday()]}"
        return f"{reason} ({name}, public holiday in {label})" if name else reason
    if name:
        return f"{_fmt(d)} {name} is a public holiday in {label}"
    return None


def roll_forward(d: date, cal: HolidayCalendar) -> tuple[date, list[str]]:
    """Move a period's last day past weekends and public holidays (Reg. 1182/71 Art 3(4)).

    Returns the working day and one human-readable reason per skipped day, so the basis sentence can show
    *why* a deadline moved (e.g. "Mon 2026-04-06 Easter Monday is a public holiday in IE").
    """
    reasons: list[str] = []
    while (reason := _non_working_reason(d, cal)) is not None:
        reasons.append(reason)
        d += timedelta(days=1)
    return d, reasons


def _business_days(
    start: date, n: int, cal: HolidayCalendar | None, *, saturday_works: bool = False
) -> tuple[date, list[str]]:
    if n < 0:
        raise ValueError("business-day count must be >= 0")
    d = start
    skipped: list[str] = []
    remaining = n
    while remaining:
        d += timedelta(days=1)
        if d.weekday() == 6 or (d.weekday() == 5 and not saturday_works):
            continue
        if cal is not None and d in cal:
            skipped.append(f"{_fmt(d)} {cal.get(d)}")
            continue
        remaining -= 1
    return d, skipped


def add_business_days(
    start: date, n: int, cal: HolidayCalendar | None, *, saturday_works: bool = False
) -> date:
    """The ``n``-th business day after ``start`` (the start day itself is not counted, CCP §12).

    ``cal=None`` excludes weekends only -- the matrix §1.3 "strict" reading, which gives the earlier date
    because the regulations never define "business day".  ``saturday_works`` counts Saturdays that are not
    holidays (Civ. Code §9 reading, off by default).
    """
    return _business_days(start, n, cal, saturday_works=saturday_works)[0]


# --------------------------------------------------------------------------------------------------
# Calendars (data and sources: dsr/calendars.py)
# --------------------------------------------------------------------------------------------------


def calendar_for(
    regime: Regime | str, opts: ClockOptions = DEFAULT_OPTIONS, years: Iterable[int] | int = ()
) -> HolidayCalendar:
    """Public-holiday calendar that governs ``regime`` (cached; treat the result as read-only).

    EU: the controller's Member State and subdivision (Reg. 1182/71 Art 2); UK: the bank holidays of the
    controller's nation (UK-CAL); CCPA: Gov. Code §6700/§6701 as data (legal-matrix §1.3), never the
    ``holidays`` package's state-employee calendar.  Unknown countries, subdivisions and nations raise
    ValueError.
    """
    regime = _regime(regime)
    ys = (years,) if isinstance(years, int) else tuple(sorted(set(years)))
    if regime is Regime.EU_GDPR:
        sub = opts.eu_subdivision
        label = f"{opts.eu_country}-{sub}" if sub else opts.eu_country
        return package_calendar(opts.eu_country, sub, ys, label)
    if regime is Regime.UK_GDPR:
        subdiv, label = uk_nation(opts.uk_nation)
        return package_calendar("GB", subdiv, ys, label)
    return california(ys, tuple(opts.ccpa_extra_holidays))


def _years_around(d: date, span: int = 1) -> tuple[int, ...]:
    return tuple(range(d.year, d.year + span + 1))


def time_zone_for(regime: Regime | str, opts: ClockOptions = DEFAULT_OPTIONS) -> str:
    """The zone that turns a receipt instant into the regime's statutory date.

    EU: ``eu_time_zone`` when set, otherwise the zone of the controller's country (so a German controller
    who sets only its country counts in Berlin time, not Dublin time).
    """
    regime = _regime(regime)
    if regime is Regime.EU_GDPR:
        return opts.eu_time_zone or time_zone_for_country(opts.eu_country, opts.eu_subdivision)
    if regime is Regime.UK_GDPR:
        return opts.uk_time_zone
    return opts.ccpa_time_zone


def _tz_for(regime: Regime, opts: ClockOptions) -> str:
    return time_zone_for(regime, opts)


# --------------------------------------------------------------------------------------------------
# GDPR / UK GDPR
# --------------------------------------------------------------------------------------------------


def _received_text(received_at: datetime, receipt: date, tz_name: str) -> str:
    utc = received_at.astimezone(UTC)
    return f"received {utc:%Y-%m-%d %H:%M:%S} UTC = {_fmt(receipt)} ({tz_name})"


def _roll_text(raw: date, rolled: date, reasons: list[str], cal: HolidayCalendar, art: str) -> str:
    if not reasons:
        return f"{_fmt(raw)} is a working day in {_cal_label(cal)}, no roll ({art})"
    return f"weekend/holiday roll ({art}): " + "; ".join(reasons) + f" -> {_fmt(rolled)}"


def _month_text(anchor: date, n: int, raw: date) -> str:
    unit = "month" if n == 1 else "months"
    clamp = " (no such day: last day of that month)" if raw.day != anchor.day else ""
    return f"+{n} {unit} = {_fmt(raw)}{clamp}"


@dataclass(frozen=True)
class _GdprInitial:
    receipt: date
    raw: date
    due: date
    text: str  # "received ...; +1 month = ...; roll ..."
    cal: HolidayCalendar


def _month_citations(regime: Regime) -> tuple[str, str]:
    """(month-end citation, roll citation): UK law applies the ICO statement of the same method."""
    if regime is Regime.UK_GDPR:
        return "ICO method: same date, or last day of the month", "ICO method: next working day"
    return "Reg. 1182/71 Art 3(2)(c)", "Reg. 1182/71 Art 3(4)"


def _gdpr_initial(regime: Regime, received_at: datetime, opts: ClockOptions) -> _GdprInitial:
    """Initial one-month period (legal-matrix §1.1 algorithm; UK-DSR uses the identical ICO method)."""
    tz_name = _tz_for(regime, opts)
    receipt = receipt_date(received_at, tz_name)
    cal = calendar_for(regime, opts, _years_around(receipt))
    raw = eu_add_months(receipt, 1)  # Reg. 1182/71 Art 3(1) 2nd subpara + 3(2)(c)
    due, reasons = roll_forward(raw, cal)  # Art 3(4); EDPB-ACCESS §161
    month_cite, roll_cite = _month_citations(regime)
    text = (
        f"{_received_text(received_at, receipt, tz_name)}; {_month_text(receipt, 1, raw)} "
        f"({month_cite}); {_roll_text(raw, due, reasons, cal, roll_cite)}"
    )
    return _GdprInitial(receipt, raw, due, text, cal)


def _gdpr_labels(regime: Regime, kind: Kind) -> tuple[str, str]:
    """(rule id for response-type dates, law citation prefix)."""
    rule, art = _GDPR_KINDS[kind]
    if regime is Regime.UK_GDPR:
        # UK-DSR (§2.5): UK GDPR Art 12(3)/12A "applicable time period", same arithmetic as the EU rule.
        return "UK-DSR", f"UK GDPR Art 12(3) and Art 12A, {art} (UK-DSR, as {rule})"
    return rule, f"GDPR Art 12(3), {art} ({rule})"


def _gdpr_due_dates(regime: Regime, kind: Kind, received_at: datetime, opts: ClockOptions) -> list[DueDate]:
    init = _gdpr_initial(regime, received_at, opts)
    rule, cite = _gdpr_labels(regime, kind)
    out: list[DueDate] = []

    def add(rule_id: str, purpose: Purpose, due_on: date, basis: str, unrolled: date | None) -> None:
        out.append(DueDate(regime, rule_id, purpose, due_on, basis, kind, unrolled))

    if kind in _GDPR_IMMEDIATE:
        eu_rule, art = _GDPR_KINDS[kind]
        immediate_cite = (
            f"UK GDPR {art} (UK-DSR, as {eu_rule})" if regime is Regime.UK_GDPR else f"GDPR {art} ({rule})"
        )
        # G-DM (Art 21(3)): data "shall no longer be processed" for marketing -- immediate, absolute.
        # G-CW (Art 7(3)): withdrawal is prospective and immediate.
        what = (
            "stop processing for direct marketing (absolute right, no balancing, no refusal)"
            if kind is Kind.DIRECT_MARKETING_OBJECTION
            else "stop the consent-based processing (withdrawal takes effect immediately)"
        )
        add(
            rule,
            Purpose.SUPPRESSION,
            init.receipt,
            f"{immediate_cite}: {what}, due on the day of receipt; "
            f"{_received_text(received_at, init.receipt, _tz_for(regime, opts))}.",
            init.receipt,
        )
        add(
            rule,
            Purpose.RESPONSE,
            init.due,
            f"{cite}: information on the action taken within one month, no extension; {init.text}.",
            init.raw,
        )
        return out

    add(rule, Purpose.RESPONSE, init.due, f"{cite}: response within one month; {init.text}.", init.raw)
    # Art 12(3) 3rd sentence: the extension notice, with reasons, is due within the first month.
    add(
        rule,
        Purpose.EXTENSION_NOTICE,
        init.due,
        f"{cite}, 3rd sentence: any extension must be notified with reasons within one month of receipt, "
        f"i.e. by the initial response date; {init.text}.",
        init.raw,
    )
    # G-REF (Art 12(4) / UK Art 12A): refusal within one month, no extension in the text (matrix §11.3).
    ref_cite = (
        "UK GDPR Art 12(4) and Art 12A (G-REF)" if regime is Regime.UK_GDPR else "GDPR Art 12(4) (G-REF)"
    )
    add(
        "G-REF",
        Purpose.REFUSAL,
        init.due,
        f"{ref_cite}: reasons for not acting, with the right to complain and to a judicial remedy, within "
        f"one month and not extendable; {init.text}.",
        init.raw,
    )
    return out


def _gdpr_extended(regime: Regime, kind: Kind, received_at: datetime, opts: ClockOptions) -> DueDate:
    tz_name = _tz_for(regime, opts)
    receipt = receipt_date(received_at, tz_name)
    cal = calendar_for(regime, opts, _years_around(receipt))
    rule, cite = _gdpr_labels(regime, kind)
    one = eu_add_months(receipt, 1)
    anchored = eu_add_months(receipt, 3)  # "two further months" counted from receipt
    chained = eu_add_months(one, 2)  # ... or from the end of the first month
    if opts.conservative_extension:
        # §1.1 / §11.2: the sources do not settle anchored vs chained; take the earlier one.
        raw = min(anchored, chained)
        how = (
            f"anchored +3 months = {_fmt(anchored)}; chained +1 month ({_fmt(one)}) +2 months = "
            f"{_fmt(chained)}; conservative option takes the earlier, {_fmt(raw)} (matrix §11.2)"
        )
    else:
        raw = anchored
        how = f"anchored on receipt {_month_text(receipt, 3, anchored)} (conservative option off)"
    due, reasons = roll_forward(raw, cal)
    basis = (
        f"{cite}, 2nd sentence: extended by two further months; "
        f"{_received_text(received_at, receipt, tz_name)}; {how}; "
        f"{_roll_text(raw, due, reasons, cal, _month_citations(regime)[1])}."
    )
    return DueDate(regime, rule, Purpose.EXTENDED_RESPONSE, due, basis, kind, raw)


# --------------------------------------------------------------------------------------------------
# CCPA
# --------------------------------------------------------------------------------------------------


def _ccpa_calendar_days(received_at: datetime, days: int, opts: ClockOptions) -> tuple[date, date, str]:
    """Receipt + ``days`` calendar days (CCP §12: first day excluded, last included), optional §12a roll.

    The roll (off by default, legal-matrix §1.3 / §11.6) skips Saturdays, Sundays and the same Gov. Code
    §6700/§6701 holidays as the business-day count: CCP §12a extends a period ending on a holiday "to and
    including the next day that is not a holiday", Saturdays included.
    """
    tz_name = opts.ccpa_time_zone
    receipt = receipt_date(received_at, tz_name)
    raw = receipt + timedelta(days=days)
    text = (
        f"{_received_text(received_at, receipt, tz_name)}; day of receipt excluded (CCP §12), "
        f"+{days} calendar days = {_fmt(raw)}"
    )
    if not opts.ccpa_roll_weekend:
        return (
            raw,
            raw,
            text + "; no weekend/holiday roll (CCP §12a applicability unsettled, §1.3 default off)",
        )
    cal = calendar_for(Regime.CCPA, opts, _years_around(receipt))
    due, reasons = roll_forward(raw, cal)
    return raw, due, text + "; " + _roll_text(raw, due, reasons, cal, "CCP §12a option on")


def _ccpa_business_days(received_at: datetime, n: int, opts: ClockOptions) -> tuple[date, str]:
    """``n`` California business days after the day of receipt (C-ACK, C-OPT, C-LIM; legal-matrix §1.3).

    Default: Monday-Friday minus the Gov. Code §6700/§6701 holidays.  Options: "strict" excludes weekends
    only (the earlier date); Civ. Code §9 counts Saturdays that are not holidays (off by default).
    """
    tz_name = opts.ccpa_time_zone
    receipt = receipt_date(received_at, tz_name)
    saturday = opts.ccpa_saturday_business_days
    if opts.ccpa_business_days_strict:
        cal = None
        excluded = ("Sundays only (strict mode and Civ. Code §9 Saturdays, §1.3)" if saturday
                    else "weekends only (strict mode, §1.3)")
    else:
        cal = calendar_for(Regime.CCPA, opts, _years_around(receipt))
        days_off = "Sundays (Saturdays count, Civ. Code §9 option)" if saturday else "Saturdays, Sundays"
        excluded = f"{days_off} and the holidays of {_cal_label(cal)}"
    due, skipped = _business_days(receipt, n, cal, saturday_works=saturday)
    skipped_text = f" (holidays skipped: {', '.join(skipped)})" if skipped else ""
    text = (
        f"{_received_text(received_at, receipt, tz_name)}; {n} business days after the day of receipt, "
        f"excluding {excluded}{skipped_text} -> {_fmt(due)}"
    )
    return due, text


def _ccpa_due_dates(kind: Kind, received_at: datetime, opts: ClockOptions) -> list[DueDate]:
    rule, cite = _CCPA_KINDS[kind]
    regime = Regime.CCPA
    if kind in _CCPA_BUSINESS_DAY_KINDS:
        # C-OPT / C-LIM: 15 business days, no extension, no verification.
        due, text = _ccpa_business_days(received_at, _CCPA_OPT_OUT_BUSINESS_DAYS, opts)
        basis = f"CCPA {cite} ({rule}): comply within 15 business days, no extension; {text}."
        return [DueDate(regime, rule, Purpose.RESPONSE, due, basis, kind, due)]

    ack, ack_text = _ccpa_business_days(received_at, _CCPA_ACK_BUSINESS_DAYS, opts)
    raw, due, text = _ccpa_calendar_days(received_at, _CCPA_RESPONSE_DAYS, opts)
    return [
        # C-ACK, regs §7021(a): confirm receipt within 10 business days.
        DueDate(
            regime,
            "C-ACK",
            Purpose.ACKNOWLEDGEMENT,
            ack,
            f"CCPA regs §7021(a) (C-ACK), confirmation of receipt of a {cite.split(',')[0]}: {ack_text}.",
            kind,
            ack,
        ),
        # C-KNOW / C-DEL / C-COR, regs §7021(b): 45 calendar days, clock runs regardless of verification.
        DueDate(
            regime,
            rule,
            Purpose.RESPONSE,
            due,
            f"CCPA {cite} ({rule}): respond within 45 calendar days regardless of verification time; {text}.",
            kind,
            raw,
        ),
        DueDate(
            regime,
            rule,
            Purpose.EXTENSION_NOTICE,
            due,
            f"CCPA {cite} ({rule}): notice and explanation of any extension is due within the first "
            f"45 days; {text}.",
            kind,
            raw,
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Complaints to the controller (UK-CMP; P-CMP elsewhere)
# --------------------------------------------------------------------------------------------------

UK_CMP_FROM = date(2026, 6, 19)  # DPA 2018 s.164A (inserted by DUAA 2025 s.103) in force (legal-matrix §2.5)
_UK_CMP_DAYS = 30


def _complaint_due_dates(regime: Regime, received_at: datetime, opts: ClockOptions) -> list[DueDate]:
    """UK: acknowledge within 30 days of receipt, day 1 being the day after receipt, a weekend or bank holiday
    rolling to the next working day (UK-CMP, ICO example), then the outcome "without undue delay" -- no fixed
    date. No other regime sets a clock for a complaint made to the controller. So every complaint also carries
    the controller's own commitment (P-CMP, ``complaint_policy_days``), labelled as such, which governs."""
    tz_name = _tz_for(regime, opts)
    receipt = receipt_date(received_at, tz_name)
    cal = calendar_for(regime, opts, _years_around(receipt))
    out: list[DueDate] = []
    if regime is Regime.UK_GDPR and receipt >= UK_CMP_FROM:
        raw = receipt + timedelta(days=_UK_CMP_DAYS)
        due, reasons = roll_forward(raw, cal)
        out.append(DueDate(
            regime, "UK-CMP", Purpose.ACKNOWLEDGEMENT, due,
            f"DPA 2018 s.164A (UK-CMP): acknowledge a complaint within 30 days; "
            f"{_received_text(received_at, receipt, tz_name)}; day 1 is the day after receipt, +30 days = "
            f"{_fmt(raw)}; {_roll_text(raw, due, reasons, cal, 'ICO method: next working day')}.",
            Kind.COMPLAINT, raw,
        ))
    days = opts.complaint_policy_days
    raw = receipt + timedelta(days=days)
    due, reasons = roll_forward(raw, cal)
    statute = ("DPA 2018 s.164A asks for the outcome without undue delay and sets no date"
               if regime is Regime.UK_GDPR else "no law sets a period for a complaint made to the controller")
    out.append(DueDate(
        regime, "P-CMP", Purpose.RESPONSE, due,
        f"Controller's own commitment (P-CMP, setting DSR_COMPLAINT_POLICY_DAYS={days}), not a statutory period: "
        f"{statute}; {_received_text(received_at, receipt, tz_name)}; +{days} days = {_fmt(raw)}; "
        f"{_roll_text(raw, due, reasons, cal, 'next working day')}.",
        Kind.COMPLAINT, raw,
    ))
    return out


# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------


def due_dates(
    regime: Regime | str,
    kind: Kind | str,
    received_at: datetime,
    opts: ClockOptions = DEFAULT_OPTIONS,
) -> list[DueDate]:
    """Every date the law sets for this regime and request type at submission.

    For UK GDPR pass the Art 12A "relevant time" (the latest of receipt of the request, of requested
    identity information and of any fee) as ``received_at``; the arithmetic is otherwise the ICO/EU one.
    The extended date is *not* included: it only exists once an extension is decided (see
    :func:`extended_due`).
    """
    regime, kind = _regime(regime), _kind(kind)
    check_supported(regime, kind)
    _require_aware(received_at)
    if kind is Kind.COMPLAINT:
        return _complaint_due_dates(regime, received_at, opts)
    if regime is Regime.CCPA:
        return _ccpa_due_dates(kind, received_at, opts)
    return _gdpr_due_dates(regime, kind, received_at, opts)


def extended_due(
    regime: Regime | str,
    kind: Kind | str,
    received_at: datetime,
    opts: ClockOptions = DEFAULT_OPTIONS,
) -> DueDate:
    """The EXTENDED_RESPONSE date if the controller/business takes the extension.

    GDPR/UK: two further months (conservative min of anchored vs chained by default, then rolled).
    CCPA: +45 days, 90 calendar days from receipt in total (C-KNOW, C-DEL, C-COR).
    Raises :class:`UnsupportedKind` for unknown combinations and :class:`NoExtension` where the law gives
    no extension (G-DM, G-CW, C-OPT, C-LIM).
    """
    regime, kind = _regime(regime), _kind(kind)
    check_supported(regime, kind)
    _require_aware(received_at)
    if not can_extend(regime, kind):
        rule = "P-CMP" if kind is Kind.COMPLAINT else (_CCPA_KINDS if regime is Regime.CCPA else _GDPR_KINDS)[kind][0]
        raise NoExtension(f"{regime.name} {kind.value!r} ({rule}) has no extension in law.")
    if regime is Regime.CCPA:
        rule, cite = _CCPA_KINDS[kind]
        raw, due, text = _ccpa_calendar_days(received_at, _CCPA_MAX_DAYS, opts)
        basis = (
            f"CCPA {cite} ({rule}): extended by 45 days where reasonably necessary, max 90 days in total; "
            f"{text}."
        )
        return DueDate(regime, rule, Purpose.EXTENDED_RESPONSE, due, basis, kind, raw)
    return _gdpr_extended(regime, kind, received_at, opts)


def paused_due(
    due: DueDate,
    paused_days: int,
    cal: HolidayCalendar | None = None,
    opts: ClockOptions = DEFAULT_OPTIONS,
) -> DueDate:
    """Push a GDPR/UK date by a lawful pause of ``paused_days`` calendar days, then roll to a working day.

    EU: EDPB-ACCESS §159 "suspension in time" while awaiting identity information or clarification
    (non-statutory, operator-applied, §11.1); UK: Art 12A statutory clarification pause.  The pause
    extends the *unrolled* end of the period (``due.unrolled_on`` when known), because a weekend roll is
    not time the controller was given; the result is then rolled again (Reg. 1182/71 Art 3(4)).  Pauses
    accumulate when applied repeatedly.  ``cal`` defaults to :func:`calendar_for` the due's regime.

    Raises ValueError for CCPA (§7021(b): no pause), for immediate duties (SUPPRESSION, G-DM, G-CW have no
    pause) and for negative durations.
    """
    if not can_pause(due.regime):
        raise ValueError("CCPA deadlines cannot be paused: §7021(b) runs regardless of verification time.")
    if (due.purpose is Purpose.SUPPRESSION or due.rule in {"G-DM", "G-CW", "UK-CMP", "P-CMP"}
            or due.kind in _GDPR_IMMEDIATE):
        raise ValueError(f"{due.rule} {due.purpose.value} has no pause (legal-matrix §2.1).")
    if paused_days < 0:
        raise ValueError("paused_days must be >= 0")
    if paused_days == 0:
        return due
    base = due.unrolled_on or due.due_on
    raw = base + timedelta(days=paused_days)
    if cal is None:
        cal = calendar_for(due.regime, opts, _years_around(raw))
    rolled, reasons = roll_forward(raw, cal)
    source = (
        "UK GDPR Art 12A clarification clock-stop, both end days counted (DPA 2018 s.54(3C) wording)"
        if due.regime is Regime.UK_GDPR
        else "EDPB-ACCESS §159"
    )
    basis = (
        f"{due.basis.rstrip('.')}; clock paused {paused_days} calendar days ({source}): "
        f"{_fmt(base)} + {paused_days} days = {_fmt(raw)}; "
        f"{_roll_text(raw, rolled, reasons, cal, _month_citations(due.regime)[1])}."
    )
    return replace(due, due_on=rolled, unrolled_on=raw, basis=basis)


class PauseGround(StrEnum):
    """Why the clock would stop (legal-matrix §2.1 pause column, §2.5 UK-DSR, §11.1)."""

    IDENTITY = "identity"  # awaiting identity information asked for (EU: EDPB-ACCESS §159)
    CLARIFICATION = "clarification"  # awaiting clarification of the request (Recital 63; UK GDPR Art 12A)


@dataclass(frozen=True)
class PauseRule:
    """Whether a pause may start for this regime, kind and ground, and on what terms."""

    allowed: bool
    needs_legal_basis: bool
    text: str  # the legal source when allowed, the reason when refused


def pause_rule(regime: Regime | str, kind: Kind | str, ground: PauseGround | str) -> PauseRule:
    """The pause rules of legal-matrix §2.1, §2.5 (UK-DSR) and §11.1, per regime.

    * CCPA: never (§7021(b): the 45 days run "regardless of time required to verify").
    * G-DM / G-CW: immediate duties, no pause.
    * EU: an operator-applied, non-statutory suspension while awaiting identity information or clarification
      asked for without undue delay (EDPB-ACCESS §159).
    * UK: the statutory clock-stop is for *clarification* only (Art 12A).  By default only for access
      requests, the conservative reading of UK-DSR; for another kind the operator must record the legal
      basis.  Identity information does not pause a UK clock: the period starts at the "relevant time" when
      it (or a fee) arrives -- see :func:`uk_relevant_time_dates`.
    """
    regime, kind, ground = _regime(regime), _kind(kind), PauseGround(ground)
    if regime is Regime.CCPA:
        return PauseRule(False, False, "CCPA does not allow the clock to be paused: §7021(b) runs the 45 days "
                                       "regardless of the time needed to verify")
    if kind in _GDPR_IMMEDIATE:
        rule = _GDPR_KINDS[kind][0]
        return PauseRule(False, False, f"{rule} is an immediate duty: there is no pause")
    if kind is Kind.COMPLAINT:
        return PauseRule(False, False, "a complaint is not a rights request: its clock has no pause")
    if regime is Regime.UK_GDPR:
        if ground is PauseGround.IDENTITY:
            return PauseRule(False, False, "under UK GDPR identity information does not pause the clock: the "
                                           "period starts at the 'relevant time' it is received (Art 12A, "
                                           "UK-DSR); record that time instead")
        return PauseRule(True, kind is not Kind.ACCESS,
                         "UK GDPR Art 12A clarification clock-stop (UK-DSR; access requests by default)")
    return PauseRule(True, False, "EDPB-ACCESS §159 suspension while awaiting "
                     + ("identity information" if ground is PauseGround.IDENTITY else "clarification (Recital 63)"))


def pause_length(regime: Regime | str, first_day: date, last_day: date) -> int:
    """Calendar days a pause from ``first_day`` (asked) to ``last_day`` (answered) adds to the period.

    UK: the paused period runs from the day clarification is asked for to the day it arrives, *both
    included* (UK-DSR, DPA 2018 s.54(3C) wording), so a same-day answer still adds one day.  EU: the days
    the clock stood still, counted from the first to the last day exclusive (the suspension of
    EDPB-ACCESS §159 sets no counting rule; this is the shorter, safer count).
    """
    if last_day < first_day:
        raise ValueError("a pause cannot end before it starts")
    days = (last_day - first_day).days
    return days + 1 if _regime(regime) is Regime.UK_GDPR else days


RELEVANT_TIME_WHAT = {"identity": "identity information requested under Art 12(6)", "fee": "the fee"}


def uk_relevant_time_dates(
    kind: Kind | str,
    relevant_at: datetime,
    *,
    what: str,
    requested_at: datetime,
    extended: bool = False,
    opts: ClockOptions = DEFAULT_OPTIONS,
) -> list[DueDate]:
    """UK GDPR dates counted from a later "relevant time" (UK-DSR, Art 12A): the latest of receipt of the
    request, of identity information requested under Art 12(6) and of any fee.

    The arithmetic is the ICO method from ``relevant_at``; every basis sentence says what arrived and when it
    was asked for.  With ``extended`` the EXTENDED_RESPONSE date replaces the RESPONSE date (the extension
    already taken runs from the new start too).
    """
    if what not in RELEVANT_TIME_WHAT:
        raise ValueError(f"relevant time: 'what' must be one of {', '.join(RELEVANT_TIME_WHAT)}")
    _require_aware(relevant_at)
    _require_aware(requested_at)
    prefix = (
        f"Clock started at the relevant time (UK GDPR Art 12A, UK-DSR): {RELEVANT_TIME_WHAT[what]} received "
        f"{relevant_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, asked for {requested_at.astimezone(UTC):%Y-%m-%d %H:%M} "
        "UTC. "
    )
    dates = due_dates(Regime.UK_GDPR, kind, relevant_at, opts)
    if extended:
        ext = extended_due(Regime.UK_GDPR, kind, relevant_at, opts)
        dates = [d for d in dates if d.purpose is not Purpose.RESPONSE] + [ext]
    return [replace(d, basis=prefix + d.basis) for d in dates]


_GOVERNING_PURPOSES = frozenset({Purpose.RESPONSE, Purpose.EXTENDED_RESPONSE})


def governing(dates: Iterable[DueDate]) -> DueDate:
    """The governing SLA: the earliest substantive response date across regimes (legal-matrix §1.4).

    Acknowledgements, notices, refusals and suppressions are separate duties and do not set the SLA.  When
    a regime's EXTENDED_RESPONSE is present it supersedes that regime's RESPONSE (the extension was taken),
    so an extended EU date does not keep the expired initial date governing.  Ties keep input order.
    """
    candidates = [d for d in dates if d.purpose in _GOVERNING_PURPOSES]
    extended = {d.regime for d in candidates if d.purpose is Purpose.EXTENDED_RESPONSE}
    candidates = [d for d in candidates if d.purpose is Purpose.EXTENDED_RESPONSE or d.regime not in extended]
    if not candidates:
        raise ValueError("no RESPONSE or EXTENDED_RESPONSE date to govern")
    return min(candidates, key=lambda d: d.due_on)


def due_dates_for_case(
    regimes: Iterable[Regime | str],
    kind: Kind | str,
    received_at: datetime,
    opts: ClockOptions = DEFAULT_OPTIONS,
) -> list[DueDate]:
    """All dates for a request engaging several regimes (§1.4), kept together for the audit trail.

    Support is checked for every regime before anything is computed, so a case is never half-dated.
    """
    kind = _kind(kind)
    ordered = list(dict.fromkeys(_regime(r) for r in regimes))
    if not ordered:
        raise ValueError("at least one regime is required")
    for regime in ordered:
        check_supported(regime, kind)
    out: list[DueDate] = []
    for regime in ordered:
        out.extend(due_dates(regime, kind, received_at, opts))
    return out
