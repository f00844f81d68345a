"""Breach clocks (dsr/breach_clocks.py): the pure rules, then sync_deadlines on the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dsr import breach_clocks
from dsr.breach_clocks import BreachFacts, NoticeProgress

AWARE = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)


def by_rule(specs):
    return {s.rule: s for s in specs}


def test_awareness_on_27_march_22_30_utc_makes_the_authority_due_30_march_22_30_utc_across_the_dst_change():
    specs = by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE)))
    sa = specs["B-SA"]
    assert sa.due_at == datetime(2026, 3, 30, 22, 30, tzinfo=UTC)
    assert sa.due_at - sa.started_at == timedelta(hours=72)
    assert not sa.not_required
    # Berlin moved to summer time on 29 March: 72 elapsed hours read 73 hours apart on the local wall clock.
    start_local = breach_clocks.local(AWARE, "Europe/Berlin")
    due_local = breach_clocks.local(sa.due_at, "Europe/Berlin")
    assert start_local.strftime("%Y-%m-%d %H:%M %Z") == "2026-03-27 23:30 CET"
    assert due_local.strftime("%Y-%m-%d %H:%M %Z") == "2026-03-31 00:30 CEST"
    assert due_local.replace(tzinfo=None) - start_local.replace(tzinfo=None) == timedelta(hours=73)


def test_only_a_decided_unlikely_risk_switches_the_authority_clock_off_and_says_b_skip():
    suggested_only = by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE, risk_level="")))
    assert not suggested_only["B-SA"].not_required
    decided = by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE, risk_level="unlikely")))
    assert decided["B-SA"].not_required
    assert decided["B-SA"].not_required_reason.startswith("documented only (B-SKIP)")
    none = by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE, risk_level="no_personal_data")))
    assert none["B-SA"].not_required


def test_uk_residents_add_the_same_72_hours_to_the_ico():
    specs = by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE, jurisdictions={"GB-SCT": 3, "DE": 1})))
    assert specs["UK-BR"].due_at == specs["B-SA"].due_at
    assert "ICO" in specs["UK-BR"].authority
    assert "UK-BR" not in by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE, jurisdictions={"FR": 2})))


def test_high_risk_starts_the_undue_delay_clock_without_a_due_instant_and_an_exception_switches_it_off():
    decided = AWARE + timedelta(hours=5)
    high = by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE, risk_level="high",
                                                   high_risk_determined_at=decided)))
    assert high["B-DS"].due_at is None and high["B-DS"].started_at == decided and not high["B-DS"].not_required
    excepted = by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE, risk_level="high",
                                                       high_risk_determined_at=decided, exception_34_3="a")))
    assert excepted["B-DS"].not_required and "34(3)(a)" in excepted["B-DS"].not_required_reason
    assert "B-DS" not in by_rule(breach_clocks.rules(BreachFacts(aware_at=AWARE, risk_level="risk")))


def test_california_residents_get_30_calendar_days_ending_at_midnight_in_los_angeles():
    facts = BreachFacts(aware_at=AWARE, types=("confidentiality",), data_encrypted=False,
                        jurisdictions={"US-CA": 20})
    specs = by_rule(breach_clocks.rules(facts))
    # 27 March 22:30 UTC is 15:30 PDT on 27 March; day 30 is 26 April; it ends at midnight PDT = 07:00 UTC.
    assert specs["CB-IND"].due_at == datetime(2026, 4, 27, 7, 0, tzinfo=UTC)
    assert "most expedient time" in specs["CB-IND"].basis
    assert "CB-AG" not in specs  # 20 residents: no Attorney General sample copy


def test_encrypted_data_whose_key_was_not_exposed_does_not_trigger_the_california_clock():
    facts = BreachFacts(aware_at=AWARE, types=("confidentiality",), data_encrypted=True, keys_exposed=False,
                        jurisdictions={"US-CA": 900})
    specs = by_rule(breach_clocks.rules(facts))
    assert specs["CB-IND"].not_required and "encrypted" in specs["CB-IND"].not_required_reason
    assert "CB-AG" not in specs


def test_the_attorney_general_copy_is_pending_until_consumers_are_notified_then_due_15_days_later():
    base = dict(aware_at=AWARE, types=("confidentiality",), data_encrypted=False, jurisdictions={"US-CA": 501})
    pending = by_rule(breach_clocks.rules(BreachFacts(**base)))["CB-AG"]
    assert pending.due_at is None and "pending" in pending.basis and not pending.not_required
    sent = datetime(2026, 4, 2, 18, 0, tzinfo=UTC)  # 11:00 PDT on 2 April
    progress = NoticeProgress(total=501, sent=10, first_sent_at=sent, last_sent_at=sent)
    due = by_rule(breach_clocks.rules(BreachFacts(**base, notices={"US-CA": progress})))["CB-AG"]
    assert due.started_at == sent and due.due_at == datetime(2026, 4, 18, 7, 0, tzinfo=UTC)  # end of 17 April
    exactly_500 = by_rule(breach_clocks.rules(BreachFacts(**{**base, "jurisdictions": {"US-CA": 500}})))
    assert "CB-AG" not in exactly_500  # "more than 500"
    declared = by_rule(breach_clocks.rules(BreachFacts(**{**base, "jurisdictions": {"US-CA": None}})))
    assert "count unknown" in declared["CB-AG"].basis


def test_the_state_table_loads_and_every_row_has_its_source_verification_date_and_confidence_tag():
    table = breach_clocks.state_table()
    assert "US-CA" not in table and {"US-NY", "US-TX", "US-CO", "US-WA", "US-FL"} <= set(table)
    for code, row in table.items():
        assert row["source_url"].startswith(("https://", "http://")), code
        assert date.fromisoformat(row["verified_on"]) <= date(2026, 11, 30), code
        assert row["status"] in {"V", "S", "U", "S/U", "V/S"}, code
        assert row["clock_start"] in {"discovery", "determination", "awareness"}, code
    assert table["US-ME"]["status"] == "U"  # the matrix's doubt is kept, not upgraded


def test_other_states_come_from_the_table_with_their_regulator_thresholds():
    facts = BreachFacts(aware_at=AWARE, types=("confidentiality",), data_encrypted=False,
                        jurisdictions={"US-TX": 250, "US-NY": 3, "US-WA": 500, "US-NV": 2})
    specs = by_rule(breach_clocks.rules(facts))
    # Texas: 60 days for residents, the AG at 250 or more within 30 days (end of day, Central time).
    assert specs["US-TX"].due_at == datetime(2026, 5, 27, 5, 0, tzinfo=UTC)
    assert specs["US-TX-REG"].due_at == datetime(2026, 4, 27, 5, 0, tzinfo=UTC)
    assert "[V/S; checked 2026-11-30" in specs["US-TX"].basis
    assert "US-WA-REG" not in specs  # "more than 500"
    assert specs["US-NY"].due_at == datetime(2026, 4, 27, 4, 0, tzinfo=UTC)
    assert specs["US-NV"].due_at is None and "most expedient" in specs["US-NV"].basis


def test_brazil_counts_3_business_days_and_skips_good_friday():
    # Wed 1 April 2026, 11:00 in Sao Paulo: Thu 2, (Fri 3 is Good Friday, a national holiday), Mon 6, Tue 7.
    aware = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
    specs = by_rule(breach_clocks.rules(BreachFacts(aware_at=aware, jurisdictions={"BR": 4})))
    assert specs["BR-BR"].due_at == datetime(2026, 4, 8, 3, 0, tzinfo=UTC)  # end of Tue 7 April, BRT (UTC-3)
    # Without the holiday it would have ended on Monday.
    plain = breach_clocks.business_days_after(aware, 3, "America/Sao_Paulo", set())
    assert plain == datetime(2026, 4, 7, 3, 0, tzinfo=UTC)
    assert "BR-BR" not in by_rule(breach_clocks.rules(BreachFacts(aware_at=aware, jurisdictions={"PT": 4})))


def test_a_small_processing_agent_has_twice_the_business_days_in_brazil():
    aware = datetime(2026, 4, 17, 12, 0, tzinfo=UTC)  # Fri; Tiradentes is Tue 21 April
    small = by_rule(breach_clocks.rules(BreachFacts(aware_at=aware, jurisdictions={"BR": 1},
                                                    lgpd_small_agent=True)))["BR-BR"]
    # Mon 20, (Tue 21 holiday), Wed 22, Thu 23, Fri 24, Mon 27, Tue 28.
    assert small.due_at == datetime(2026, 4, 29, 3, 0, tzinfo=UTC)


def test_the_governing_deadline_is_the_earliest_open_one_and_names_its_rule():
    facts = BreachFacts(aware_at=AWARE, types=("confidentiality",), data_encrypted=False,
                        jurisdictions={"US-CA": 10, "BR": 1, "GB": 1})
    specs = breach_clocks.rules(facts)
    # B-SA and UK-BR share 30 March 22:30 UTC; BR-BR (Mon 30 … Wed 1 April) is later; ties go by rule id.
    assert breach_clocks.governing(specs).rule == "B-SA"
    met = BreachFacts(**{**facts.__dict__, "initial_filings": {"B-SA": AWARE + timedelta(hours=1),
                                                               "UK-BR": AWARE + timedelta(hours=2)}})
    assert breach_clocks.governing(breach_clocks.rules(met)).rule == "BR-BR"


def test_every_basis_fits_its_column():
    facts = BreachFacts(aware_at=AWARE, types=("confidentiality",), data_encrypted=False, risk_level="high",
                        high_risk_determined_at=AWARE, lgpd_small_agent=True,
                        jurisdictions={c: None for c in [*breach_clocks.state_table(), "US-CA", "BR", "GB"]})
    for spec in breach_clocks.rules(facts):
        assert len(spec.basis) <= 300, (spec.rule, len(spec.basis))
        assert len(spec.authority) <= 200


@pytest.mark.django_db
def test_sync_keeps_a_met_deadline_and_marks_a_rule_that_no_longer_applies(django_user_model):
    from dsr import breaches

    now = AWARE + timedelta(hours=2)
    breach = breaches.open_breach(data={
        "title": "Backup bucket readable", "description": "A storage bucket was public.",
        "detected_at": AWARE - timedelta(hours=1), "aware_at": AWARE, "aware_basis": "access logs",
        "aware_by": "security team", "types": ["confidentiality"], "categories": ["photo"],
        "jurisdictions": ["GB"]}, actor="staff:ops", now=now)
    rules = {d.rule: d for d in breach.deadlines.all()}
    assert set(rules) == {"B-SA", "UK-BR"}
    breaches.record_filing(breach, rule="UK-BR", authority="ICO", phase="initial", actor="staff:ops", now=now)
    breaches.update_breach(breach, changes={"jurisdictions": []}, actor="staff:ops", now=now)
    uk = breach.deadlines.get(rule="UK-BR")
    assert uk.met_at == now and not uk.not_required  # met stays met
    breaches.assess_risk(breach, level="high", rationale="faces exposed", actor="staff:dpo", now=now)
    assert breach.deadlines.filter(rule="B-DS").exists()
    breaches.assess_risk(breach, level="risk", rationale="only thumbnails after all", actor="staff:dpo", now=now)
    ds = breach.deadlines.get(rule="B-DS")
    assert ds.not_required and "no longer applies" in ds.not_required_reason


@pytest.mark.django_db
def test_storing_a_scope_starts_the_clocks_of_the_jurisdictions_it_finds():
    from dsr import breach_scope, breaches
    from dsr.models import Subject
    from tests import factories

    now = AWARE + timedelta(hours=2)
    for email, where in (("gb.person@example.com", "GB-WLS"), ("ca.person@example.com", "US-CA")):
        person = factories.subject(email, now=AWARE - timedelta(days=3))
        Subject.objects.filter(pk=person.pk).update(residence=where)
        factories.photo_item(person, now=AWARE - timedelta(days=2))
    breach = breaches.open_breach(data={
        "title": "Bucket listable", "description": "Photos readable by anyone with the URL.",
        "detected_at": AWARE - timedelta(hours=1), "aware_at": AWARE, "aware_basis": "access logs",
        "aware_by": "security team", "types": ["confidentiality"], "categories": ["photo"], "data_encrypted": False,
        "keys_exposed": True, "occurred_from": AWARE - timedelta(days=1), "occurred_until": AWARE},
        actor="staff:ops", now=now)
    assert {d.rule for d in breach.deadlines.all()} == {"B-SA"}
    breach_scope.store_scope(breach, actor="staff:ops", now=now)
    rules = {d.rule: d for d in breach.deadlines.all()}
    assert {"B-SA", "UK-BR", "CB-IND"} <= set(rules) and "CB-AG" not in rules  # 1 Californian, not > 500
    assert rules["CB-IND"].due_at == datetime(2026, 4, 27, 7, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_notices_sent_to_everyone_meet_the_subject_clocks(settings):
    import time_machine

    from dsr import steps
    from dsr.breach_notices import start_subject_notices
    from tests import breach_kit

    settings.DSR_BREACH_NOTICE_RATE = 0
    now = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    breach = breach_kit.breach()
    breach_kit.affect(breach, 2, residence="US-CA", prefix="ca")
    type(breach).objects.filter(pk=breach.pk).update(scope_counts={"jurisdictions": {"US-CA": 2}})
    breach.refresh_from_db()
    breach_clocks.sync_deadlines(breach, now=now)
    assert breach.deadlines.get(rule="B-DS").is_open and breach.deadlines.get(rule="CB-IND").is_open
    with time_machine.travel(now, tick=False):
        steps.advance(start_subject_notices(breach, actor="staff:alice", now=now).pk)
    ds, ind = breach.deadlines.get(rule="B-DS"), breach.deadlines.get(rule="CB-IND")
    assert ds.met_at == now and ind.met_at == now
