"""Tests for dsr.deadlines: pure clock arithmetic, no database, no clock.

The vector table holds every worked example of legal-matrix §1.1 and §1.3 plus edge cases (leap years,
month ends, year end, public holidays on the due date, receipt late in the evening UTC, CCPA options).
"""

from __future__ import annotations

import ast
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsr import calendars
from dsr import deadlines as dl
from dsr.deadlines import (
    ClockOptions,
    DueDate,
    Kind,
    NoExtension,
    Purpose,
    Regime,
    UnsupportedKind,
    add_business_days,
    calendar_for,
    can_extend,
    can_pause,
    check_supported,
    due_dates,
    due_dates_for_case,
    eu_add_months,
    extended_due,
    governing,
    paused_due,
    receipt_date,
    roll_forward,
    supports,
)

EU, UK, CCPA = Regime.EU_GDPR, Regime.UK_GDPR, Regime.CCPA

IE = ClockOptions()  # defaults: Ireland, Europe/Dublin, conservative extension
IE_ANCHORED = ClockOptions(conservative_extension=False)
DE = ClockOptions(eu_country="DE", eu_time_zone="Europe/Berlin")
DE_ANCHORED = ClockOptions(eu_country="DE", eu_time_zone="Europe/Berlin", conservative_extension=False)
EU_UTC = ClockOptions(eu_time_zone="UTC")
CA = ClockOptions()
CA_ROLL = ClockOptions(ccpa_roll_weekend=True)
CA_STRICT = ClockOptions(ccpa_business_days_strict=True)
CA_SAT = ClockOptions(ccpa_saturday_business_days=True)
CA_STRICT_SAT = ClockOptions(ccpa_business_days_strict=True, ccpa_saturday_business_days=True)

HEADLINE = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)

# What a vector checks: a Purpose returned by due_dates(), "extended" (extended_due), or the raw
# (pre-roll) month arithmetic of legal-matrix §1.1: "+1m", "+3m" (anchored), "chained" ((+1m)+2m).
RAW = {"+1m", "+3m", "chained"}


def _p(
    vid: str, regime: Regime, kind: Kind, received: str, what: str, expected: str, opts: ClockOptions
) -> object:
    return pytest.param(regime, kind, received, what, date.fromisoformat(expected), opts, id=vid)


A, ERA, DM, CW = Kind.ACCESS, Kind.ERASURE, Kind.DIRECT_MARKETING_OBJECTION, Kind.CONSENT_WITHDRAWAL
OPT, LIM = Kind.OPT_OUT_SALE_SHARING, Kind.LIMIT_SENSITIVE
RESP, ACK, NOTICE, REF, SUP = "response", "acknowledgement", "extension_notice", "refusal", "suppression"
EXT = "extended"

