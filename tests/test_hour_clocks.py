"""Hour clocks (dsr/hour_clocks.py): pure, instants in and out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dsr import hour_clocks
from dsr.hour_clocks import HourClockOptions, HourRegime

OPTS = HourClockOptions()


def test_a_valid_request_at_27_march_20_00_utc_is_due_48_hours_later_across_the_daylight_saving_change():
    valid_at = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    clocks = hour_clocks.clocks_after_decision(valid_at, valid=True, intimate=True, opts=OPTS)
    tida = next(c for c in clocks if c.regime == HourRegime.TIDA)
    assert tida.due_at == datetime(2026, 3, 29, 20, 0, tzinfo=UTC)
    # Europe moved its clocks forward on 29 March 2026 at 01:00 UTC: the due instant reads an hour later on the
    # wall clock than the request came in, because 48 elapsed hours are counted, not two calendar days.
    assert hour_clocks.local(valid_at, "Europe/London").strftime("%d %H:%M %Z") == "27 20:00 GMT"
    assert hour_clocks.local(tida.due_at, "Europe/London").strftime("%d %H:%M %Z") == "29 21:00 BST"
    assert hour_clocks.local(tida.due_at, "Europe/Berlin").strftime("%d %H:%M %Z") == "29 22:00 CEST"
    # And the US change of 8 March 2026 is behind us: New York shows 16:00 EDT.
    assert hour_clocks.local(tida.due_at, "America/New_York").strftime("%d %H:%M %Z") == "29 16:00 EDT"


def test_a_request_given_in_a_local_zone_is_counted_in_elapsed_hours():
    from zoneinfo import ZoneInfo

    valid_at = datetime(2026, 3, 28, 23, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # CET, before the change
    clock = hour_clocks.clock(HourRegime.POLICY, valid_at, 48, "test")
    assert clock.starts_at == datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    assert clock.due_at - clock.starts_at == timedelta(hours=48)
    assert clock.due_at.tzinfo is UTC


def test_every_report_runs_on_the_policy_clock_and_an_intimate_claim_adds_the_48_hour_statutory_clocks():
    valid_at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    plain = {c.regime for c in hour_clocks.clocks_at_validity(valid_at, intimate_claimed=False, opts=OPTS)}
    assert plain == {HourRegime.POLICY, HourRegime.DSA}
    claimed = {c.regime for c in hour_clocks.clocks_at_validity(valid_at, intimate_claimed=True, opts=OPTS)}
    assert claimed == {HourRegime.POLICY, HourRegime.TIDA, HourRegime.UK48, HourRegime.DSA}


def test_the_operators_decision_picks_the_clock_and_keeps_counting_from_validity():
    valid_at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    intimate = hour_clocks.clocks_after_decision(valid_at, valid=True, intimate=True, opts=OPTS)
    assert {c.regime for c in intimate} == {HourRegime.TIDA, HourRegime.UK48, HourRegime.DSA}
    assert all(c.starts_at == valid_at for c in intimate)
    not_intimate = hour_clocks.clocks_after_decision(valid_at, valid=True, intimate=False, opts=OPTS)
    assert {c.regime for c in not_intimate} == {HourRegime.POLICY, HourRegime.DSA}
    assert hour_clocks.clocks_after_decision(valid_at, valid=False, intimate=True, opts=OPTS) == []


def test_configured_hours_change_the_policy_and_dsa_clocks_but_never_the_statutory_48_hours():
    opts = HourClockOptions(policy_hours=24, dsa_hours=12, uk48=False, dsa=True)
    valid_at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    clocks = {c.regime: c for c in hour_clocks.clocks_at_validity(valid_at, intimate_claimed=True, opts=opts)}
    assert set(clocks) == {HourRegime.POLICY, HourRegime.TIDA, HourRegime.DSA}
    assert clocks[HourRegime.POLICY].due_at == valid_at + timedelta(hours=24)
    assert clocks[HourRegime.TIDA].due_at == valid_at + timedelta(hours=48)
    assert hour_clocks.governing(clocks.values()).regime == HourRegime.DSA


@pytest.mark.parametrize("bad", [0, -1, 721, True, 1.5])
def test_nonsensical_configured_hours_are_refused(bad):
    with pytest.raises(ValueError):
        HourClockOptions(policy_hours=bad)


def test_the_earliest_clock_governs_and_a_day_clock_ends_at_the_end_of_its_day_in_its_zone():
    valid_at = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    clocks = hour_clocks.clocks_after_decision(valid_at, valid=True, intimate=True, opts=OPTS)
    assert hour_clocks.governing(clocks).regime == HourRegime.TIDA  # ties go to the statute
    erasure_due = hour_clocks.day_clock_instant(date(2026, 4, 27), "Europe/Dublin")
    assert erasure_due == datetime(2026, 4, 27, 23, 0, tzinfo=UTC)  # midnight IST = 23:00 UTC
    assert min([*[c.due_at for c in clocks], erasure_due]) == datetime(2026, 3, 29, 20, 0, tzinfo=UTC)


def test_escalations_come_24_and_4_hours_before_the_deadline_once_and_never_after_it():
    due = datetime(2026, 3, 29, 20, 0, tzinfo=UTC)
    assert hour_clocks.escalation_times(due) == [(24, datetime(2026, 3, 28, 20, 0, tzinfo=UTC)),
                                                 (4, datetime(2026, 3, 29, 16, 0, tzinfo=UTC))]
    assert hour_clocks.escalations_due(due, due - timedelta(hours=25)) == []
    assert hour_clocks.escalations_due(due, due - timedelta(hours=23)) == [24]
    assert hour_clocks.escalations_due(due, due - timedelta(hours=3)) == [4]  # only the nearest
    assert hour_clocks.escalations_due(due, due) == []


def test_margins_read_as_time_to_spare_or_late():
    due = datetime(2026, 3, 29, 20, 0, tzinfo=UTC)
    assert hour_clocks.describe_margin(hour_clocks.margin(due, due - timedelta(hours=3, minutes=5))) == \
        "3 h 05 min to spare"
    assert hour_clocks.describe_margin(hour_clocks.margin(due, due + timedelta(minutes=90))) == "1 h 30 min late"


def test_naive_instants_are_refused():
    with pytest.raises(ValueError):
        hour_clocks.clock(HourRegime.TIDA, datetime(2026, 3, 27, 20, 0), 48, "x")  # noqa: DTZ001