VECTORS = [
    # ---- legal-matrix §1.1 row 1: Thu 2026-03-05 -> Sun 04-05 (Easter) -> Mon 04-06 Easter Monday -> 04-07
    _p("m1.1-r1-+1m-raw", EU, A, "2026-03-05T10:00Z", "+1m", "2026-04-05", IE),
    _p("m1.1-r1-response-IE", EU, A, "2026-03-05T10:00Z", RESP, "2026-04-07", IE),
    _p("m1.1-r1-response-DE", EU, A, "2026-03-05T10:00Z", RESP, "2026-04-07", DE),
    _p("m1.1-r1-notice-IE", EU, A, "2026-03-05T10:00Z", NOTICE, "2026-04-07", IE),
    _p("m1.1-r1-refusal-IE", EU, A, "2026-03-05T10:00Z", REF, "2026-04-07", IE),
    _p("m1.1-r1-+3m-raw", EU, A, "2026-03-05T10:00Z", "+3m", "2026-06-05", IE),
    _p("m1.1-r1-extended-anchored-IE", EU, A, "2026-03-05T10:00Z", EXT, "2026-06-05", IE_ANCHORED),
    _p("m1.1-r1-extended-conservative-IE", EU, A, "2026-03-05T10:00Z", EXT, "2026-06-05", IE),
    _p("m1.1-r1-extended-DE", EU, A, "2026-03-05T10:00Z", EXT, "2026-06-05", DE),
    # ---- row 2: Mon 2026-08-31 -> 2026-09-30 (EDPB ex. 33 clamp)
    _p("m1.1-r2-+1m-raw", EU, A, "2026-08-31T10:00Z", "+1m", "2026-09-30", IE),
    _p("m1.1-r2-response-IE", EU, A, "2026-08-31T10:00Z", RESP, "2026-09-30", IE),
    _p("m1.1-r2-response-DE", EU, A, "2026-08-31T10:00Z", RESP, "2026-09-30", DE),
    _p("m1.1-r2-+3m-raw", EU, A, "2026-08-31T10:00Z", "+3m", "2026-11-30", IE),
    _p("m1.1-r2-extended-anchored-IE", EU, A, "2026-08-31T10:00Z", EXT, "2026-11-30", IE_ANCHORED),
    _p("m1.1-r2-extended-DE", EU, A, "2026-08-31T10:00Z", EXT, "2026-11-30", DE),
    # ---- row 3: Sat 2026-01-31 -> Sat 02-28 -> Mon 03-02; +3m anchored 04-30 vs chained 04-28
    _p("m1.1-r3-+1m-raw", EU, A, "2026-01-31T10:00Z", "+1m", "2026-02-28", IE),
    _p("m1.1-r3-response-IE", EU, A, "2026-01-31T10:00Z", RESP, "2026-03-02", IE),
    _p("m1.1-r3-response-DE", EU, A, "2026-01-31T10:00Z", RESP, "2026-03-02", DE),
    _p("m1.1-r3-+3m-raw", EU, A, "2026-01-31T10:00Z", "+3m", "2026-04-30", IE),
    _p("m1.1-r3-chained-raw", EU, A, "2026-01-31T10:00Z", "chained", "2026-04-28", IE),
    _p("m1.1-r3-extended-anchored-IE", EU, A, "2026-01-31T10:00Z", EXT, "2026-04-30", IE_ANCHORED),
    _p("m1.1-r3-extended-conservative-IE", EU, A, "2026-01-31T10:00Z", EXT, "2026-04-28", IE),
    _p("m1.1-r3-extended-anchored-DE", EU, A, "2026-01-31T10:00Z", EXT, "2026-04-30", DE_ANCHORED),
    _p("m1.1-r3-extended-conservative-DE", EU, A, "2026-01-31T10:00Z", EXT, "2026-04-28", DE),
    # ---- row 4: Mon 2028-01-31 -> Tue 2028-02-29 (leap); +3m Sun 04-30 -> Mon 05-01 Labour Day -> 05-02
    _p("m1.1-r4-+1m-raw", EU, A, "2028-01-31T10:00Z", "+1m", "2028-02-29", IE),
    _p("m1.1-r4-response-IE", EU, A, "2028-01-31T10:00Z", RESP, "2028-02-29", IE),
    _p("m1.1-r4-response-DE", EU, A, "2028-01-31T10:00Z", RESP, "2028-02-29", DE),
    _p("m1.1-r4-+3m-raw", EU, A, "2028-01-31T10:00Z", "+3m", "2028-04-30", IE),
    _p("m1.1-r4-chained-raw", EU, A, "2028-01-31T10:00Z", "chained", "2028-04-29", IE),
    _p("m1.1-r4-extended-anchored-IE", EU, A, "2028-01-31T10:00Z", EXT, "2028-05-02", IE_ANCHORED),
    _p("m1.1-r4-extended-anchored-DE", EU, A, "2028-01-31T10:00Z", EXT, "2028-05-02", DE_ANCHORED),
    _p("m1.1-r4-extended-conservative-IE", EU, A, "2028-01-31T10:00Z", EXT, "2028-05-02", IE),
    # ---- row 5: Thu 2026-12-31 -> Sun 2027-01-31 -> Mon 2027-02-01 (DE).  In IE Mon 2027-02-01 is
    # St Brigid's Day (first Monday of February), so the IE date rolls once more, to Tue 2027-02-02.
    _p("m1.1-r5-+1m-raw", EU, A, "2026-12-31T10:00Z", "+1m", "2027-01-31", IE),
    _p("m1.1-r5-response-DE", EU, A, "2026-12-31T10:00Z", RESP, "2027-02-01", DE),
    _p("m1.1-r5-response-IE-st-brigid", EU, A, "2026-12-31T10:00Z", RESP, "2027-02-02", IE),
    _p("m1.1-r5-+3m-raw", EU, A, "2026-12-31T10:00Z", "+3m", "2027-03-31", IE),
    _p("m1.1-r5-extended-IE", EU, A, "2026-12-31T10:00Z", EXT, "2027-03-31", IE),
    _p("m1.1-r5-extended-DE", EU, A, "2026-12-31T10:00Z", EXT, "2027-03-31", DE),
    _p("m1.1-r5-response-UK", UK, A, "2026-12-31T10:00Z", RESP, "2027-02-01", IE),
    # ---- legal-matrix §1.3: Thu 2026-03-05, CCPA
    _p("m1.3-45d-delete", CCPA, ERA, "2026-03-05T10:00Z", RESP, "2026-04-19", CA),
    _p("m1.3-45d-know", CCPA, A, "2026-03-05T10:00Z", RESP, "2026-04-19", CA),
    _p("m1.3-45d-notice", CCPA, ERA, "2026-03-05T10:00Z", NOTICE, "2026-04-19", CA),
    _p("m1.3-90d-delete", CCPA, ERA, "2026-03-05T10:00Z", EXT, "2026-06-03", CA),
    _p("m1.3-10bd-ack", CCPA, ERA, "2026-03-05T10:00Z", ACK, "2026-03-19", CA),
    _p("m1.3-15bd-opt-out", CCPA, OPT, "2026-03-05T10:00Z", RESP, "2026-03-26", CA),
    _p("m1.3-15bd-limit", CCPA, LIM, "2026-03-05T10:00Z", RESP, "2026-03-26", CA),
    # ---- own rows: leap years and the Art 3(2)(c) clamp
    _p("leap-2024-01-31-+1m", EU, A, "2024-01-31T10:00Z", "+1m", "2024-02-29", IE),
    _p("leap-2024-01-31-response", EU, A, "2024-01-31T10:00Z", RESP, "2024-02-29", IE),
    _p("clamp-2027-01-29-+1m", EU, A, "2027-01-29T10:00Z", "+1m", "2027-02-28", IE),
    _p("clamp-2027-01-30-+1m", EU, A, "2027-01-30T10:00Z", "+1m", "2027-02-28", IE),
    _p("clamp-2027-01-31-+1m", EU, A, "2027-01-31T10:00Z", "+1m", "2027-02-28", IE),
    _p("clamp-2027-01-29-response-sun-roll", EU, A, "2027-01-29T10:00Z", RESP, "2027-03-01", IE),
    _p("clamp-2027-01-31-response-sun-roll", EU, A, "2027-01-31T10:00Z", RESP, "2027-03-01", IE),
    # ---- receipt on the 31st
    _p("31st-2026-03-31", EU, A, "2026-03-31T10:00Z", RESP, "2026-04-30", IE),
    _p("31st-2026-05-31-sunday-receipt", EU, A, "2026-05-31T10:00Z", RESP, "2026-06-30", IE),
    _p("31st-2026-10-31", EU, A, "2026-10-31T10:00Z", RESP, "2026-11-30", IE),
    # Sat 2026-10-31: chained Sat 2027-01-30 / anchored Sun 01-31 -> Mon 02-01 St Brigid's Day (IE) -> 02-02
    _p("31st-2026-10-31-extended-IE", EU, A, "2026-10-31T10:00Z", EXT, "2027-02-02", IE),
    _p("31st-2026-10-31-extended-anchored-IE", EU, A, "2026-10-31T10:00Z", EXT, "2027-02-02", IE_ANCHORED),
    _p("31st-2026-10-31-extended-DE", EU, A, "2026-10-31T10:00Z", EXT, "2027-02-01", DE),
    # Sun 2027-01-31: chained (Feb 28) + 2m = Wed 2027-04-28 vs anchored Fri 2027-04-30
    _p("31st-2027-01-31-extended-conservative", EU, A, "2027-01-31T10:00Z", EXT, "2027-04-28", IE),
    _p("31st-2027-01-31-extended-anchored", EU, A, "2027-01-31T10:00Z", EXT, "2027-04-30", IE_ANCHORED),
    _p("31st-2027-01-31-extended-uk", UK, A, "2027-01-31T10:00Z", EXT, "2027-04-28", IE),
    # ---- year end
    _p("year-end-ccpa-45d", CCPA, ERA, "2026-12-31T20:00Z", RESP, "2027-02-14", CA),
    _p("year-end-ccpa-ack-over-new-year", CCPA, ERA, "2026-12-24T20:00Z", ACK, "2027-01-11", CA),
    _p("year-end-uk-access", UK, A, "2026-12-31T10:00Z", RESP, "2027-02-01", IE),
    # ---- public holiday on the due date
    _p("holiday-IE-st-patrick", EU, A, "2026-02-17T10:00Z", RESP, "2026-03-18", IE),
    _p("holiday-DE-no-st-patrick", EU, A, "2026-02-17T10:00Z", RESP, "2026-03-17", DE),
    _p("holiday-IE-christmas-st-stephen", EU, A, "2026-11-25T10:00Z", RESP, "2026-12-28", IE),
    _p("holiday-UK-boxing-day-observed", UK, A, "2026-11-26T10:00Z", RESP, "2026-12-29", IE),
    _p("holiday-DE-second-christmas-day", EU, A, "2026-11-26T10:00Z", RESP, "2026-12-28", DE),
    _p("holiday-UK-easter-monday", UK, ERA, "2026-03-06T10:00Z", RESP, "2026-04-07", IE),
    _p("holiday-IE-easter-refusal", EU, Kind.OBJECTION, "2026-03-06T10:00Z", REF, "2026-04-07", IE),
    # ---- CCPA and California's Cesar Chavez Day (Tue 2026-03-31)
    _p("ca-chavez-ack-default", CCPA, ERA, "2026-03-24T17:00Z", ACK, "2026-04-08", CA),
    _p("ca-chavez-ack-strict", CCPA, ERA, "2026-03-24T17:00Z", ACK, "2026-04-07", CA_STRICT),
    _p("ca-chavez-opt-out-default", CCPA, OPT, "2026-03-24T17:00Z", RESP, "2026-04-15", CA),
    _p("ca-chavez-opt-out-strict", CCPA, OPT, "2026-03-24T17:00Z", RESP, "2026-04-14", CA_STRICT),
    _p("ca-chavez-limit-default", CCPA, LIM, "2026-03-24T17:00Z", RESP, "2026-04-15", CA),
    _p("ca-strict-no-holiday-same", CCPA, ERA, "2026-03-05T10:00Z", ACK, "2026-03-19", CA_STRICT),
    _p("ca-45d-on-chavez-no-roll", CCPA, ERA, "2026-02-14T18:00Z", RESP, "2026-03-31", CA),
    _p("ca-45d-on-chavez-roll", CCPA, ERA, "2026-02-14T18:00Z", RESP, "2026-04-01", CA_ROLL),
    _p("ca-45d-sunday-roll", CCPA, ERA, "2026-03-05T10:00Z", RESP, "2026-04-20", CA_ROLL),
    _p("ca-45d-notice-follows-roll", CCPA, ERA, "2026-03-05T10:00Z", NOTICE, "2026-04-20", CA_ROLL),
    _p("ca-90d-wednesday-roll-noop", CCPA, ERA, "2026-03-05T10:00Z", EXT, "2026-06-03", CA_ROLL),
    # ---- receipt late in the evening UTC: 23:30Z on 30 June is 00:30 IST on 1 July in Dublin
    _p("late-utc-IE-next-day", EU, A, "2026-06-30T23:30Z", RESP, "2026-08-04", IE),
    _p("late-utc-DE-next-day", EU, A, "2026-06-30T23:30Z", RESP, "2026-08-03", DE),
    _p("late-utc-controller-in-utc", EU, A, "2026-06-30T23:30Z", RESP, "2026-07-30", EU_UTC),
    _p("late-utc-uk-next-day", UK, A, "2026-06-30T23:30Z", RESP, "2026-08-03", IE),
    _p("late-utc-cw-suppression", EU, CW, "2026-06-30T23:30Z", SUP, "2026-07-01", IE),
    _p("late-utc-ccpa-still-same-day", CCPA, ERA, "2026-03-06T05:00Z", RESP, "2026-04-19", CA),
    _p("late-utc-ccpa-ack", CCPA, ERA, "2026-03-06T05:00Z", ACK, "2026-03-19", CA),
    # ---- immediate duties: G-DM / G-CW
    _p("g-dm-suppression-receipt-day", EU, DM, "2026-03-05T10:00Z", SUP, "2026-03-05", IE),
    _p("g-dm-information-1-month", EU, DM, "2026-03-05T10:00Z", RESP, "2026-04-07", IE),
    _p("g-cw-suppression", EU, CW, "2026-03-05T10:00Z", SUP, "2026-03-05", IE),
    _p("uk-dm-suppression", UK, DM, "2026-03-05T10:00Z", SUP, "2026-03-05", IE),
    # ---- issue 8: California business days = Mon-Fri minus Gov. Code §6700/§6701 holidays (calendars.py).
    # The five dates the `holidays` package's state-employee calendar got wrong:
    # Thanksgiving is a holiday, the day after is not (package: 12-15)
    _p("ca-6700-opt-out-day-after-thanksgiving-works", CCPA, OPT, "2025-11-20T18:00Z", RESP, "2025-12-12", CA),
    # Sat 4 July is not moved to Fri 3 July (package: 07-20)
    _p("ca-6700-opt-out-saturday-july-4-not-moved", CCPA, OPT, "2026-06-26T18:00Z", RESP, "2026-07-17", CA),
    # Susan B. Anthony Day (15 Feb) is no §6700 holiday (package: 03-01)
    _p("ca-6700-know-ack-no-susan-b-anthony", CCPA, A, "2024-02-14T18:00Z", ACK, "2024-02-29", CA),
    # Lincoln Day 12 Feb, Washington 16 Feb, Lunar New Year 17 Feb (package: 02-23)
    _p("ca-6700-know-ack-lincoln-washington-lunar-new-year", CCPA, A, "2026-02-06T18:00Z", ACK, "2026-02-25", CA),
    # Labor Day, Admission Day 9 Sep, Native American Day 25 Sep (package: 09-28)
    _p("ca-6700-limit-admission-native-american", CCPA, LIM, "2026-09-04T18:00Z", RESP, "2026-09-30", CA),
    # One holiday at a time (10 business days from a Friday land on the second Monday unless a day is skipped):
    _p("ca-6700-lunar-new-year-2025", CCPA, A, "2025-01-24T18:00Z", ACK, "2025-02-10", CA),
    _p("ca-6700-genocide-remembrance-2026", CCPA, A, "2026-04-17T18:00Z", ACK, "2026-05-04", CA),
    _p("ca-6700-juneteenth-2026", CCPA, A, "2026-06-12T18:00Z", ACK, "2026-06-29", CA),
    _p("ca-6700-diwali-2027", CCPA, A, "2027-10-22T18:00Z", ACK, "2027-11-08", CA),
    _p("ca-6700-columbus-day-2026", CCPA, OPT, "2026-10-05T18:00Z", RESP, "2026-10-27", CA),
    _p("ca-6701-sunday-july-4-2027-moved-to-monday", CCPA, A, "2027-07-02T18:00Z", ACK, "2027-07-19", CA),
    _p("ca-6701-saturday-veterans-day-2028-friday-off", CCPA, A, "2028-11-03T18:00Z", ACK, "2028-11-20", CA),
    _p("ca-6700-good-friday-is-a-business-day", CCPA, A, "2026-03-27T18:00Z", ACK, "2026-04-13", CA),
    # §1.3 options: strict (weekends only) and Civ. Code §9 Saturdays
    _p("ca-strict-thanksgiving-counts", CCPA, OPT, "2025-11-20T18:00Z", RESP, "2025-12-11", CA_STRICT),
    _p("ca-saturdays-count-except-holidays", CCPA, OPT, "2026-06-26T18:00Z", RESP, "2026-07-15", CA_SAT),
    _p("ca-strict-and-saturdays", CCPA, OPT, "2026-06-26T18:00Z", RESP, "2026-07-14", CA_STRICT_SAT),
    # CCP §12a roll option uses the same §6700 calendar (and skips Saturdays)
    _p("ca-12a-roll-columbus-day", CCPA, ERA, "2026-08-28T18:00Z", RESP, "2026-10-13", CA_ROLL),
    _p("ca-12a-no-roll-columbus-day", CCPA, ERA, "2026-08-28T18:00Z", RESP, "2026-10-12", CA),
    _p("ca-12a-roll-day-after-thanksgiving-works", CCPA, ERA, "2026-10-13T18:00Z", RESP, "2026-11-27", CA_ROLL),
    _p("ca-12a-roll-saturday", CCPA, ERA, "2026-03-04T18:00Z", RESP, "2026-04-20", CA_ROLL),
    _p("ca-12a-no-roll-saturday", CCPA, ERA, "2026-03-04T18:00Z", RESP, "2026-04-18", CA),
]


def _raw(regime: Regime, received_at: datetime, what: str, opts: ClockOptions) -> date:
    receipt = receipt_date(received_at, dl.time_zone_for(regime, opts))
    if what == "+1m":
        return eu_add_months(receipt, 1)
    if what == "+3m":
        return eu_add_months(receipt, 3)
    return eu_add_months(eu_add_months(receipt, 1), 2)


def _only(dates: list[DueDate], purpose: Purpose) -> DueDate:
    found = [d for d in dates if d.purpose is purpose]
    assert len(found) == 1, (purpose, dates)
    return found[0]


@pytest.mark.parametrize(("regime", "kind", "received", "what", "expected", "opts"), VECTORS)
def test_vectors(regime: Regime, kind: Kind, received: str, what: str, expected: date, opts: ClockOptions):
    received_at = datetime.fromisoformat(received)
    if what in RAW:
        got = _raw(regime, received_at, what, opts)
    elif what == EXT:
        got = extended_due(regime, kind, received_at, opts).due_on
    else:
        got = _only(due_dates(regime, kind, received_at, opts), Purpose(what)).due_on
    assert got == expected, f"{got:%a %Y-%m-%d} != {expected:%a %Y-%m-%d}"


# --------------------------------------------------------------------------------------------------
# Headline acceptance
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opts", [IE, DE], ids=["IE", "DE"])
def test_headline_eu_access(opts: ClockOptions):
    dates = due_dates(EU, Kind.ACCESS, HEADLINE, opts)
    assert {d.purpose: d.due_on for d in dates} == {
        Purpose.RESPONSE: date(2026, 4, 7),
        Purpose.EXTENSION_NOTICE: date(2026, 4, 7),
        Purpose.REFUSAL: date(2026, 4, 7),
    }
    assert {d.purpose: d.rule for d in dates} == {
        Purpose.RESPONSE: "G-ACC",
        Purpose.EXTENSION_NOTICE: "G-ACC",
        Purpose.REFUSAL: "G-REF",
    }


def test_headline_ccpa_deletion():
    dates = due_dates(CCPA, Kind.ERASURE, HEADLINE)
    assert [(d.purpose, d.rule, d.due_on) for d in dates] == [
        (Purpose.ACKNOWLEDGEMENT, "C-ACK", date(2026, 3, 19)),
        (Purpose.RESPONSE, "C-DEL", date(2026, 4, 19)),
        (Purpose.EXTENSION_NOTICE, "C-DEL", date(2026, 4, 19)),
    ]
    ext = extended_due(CCPA, Kind.ERASURE, HEADLINE)
    assert (ext.purpose, ext.rule, ext.due_on) == (Purpose.EXTENDED_RESPONSE, "C-DEL", date(2026, 6, 3))


# --------------------------------------------------------------------------------------------------
# Rule ids and purposes per regime/kind
# --------------------------------------------------------------------------------------------------

GDPR_RULES = {
    Kind.ACCESS: "G-ACC",
    Kind.PORTABILITY: "G-POR",
    Kind.ERASURE: "G-ERA",
    Kind.RECTIFICATION: "G-REC",
    Kind.RESTRICTION: "G-RES",
    Kind.OBJECTION: "G-OBJ",
    Kind.AUTOMATED_DECISION_REVIEW: "G-ADM",
}


@pytest.mark.parametrize("kind", list(GDPR_RULES), ids=str)
def test_gdpr_rule_ids(kind: Kind):
    eu = {d.purpose: d.rule for d in due_dates(EU, kind, HEADLINE)}
    assert eu == {
        Purpose.RESPONSE: GDPR_RULES[kind],
        Purpose.EXTENSION_NOTICE: GDPR_RULES[kind],
        Purpose.REFUSAL: "G-REF",
    }
    uk = {d.purpose: d.rule for d in due_dates(UK, kind, HEADLINE)}
    assert uk == {Purpose.RESPONSE: "UK-DSR", Purpose.EXTENSION_NOTICE: "UK-DSR", Purpose.REFUSAL: "G-REF"}
    assert extended_due(EU, kind, HEADLINE).rule == GDPR_RULES[kind]
    assert extended_due(UK, kind, HEADLINE).rule == "UK-DSR"
    refusal = _only(due_dates(UK, kind, HEADLINE), Purpose.REFUSAL)
    assert "Art 12A" in refusal.basis


@pytest.mark.parametrize(("kind", "rule"), [(DM, "G-DM"), (CW, "G-CW")], ids=["G-DM", "G-CW"])
def test_immediate_duties_have_no_refusal_or_extension(kind: Kind, rule: str):
    for regime in (EU, UK):
        dates = due_dates(regime, kind, HEADLINE)
        assert [d.purpose for d in dates] == [Purpose.SUPPRESSION, Purpose.RESPONSE]
        assert _only(dates, Purpose.SUPPRESSION).due_on == date(2026, 3, 5)
        assert not can_extend(regime, kind)
        with pytest.raises(NoExtension, match=rule):
            extended_due(regime, kind, HEADLINE)
    assert {d.rule for d in due_dates(EU, kind, HEADLINE)} == {rule}


@pytest.mark.parametrize(("kind", "rule"), [(OPT, "C-OPT"), (LIM, "C-LIM")], ids=["C-OPT", "C-LIM"])
def test_ccpa_business_day_kinds(kind: Kind, rule: str):
    dates = due_dates(CCPA, kind, HEADLINE)
    assert [(d.purpose, d.rule) for d in dates] == [(Purpose.RESPONSE, rule)]
    assert not can_extend(CCPA, kind)
    with pytest.raises(ValueError, match="no extension"):
        extended_due(CCPA, kind, HEADLINE)


def test_ccpa_rule_ids():
    for kind, rule in [(Kind.ACCESS, "C-KNOW"), (Kind.ERASURE, "C-DEL"), (Kind.RECTIFICATION, "C-COR")]:
        assert [d.rule for d in due_dates(CCPA, kind, HEADLINE)] == ["C-ACK", rule, rule]
        assert can_extend(CCPA, kind)


def test_string_values_are_accepted():
    assert due_dates("ccpa", "erasure", HEADLINE) == due_dates(CCPA, Kind.ERASURE, HEADLINE)
    assert supports("eu_gdpr", "access")


# --------------------------------------------------------------------------------------------------
# Unsupported kinds, naive datetimes
# --------------------------------------------------------------------------------------------------

ALL_COMBOS = list(itertools.product(Regime, Kind))
SUPPORTED = [(r, k) for r, k in ALL_COMBOS if supports(r, k)]
UNSUPPORTED = [(r, k) for r, k in ALL_COMBOS if not supports(r, k)]
EXTENDABLE = [(r, k) for r, k in SUPPORTED if can_extend(r, k)]


def _combo_id(combo: tuple[Regime, Kind]) -> str:
    return f"{combo[0].value}-{combo[1].value}"


def test_support_matrix():
    assert {k for r, k in SUPPORTED if r is CCPA} == {
        Kind.ACCESS,
        Kind.ERASURE,
        Kind.RECTIFICATION,
        Kind.OPT_OUT_SALE_SHARING,
        Kind.LIMIT_SENSITIVE,
        Kind.COMPLAINT,
    }
    gdpr = set(Kind) - {Kind.OPT_OUT_SALE_SHARING, Kind.LIMIT_SENSITIVE}
    assert {k for r, k in SUPPORTED if r is EU} == gdpr
    assert {k for r, k in SUPPORTED if r is UK} == gdpr
    assert len(SUPPORTED) == 26


@pytest.mark.parametrize("combo", UNSUPPORTED, ids=_combo_id)
def test_unsupported_kinds_raise(combo: tuple[Regime, Kind]):
    regime, kind = combo
    with pytest.raises(UnsupportedKind, match=kind.value):
        due_dates(regime, kind, HEADLINE)
    with pytest.raises(UnsupportedKind):
        extended_due(regime, kind, HEADLINE)
    with pytest.raises(UnsupportedKind):
        check_supported(regime, kind)
    assert not can_extend(regime, kind)


def test_unsupported_messages_are_clear():
    with pytest.raises(UnsupportedKind, match=r"^CCPA has no 'restriction' request; CCPA supports: access"):
        check_supported(CCPA, Kind.RESTRICTION)
    with pytest.raises(UnsupportedKind, match=r"^opt_out_sale_sharing exists only under CCPA; eu_gdpr"):
        check_supported(EU, Kind.OPT_OUT_SALE_SHARING)
    with pytest.raises(UnsupportedKind, match=r"^limit_sensitive exists only under CCPA; uk_gdpr"):
        check_supported(UK, Kind.LIMIT_SENSITIVE)
    assert issubclass(UnsupportedKind, ValueError)


def test_due_dates_for_case_names_first_unsupported_regime():
    with pytest.raises(UnsupportedKind, match="^CCPA has no 'portability'"):
        due_dates_for_case([EU, CCPA, UK], Kind.PORTABILITY, HEADLINE)
    with pytest.raises(UnsupportedKind, match="eu_gdpr"):
        due_dates_for_case([CCPA, EU, UK], Kind.OPT_OUT_SALE_SHARING, HEADLINE)
    with pytest.raises(ValueError, match="at least one regime"):
        due_dates_for_case([], Kind.ACCESS, HEADLINE)


def test_due_dates_for_case_all_regimes():
    dates = due_dates_for_case([EU, UK, CCPA, EU], Kind.ERASURE, HEADLINE)
    assert [d.regime for d in dates] == [EU] * 3 + [UK] * 3 + [CCPA] * 3
    assert governing(dates).regime is EU
    assert governing(dates).due_on == date(2026, 4, 7)


@pytest.mark.parametrize(
    "naive", [datetime(2026, 3, 5, 10, 0), datetime(2026, 3, 5)], ids=["naive-10h", "naive-midnight"]
)
def test_naive_datetimes_raise(naive: datetime):
    with pytest.raises(ValueError, match="naive"):
        receipt_date(naive, "Europe/Dublin")
    with pytest.raises(ValueError, match="naive"):
        due_dates(EU, Kind.ACCESS, naive)
    with pytest.raises(ValueError, match="naive"):
        extended_due(CCPA, Kind.ERASURE, naive)
    with pytest.raises(ValueError, match="naive"):
        due_dates_for_case([EU, CCPA], Kind.ERASURE, naive)


def test_receipt_date_rejects_plain_dates_and_unknown_zones():
    with pytest.raises(TypeError):
        receipt_date(date(2026, 3, 5), "Europe/Dublin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown time zone"):
        receipt_date(HEADLINE, "Mars/Olympus_Mons")


def test_receipt_date_uses_regime_time_zone():
    late = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    assert receipt_date(late, "Europe/Dublin") == date(2026, 7, 1)
    assert receipt_date(late, "America/Los_Angeles") == date(2026, 6, 30)
    assert receipt_date(late, "UTC") == date(2026, 6, 30)


# --------------------------------------------------------------------------------------------------
# Primitives
# --------------------------------------------------------------------------------------------------


def test_roll_forward_reasons():
    cal = calendar_for(EU, IE, [2026])
    rolled, reasons = roll_forward(date(2026, 4, 5), cal)
    assert rolled == date(2026, 4, 7)
    assert reasons == [
        "Sun 2026-04-05 is a Sunday",
        "Mon 2026-04-06 Easter Monday is a public holiday in IE",
    ]
    assert roll_forward(date(2026, 4, 7), cal) == (date(2026, 4, 7), [])
    _, weekend_holiday = roll_forward(date(2026, 12, 26), cal)
    assert weekend_holiday[0] == "Sat 2026-12-26 is a Saturday (Saint Stephen's Day, public holiday in IE)"


def test_add_business_days():
    cal = calendar_for(CCPA, CA, [2026])
    assert add_business_days(date(2026, 3, 5), 0, cal) == date(2026, 3, 5)
    assert add_business_days(date(2026, 3, 6), 1, cal) == date(2026, 3, 9)  # Fri -> Mon
    assert add_business_days(date(2026, 3, 30), 1, cal) == date(2026, 4, 1)  # skips Cesar Chavez Day
    assert add_business_days(date(2026, 3, 30), 1, None) == date(2026, 3, 31)
    with pytest.raises(ValueError):
        add_business_days(date(2026, 3, 5), -1, None)


# Gov. Code §6700/§6701 holidays per year, worked out by hand from the rules (legal-matrix §1.3, calendars.py):
# observed days from §6701 are marked "(obs)"; Good Friday, the Day after Thanksgiving and Susan B. Anthony
# Day are absent on purpose.
CA_HOLIDAYS_BY_YEAR = {
    2024: "01-01 01-15 02-10 02-12 02-19 03-31 04-01(obs) 04-24 05-27 06-19 07-04 09-02 09-09 09-27 10-14 "
          "11-11 11-28 12-25",
    2025: "01-01 01-20 01-29 02-12 02-17 03-31 04-24 05-26 06-19 07-04 09-01 09-09 09-26 10-13 11-11 11-27 12-25",
    2026: "01-01 01-19 02-12 02-16 02-17 03-31 04-24 05-25 06-19 07-04 09-07 09-09 09-25 10-12 11-08 11-11 "
          "11-26 12-25",
    2027: "01-01 01-18 02-06 02-12 02-15 03-31 04-24 05-31 06-19 07-04 07-05(obs) 09-06 09-09 09-24 10-11 "
          "10-29 11-11 11-25 12-25",
    2028: "01-01 01-17 01-26 02-12 02-21 03-31 04-24 05-29 06-19 07-04 09-04 09-09 09-22 10-09 10-17 "
          "11-10(obs) 11-11 11-23 12-25",
    2029: "01-01 01-15 02-12 02-13 02-19 03-31 04-24 05-28 06-19 07-04 09-03 09-09 09-10(obs) 09-28 10-08 "
          "11-05 11-11 11-12(obs) 11-22 12-25",
    2030: "01-01 01-21 02-03 02-12 02-18 03-31 04-01(obs) 04-24 05-27 06-19 07-04 09-02 09-09 09-27 10-14 "
          "10-26 11-11 11-28 12-25",
}


@pytest.mark.parametrize("year", sorted(CA_HOLIDAYS_BY_YEAR))
def test_california_holidays_are_exactly_the_6700_days_of_each_year(year: int):
    expected = []
    for token in CA_HOLIDAYS_BY_YEAR[year].split():
        observed = token.endswith("(obs)")
        expected.append((date.fromisoformat(f"{year}-{token[:5]}"), observed))
    cal = calendar_for(CCPA, CA, year)
    got = [(d, "observed" in name) for d, name in cal.holidays_in(year)]
    assert got == expected
    names = {name for _, name in cal.holidays_in(year)}
    assert not any("Thanksgiving" in n and "After" in n for n in names)
    assert not any("Anthony" in n or "Good Friday" in n for n in names)


@pytest.mark.parametrize("year", sorted(CA_HOLIDAYS_BY_YEAR))
def test_every_california_weekday_holiday_is_skipped_as_a_business_day(year: int):
    cal = calendar_for(CCPA, CA, year)
    for day, name in cal.holidays_in(year):
        if day.weekday() >= 5:
            continue
        before = day - timedelta(days=1)
        while before.weekday() >= 5 or before in cal:
            before -= timedelta(days=1)
        nxt = add_business_days(before, 1, cal)
        assert nxt > day, (day, name)
        assert add_business_days(before, 1, None) <= day  # strict mode counts it


def test_each_6700_rule_names_its_source_and_the_date_it_was_checked():
    names = {r.name.split(" (")[0] for r in calendars.CALIFORNIA_RULES}
    assert {"Lincoln Day", "Lunar New Year", "Genocide Remembrance Day", "Admission Day", "Native American Day",
            "Columbus Day", "Diwali", "Juneteenth", "Cesar Chavez Day", "Thanksgiving Day"} <= names
    for rule in calendars.CALIFORNIA_RULES:
        assert "Gov. Code §6700" in rule.source and rule.checked_on == "2026-11-30"
        assert rule.confidence in {"V", "S", "NV"}
    diwali = next(r for r in calendars.CALIFORNIA_RULES if r.name == "Diwali")
    assert diwali.since == 2026 and diwali.confidence == "NV" and diwali.actual(2025) is None
    assert date(2025, 10, 20) not in calendar_for(CCPA, CA, 2025)  # Diwali only from 2026 (AB 268)
    # only the dates §6701 names move from a Sunday; Juneteenth 2033 (a Sunday) does not
    assert calendar_for(CCPA, CA, 2033).get(date(2033, 6, 20)) is None


def test_operator_added_holidays_extend_the_california_calendar():
    extra = calendars.parse_extra_holidays("2025-01-09=National Day of Mourning")
    opts = ClockOptions(ccpa_extra_holidays=extra)
    assert "Mourning" in calendar_for(CCPA, opts, 2025).get(date(2025, 1, 9))
    # opt-out received Wed 8 Jan 2025: 15 business days skip MLK Day (20th), Lunar New Year (29th) and,
    # when added, the 9th
    received = datetime(2025, 1, 8, 18, tzinfo=UTC)
    assert _only(due_dates(CCPA, OPT, received), Purpose.RESPONSE).due_on == date(2025, 1, 31)
    assert _only(due_dates(CCPA, OPT, received, opts), Purpose.RESPONSE).due_on == date(2025, 2, 3)
    with pytest.raises(ValueError, match="not a date"):
        calendars.parse_extra_holidays("9 Jan 2025")


def test_eu_add_months_year_wrap_and_clamp():
    assert eu_add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert eu_add_months(date(2026, 12, 31), 1) == date(2027, 1, 31)
    assert eu_add_months(date(2027, 12, 31), 2) == date(2028, 2, 29)
    assert eu_add_months(date(2026, 3, 5), 0) == date(2026, 3, 5)


def test_calendars():
    uk = calendar_for(UK, IE, [2026])
    assert uk.get(date(2026, 12, 28)) == "Boxing Day (observed)"
    assert date(2026, 3, 17) not in uk
    ca = calendar_for(CCPA, CA, 2026)
    assert "Chavez" in ca.get(date(2026, 3, 31))
    assert date(2026, 1, 6) not in calendar_for(EU, DE, [2026])
    bavaria = ClockOptions(eu_country="DE", eu_subdivision="BY", eu_time_zone="Europe/Berlin")
    assert date(2026, 1, 6) in calendar_for(EU, bavaria, [2026])  # Epiphany, Bavaria only
    # cache: same arguments -> same object; EU settings do not split the UK cache
    assert calendar_for(UK, IE, [2026]) is calendar_for(UK, DE, (2026,))
    with pytest.raises(ValueError):
        calendar_for(EU, ClockOptions(eu_country="XX"), [2026])


def test_bavarian_subdivision_changes_due_date():
    # Receipt Sat 2025-12-06 -> +1 month Tue 2026-01-06: Epiphany in Bavaria, not nationally.
    received = datetime(2025, 12, 6, 10, tzinfo=UTC)
    bavaria = ClockOptions(eu_country="DE", eu_subdivision="BY", eu_time_zone="Europe/Berlin")
    assert _only(due_dates(EU, A, received, DE), Purpose.RESPONSE).due_on == date(2026, 1, 6)
    assert _only(due_dates(EU, A, received, bavaria), Purpose.RESPONSE).due_on == date(2026, 1, 7)


# --------------------------------------------------------------------------------------------------
# Pause, extension, governing
# --------------------------------------------------------------------------------------------------


def test_can_pause():
    assert can_pause(EU) and can_pause(UK)
    assert not can_pause(CCPA)


def test_paused_due_extends_unrolled_end_then_rolls():
    response = _only(due_dates(EU, A, HEADLINE), Purpose.RESPONSE)
    assert response.unrolled_on == date(2026, 4, 5)
    paused = paused_due(response, 10)
    assert paused.due_on == date(2026, 4, 15)  # Sun 04-05 + 10 = Wed 04-15 (not rolled 04-07 + 10)
    assert (paused.rule, paused.purpose, paused.regime) == (response.rule, response.purpose, EU)
    assert "paused 10 calendar days" in paused.basis and "EDPB-ACCESS §159" in paused.basis
    # one day of pause lands on Easter Monday -> rolls to Tuesday
    assert paused_due(response, 1).due_on == date(2026, 4, 7)
    # pauses accumulate
    assert paused_due(paused_due(response, 3), 7).due_on == paused.due_on
    assert paused_due(response, 0) is response


def test_pause_rules_follow_the_regime_the_kind_and_the_ground():
    rule = dl.pause_rule
    assert rule(EU, A, "identity").allowed and rule(EU, ERA, "clarification").allowed
    assert not rule(EU, A, "identity").needs_legal_basis
    assert not rule(CCPA, A, "clarification").allowed and "7021(b)" in rule(CCPA, A, "clarification").text
    assert not rule(UK, A, "identity").allowed and "relevant time" in rule(UK, A, "identity").text
    uk_access, uk_erasure = rule(UK, A, "clarification"), rule(UK, ERA, "clarification")
    assert uk_access.allowed and not uk_access.needs_legal_basis
    assert uk_erasure.allowed and uk_erasure.needs_legal_basis
    assert not rule(UK, DM, "clarification").allowed and not rule(EU, CW, "identity").allowed
    with pytest.raises(ValueError):
        rule(EU, A, "holiday")


def test_a_uk_pause_counts_both_end_days():
    assert dl.pause_length(UK, date(2026, 3, 10), date(2026, 3, 20)) == 11
    assert dl.pause_length(UK, date(2026, 3, 10), date(2026, 3, 10)) == 1
    assert dl.pause_length(EU, date(2026, 3, 10), date(2026, 3, 20)) == 10
    with pytest.raises(ValueError):
        dl.pause_length(EU, date(2026, 3, 20), date(2026, 3, 10))


def test_uk_dates_from_a_later_relevant_time_say_what_arrived():
    arrived, asked = datetime(2026, 3, 20, 9, tzinfo=UTC), datetime(2026, 3, 4, 9, tzinfo=UTC)
    dates = dl.uk_relevant_time_dates(A, arrived, what="identity", requested_at=asked)
    assert {d.purpose: d.due_on for d in dates} == {Purpose.RESPONSE: date(2026, 4, 20),
                                                     Purpose.EXTENSION_NOTICE: date(2026, 4, 20),
                                                     Purpose.REFUSAL: date(2026, 4, 20)}
    assert all(d.basis.startswith("Clock started at the relevant time (UK GDPR Art 12A") for d in dates)
    extended = dl.uk_relevant_time_dates(A, arrived, what="fee", requested_at=asked, extended=True)
    assert {d.purpose for d in extended} == {Purpose.EXTENSION_NOTICE, Purpose.REFUSAL, Purpose.EXTENDED_RESPONSE}
    with pytest.raises(ValueError):
        dl.uk_relevant_time_dates(A, arrived, what="passport", requested_at=asked)


def test_paused_due_with_explicit_calendar_and_uk():
    uk = _only(due_dates(UK, A, HEADLINE), Purpose.RESPONSE)
    paused = paused_due(uk, 24, calendar_for(UK, IE, [2026]))  # 04-05 + 24 = Wed 04-29
    assert paused.due_on == date(2026, 4, 29)
    assert "Art 12A" in paused.basis
    # a pause that lands on the UK May Day bank holiday
    assert paused_due(uk, 29).due_on == date(2026, 5, 5)


def test_paused_due_for_externally_built_due():
    due = DueDate(EU, "G-ACC", Purpose.RESPONSE, date(2026, 4, 7), "stored.")
    assert paused_due(due, 3).due_on == date(2026, 4, 10)


def test_paused_due_refusals():
    ccpa = _only(due_dates(CCPA, ERA, HEADLINE), Purpose.RESPONSE)
    with pytest.raises(ValueError, match="7021"):
        paused_due(ccpa, 5)
    suppression = _only(due_dates(EU, DM, HEADLINE), Purpose.SUPPRESSION)
    with pytest.raises(ValueError, match="no pause"):
        paused_due(suppression, 5)
    with pytest.raises(ValueError, match="no pause"):
        paused_due(_only(due_dates(UK, CW, HEADLINE), Purpose.RESPONSE), 5)
    with pytest.raises(ValueError, match=">= 0"):
        paused_due(_only(due_dates(EU, A, HEADLINE), Purpose.RESPONSE), -1)


def test_governing_earliest_response_across_regimes():
    dates = due_dates_for_case([CCPA, EU], ERA, HEADLINE)
    gov = governing(dates)
    assert (gov.regime, gov.due_on) == (EU, date(2026, 4, 7))  # the C-ACK 03-19 is not an SLA
    # once the EU extension is taken, it supersedes the EU initial date, and CCPA's 45 days govern
    gov = governing([*dates, extended_due(EU, ERA, HEADLINE)])
    assert (gov.regime, gov.rule, gov.due_on) == (CCPA, "C-DEL", date(2026, 4, 19))
    gov = governing([*dates, extended_due(EU, ERA, HEADLINE), extended_due(CCPA, ERA, HEADLINE)])
    assert (gov.regime, gov.purpose, gov.due_on) == (CCPA, Purpose.EXTENDED_RESPONSE, date(2026, 6, 3))
    # suppressions are ignored even though they are earliest
    gov = governing(due_dates_for_case([EU, UK], DM, HEADLINE))
    assert gov.purpose is Purpose.RESPONSE
    with pytest.raises(ValueError):
        governing([_only(due_dates(CCPA, ERA, HEADLINE), Purpose.ACKNOWLEDGEMENT)])
    with pytest.raises(ValueError):
        governing([])


# --------------------------------------------------------------------------------------------------
# Basis sentences
# --------------------------------------------------------------------------------------------------


def test_basis_mentions_inputs_and_roll_reason():
    eu = _only(due_dates(EU, A, HEADLINE), Purpose.RESPONSE).basis
    for fragment in (
        "G-ACC",
        "Art 12(3)",
        "2026-03-05 10:00:00 UTC",
        "Thu 2026-03-05",
        "Europe/Dublin",
        "+1 month = Sun 2026-04-05",
        "Reg. 1182/71 Art 3(2)(c)",
        "Art 3(4)",
        "Mon 2026-04-06 Easter Monday is a public holiday in IE",
        "-> Tue 2026-04-07",
    ):
        assert fragment in eu, fragment
    de = _only(due_dates(EU, A, HEADLINE, DE), Purpose.RESPONSE).basis
    assert "Europe/Berlin" in de and "public holiday in DE" in de
    no_roll = _only(due_dates(EU, A, datetime(2026, 8, 31, 10, tzinfo=UTC)), Purpose.RESPONSE).basis
    assert "Wed 2026-09-30 is a working day in IE, no roll" in no_roll
    clamp = _only(due_dates(EU, A, datetime(2026, 8, 31, 10, tzinfo=UTC)), Purpose.RESPONSE).basis
    assert "last day of that month" in clamp
    uk = _only(due_dates(UK, A, HEADLINE), Purpose.RESPONSE).basis
    assert "UK-DSR" in uk and "Europe/London" in uk and "GB-ENG" in uk and "12A" in uk


def test_basis_extension_explains_conservative_choice():
    received = datetime(2026, 1, 31, 10, tzinfo=UTC)
    cons = extended_due(EU, A, received).basis
    assert "anchored +3 months = Thu 2026-04-30" in cons
    assert "chained +1 month (Sat 2026-02-28) +2 months = Tue 2026-04-28" in cons
    assert "earlier" in cons
    anch = extended_due(EU, A, received, IE_ANCHORED).basis
    assert "conservative option off" in anch and "Thu 2026-04-30" in anch


def test_basis_ccpa():
    resp = _only(due_dates(CCPA, ERA, HEADLINE), Purpose.RESPONSE).basis
    for fragment in (
        "C-DEL",
        "§7021(b)",
        "Thu 2026-03-05",
        "America/Los_Angeles",
        "+45 calendar days",
        "Sun 2026-04-19",
        "no weekend/holiday roll",
    ):
        assert fragment in resp, fragment
    rolled = _only(due_dates(CCPA, ERA, HEADLINE, CA_ROLL), Purpose.RESPONSE).basis
    assert "Sun 2026-04-19 is a Sunday" in rolled and "-> Mon 2026-04-20" in rolled
    received = datetime(2026, 3, 24, 17, tzinfo=UTC)
    ack = _only(due_dates(CCPA, ERA, received), Purpose.ACKNOWLEDGEMENT).basis
    assert "C-ACK" in ack and "§7021(a)" in ack and "Cesar Chavez Day" in ack and "Gov. Code §6700/§6701" in ack
    strict = _only(due_dates(CCPA, ERA, received, CA_STRICT), Purpose.ACKNOWLEDGEMENT).basis
    assert "weekends only" in strict
    assert "C-OPT" in due_dates(CCPA, Kind.OPT_OUT_SALE_SHARING, HEADLINE)[0].basis


# --------------------------------------------------------------------------------------------------
# Purity: no Django, no clock, no DB
# --------------------------------------------------------------------------------------------------


PURE_IMPORTS = {
    "__future__",
    "calendar",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "typing",
    "zoneinfo",
    "holidays",
    "dsr.calendars",
}


@pytest.mark.parametrize("module", [dl, calendars], ids=["deadlines", "calendars"])
def test_module_is_pure(module):
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module if node.module.startswith("dsr") else node.module.split(".")[0])
        elif isinstance(node, ast.Attribute):
            assert node.attr not in {"today", "now", "utcnow"}, f"clock read at line {node.lineno}"
    assert imported <= PURE_IMPORTS, imported


# --------------------------------------------------------------------------------------------------
# Hypothesis properties, for every supported regime/kind combination
# --------------------------------------------------------------------------------------------------

PROPS = settings(max_examples=50, deadline=None, database=None, derandomize=True)

instants = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)
options = st.builds(
    ClockOptions,
    eu_country=st.sampled_from(["IE", "DE", "FR", "NL"]),
    eu_time_zone=st.sampled_from(["Europe/Dublin", "Europe/Berlin", "Europe/Paris", "UTC"]),
    conservative_extension=st.booleans(),
    ccpa_roll_weekend=st.booleans(),
    ccpa_business_days_strict=st.booleans(),
    ccpa_saturday_business_days=st.booleans(),
    uk_nation=st.sampled_from(["england-wales", "scotland", "northern-ireland"]),
)


def _tz(regime: Regime, opts: ClockOptions) -> str:
    return dl.time_zone_for(regime, opts)


def _all_dates(regime: Regime, kind: Kind, at: datetime, opts: ClockOptions) -> dict[Purpose, date]:
    out = {d.purpose: d.due_on for d in due_dates(regime, kind, at, opts)}
    if can_extend(regime, kind):
        out[Purpose.EXTENDED_RESPONSE] = extended_due(regime, kind, at, opts).due_on
    return out


@pytest.mark.parametrize("combo", SUPPORTED, ids=_combo_id)
@PROPS
@given(at=instants, opts=options)
def test_prop_never_before_receipt(combo: tuple[Regime, Kind], at: datetime, opts: ClockOptions):
    regime, kind = combo
    receipt = receipt_date(at, _tz(regime, opts))
    for purpose, due in _all_dates(regime, kind, at, opts).items():
        assert due >= receipt, (purpose, due, receipt)
        if purpose is not Purpose.SUPPRESSION:
            assert due > receipt, (purpose, due, receipt)


@pytest.mark.parametrize("combo", EXTENDABLE, ids=_combo_id)
@PROPS
@given(at=instants, opts=options)
def test_prop_extended_never_before_initial(combo: tuple[Regime, Kind], at: datetime, opts: ClockOptions):
    regime, kind = combo
    dates = _all_dates(regime, kind, at, opts)
    assert dates[Purpose.EXTENDED_RESPONSE] >= dates[Purpose.RESPONSE]
    assert dates[Purpose.EXTENDED_RESPONSE] >= dates[Purpose.EXTENSION_NOTICE]


@pytest.mark.parametrize("combo", SUPPORTED, ids=_combo_id)
@PROPS
@given(a=instants, b=instants, opts=options)
def test_prop_monotone_in_receipt(combo: tuple[Regime, Kind], a: datetime, b: datetime, opts: ClockOptions):
    regime, kind = combo
    early, late = sorted((a, b))
    before, after = _all_dates(regime, kind, early, opts), _all_dates(regime, kind, late, opts)
    if kind is Kind.COMPLAINT:  # the UK acknowledgement duty exists only for complaints received from 19 June 2026
        assert before.keys() <= after.keys()
    else:
        assert before.keys() == after.keys()
    for purpose in before:
        assert before[purpose] <= after[purpose], (purpose, early, late)


@pytest.mark.parametrize("regime", [EU, UK], ids=str)
@PROPS
@given(at=instants, opts=options)
def test_prop_gdpr_dates_are_working_days(regime: Regime, at: datetime, opts: ClockOptions):
    cal = calendar_for(regime, opts, range(at.year, at.year + 2))
    for purpose, due in _all_dates(regime, Kind.ACCESS, at, opts).items():
        assert due.weekday() < 5 and due not in cal, (purpose, due)


@PROPS
@given(at=instants, days=st.integers(min_value=0, max_value=120), more=st.integers(min_value=0, max_value=60))
def test_prop_pause_monotone(at: datetime, days: int, more: int):
    response = _only(due_dates(EU, Kind.ACCESS, at), Purpose.RESPONSE)
    once = paused_due(response, days)
    assert once.due_on >= response.due_on
    assert paused_due(response, days + more).due_on >= once.due_on


@pytest.mark.parametrize("kind", [Kind.OPT_OUT_SALE_SHARING, Kind.ACCESS], ids=str)
@PROPS
@given(at=instants)
def test_prop_california_business_day_dates_are_business_days(kind: Kind, at: datetime):
    dates = {d.purpose: d.due_on for d in due_dates(CCPA, kind, at, CA)}
    due = dates[Purpose.RESPONSE if kind is Kind.OPT_OUT_SALE_SHARING else Purpose.ACKNOWLEDGEMENT]
    cal = calendar_for(CCPA, CA, due.year)
    assert due.weekday() < 5 and due not in cal, due
    strict = {d.purpose: d.due_on for d in due_dates(CCPA, kind, at, CA_STRICT)}
    saturdays = {d.purpose: d.due_on for d in due_dates(CCPA, kind, at, CA_SAT)}
    for purpose, day in dates.items():  # both options only ever give an earlier (or the same) date
        assert strict[purpose] <= day and saturdays[purpose] <= day


def test_a_uk_complaint_is_acknowledged_within_30_days_and_answered_by_the_controllers_own_commitment():
    # Received Fri 2026-07-03 in London: day 1 is Sat 4 July, +30 days = Sun 2 Aug -> Mon 3 Aug 2026 (UK-CMP).
    at = datetime(2026, 7, 3, 10, 0, tzinfo=UTC)
    dates = {d.purpose: d for d in due_dates(UK, Kind.COMPLAINT, at)}
    assert dates[Purpose.ACKNOWLEDGEMENT].rule == "UK-CMP"
    assert dates[Purpose.ACKNOWLEDGEMENT].due_on == date(2026, 8, 3)
    assert "s.164A" in dates[Purpose.ACKNOWLEDGEMENT].basis
    assert dates[Purpose.RESPONSE].rule == "P-CMP" and "not a statutory period" in dates[Purpose.RESPONSE].basis
    assert not can_extend(UK, Kind.COMPLAINT)
    # Before s.164A came into force there is no acknowledgement duty; an EU complaint has only the commitment.
    assert {d.rule for d in due_dates(UK, Kind.COMPLAINT, datetime(2026, 6, 1, tzinfo=UTC))} == {"P-CMP"}
    assert {d.rule for d in due_dates(EU, Kind.COMPLAINT, at)} == {"P-CMP"}
