"""The breach verbs (dsr/breaches.py) and the §5.1 risk aid (dsr/breach_risk.py), on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from dsr import breach_risk, breaches
from dsr.breach_risk import RiskFacts
from dsr.models import Breach, BreachDeadline, BreachFiling, CategoryPolicy, Event

AWARE = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)
ACTOR = "staff:ops"


def incident(**over):
    data = {"title": "Public bucket", "description": "A bucket holding thumbnails was publicly listable.",
            "detected_at": AWARE - timedelta(hours=3), "aware_at": AWARE, "aware_basis": "access logs showed reads",
            "aware_by": "security on-call", "types": ["confidentiality"], "categories": ["thumbnail"]}
    data.update(over)
    return data


def opened(now=AWARE + timedelta(hours=1), **over) -> Breach:
    return breaches.open_breach(data=incident(**over), actor=ACTOR, now=now)


# --- the risk aid -------------------------------------------------------------------------------------------------

BASE = RiskFacts(categories=("thumbnail",), special_categories=frozenset(), types=("confidentiality",),
                 data_encrypted=False, keys_exposed=False, restored=False, factors=(), people=10, large_scale=10_000)


@pytest.mark.parametrize("change, level, words", [
    ({"categories": ()}, "no_personal_data", "no personal-data category"),
    ({"types": ("availability",), "data_encrypted": True}, "unlikely", "availability only"),
    ({"types": ("availability", "integrity"), "data_encrypted": True, "restored": True}, "unlikely", "restored"),
    ({"types": ("availability",), "data_encrypted": True, "keys_exposed": True}, "risk", "without a high-risk"),
    ({"categories": ("face_embedding",)}, "high", "biometric"),
    ({"categories": ("photo",), "special_categories": frozenset({"photo"})}, "high", "special-category"),
    ({"factors": ("children",)}, "high", "Children"),
    ({"factors": ("credentials",)}, "high", "Credentials"),
    ({"people": 10_000}, "high", "large scale"),
    ({"people": 9_999}, "risk", "without a high-risk"),
    ({}, "risk", "notify the SA"),
])
def test_the_risk_aid_follows_the_decision_tree(change, level, words):
    got, reasons = breach_risk.suggest_from(RiskFacts(**{**BASE.__dict__, **change}))
    assert got == level
    assert any(words in r for r in reasons), reasons


@pytest.mark.django_db
def test_a_face_embedding_breach_is_suggested_high_and_the_operator_may_override_with_a_rationale():
    breach = opened(categories=["face_embedding", "photo"])
    assert breach.risk_suggested == "high" and breach.risk_level == ""
    with pytest.raises(breaches.BreachInputError) as refused:
        breaches.assess_risk(breach, level="risk", rationale="  ", actor="staff:dpo", now=AWARE + timedelta(hours=2))
    assert set(refused.value.errors) == {"rationale"}
    breach.refresh_from_db()
    assert breach.risk_level == ""
    breach = breaches.assess_risk(breach, level="risk", rationale="embeddings were salted and unusable",
                                  actor="staff:dpo", now=AWARE + timedelta(hours=2))
    assert (breach.risk_level, breach.risk_suggested, breach.high_risk_determined_at) == ("risk", "high", None)
    event = Event.objects.filter(kind="breach.risk_assessed").get()
    assert event.data["suggested"] == "high" and event.data["decided"] == "risk" and event.data["overrides_suggestion"]
    assert "salted" not in str(event.data)


@pytest.mark.django_db
def test_the_register_flags_special_categories_as_high(settings):
    CategoryPolicy.objects.filter(category="thumbnail").update(special_category=True)
    assert opened().risk_suggested == "high"
    settings.DSR_BREACH_LARGE_SCALE_SUBJECTS = 50
    CategoryPolicy.objects.filter(category="thumbnail").update(special_category=False)
    assert opened(subjects_estimate=50).risk_suggested == "high"


# --- opening and input ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_opening_assigns_consecutive_references_syncs_deadlines_and_audits_only_field_names():
    first, second = opened(), opened()
    assert (first.reference, second.reference) == ("BR-2026-0001", "BR-2026-0002")
    assert first.deadlines.get(rule="B-SA").due_at == datetime(2026, 3, 30, 22, 30, tzinfo=UTC)
    event = Event.objects.filter(kind="breach.opened", object_id=str(first.pk)).get()
    assert event.object_type == "breach" and "title" in event.data["fields"]
    assert "Public bucket" not in str(event.data) and "access logs" not in str(event.data)


@pytest.mark.django_db
@pytest.mark.parametrize("change, field", [
    ({"aware_at": AWARE - timedelta(hours=4)}, "aware_at"),  # before detected_at
    ({"aware_at": AWARE + timedelta(days=2)}, "aware_at"),  # in the future
    ({"types": ["leak"]}, "types"),
    ({"types": []}, "types"),
    ({"categories": ["dna"]}, "categories"),
    ({"title": ""}, "title"),
    ({"title": "two\nlines"}, "title"),
    ({"aware_at": "yesterday"}, "aware_at"),
    ({"aware_at": "2026-03-27T22:30:00"}, "aware_at"),  # no offset
    ({"jurisdictions": ["XX"]}, "jurisdictions"),
    ({"jurisdictions": ["US-ZZ"]}, "jurisdictions"),
    ({"law_enforcement_delay": True}, "law_enforcement_reason"),
    ({"occurred_from": AWARE - timedelta(days=1), "occurred_until": AWARE - timedelta(days=2)}, "occurred_until"),
    ({"processor": 999_999}, "processor"),
    ({"subjects_estimate": -3}, "subjects_estimate"),
    ({"colour": "red"}, "colour"),
])
def test_bad_input_is_refused_field_by_field_and_nothing_is_written(change, field):
    events = Event.objects.count()
    with pytest.raises(breaches.BreachInputError) as refused:
        opened(**change)
    assert field in refused.value.errors
    assert Breach.objects.count() == 0 and BreachDeadline.objects.count() == 0 and Event.objects.count() == events


@pytest.mark.django_db
def test_several_bad_fields_are_all_named_at_once():
    with pytest.raises(breaches.BreachInputError) as refused:
        breaches.open_breach(data={"types": ["x"]}, actor=ACTOR, now=AWARE)
    assert {"types", "title", "description", "detected_at", "aware_at", "aware_basis", "aware_by"} <= set(
        refused.value.errors)


@pytest.mark.django_db
def test_an_update_is_checked_against_the_stored_values_and_moves_the_clock():
    breach = opened()
    with pytest.raises(breaches.BreachInputError) as refused:
        breaches.update_breach(breach, changes={"detected_at": AWARE + timedelta(minutes=5)}, actor=ACTOR,
                               now=AWARE + timedelta(hours=1))
    assert "aware_at" in refused.value.errors
    breaches.update_breach(breach, changes={"aware_at": AWARE - timedelta(hours=1), "jurisdictions": ["us-ca"]},
                           actor=ACTOR, now=AWARE + timedelta(hours=1))
    breach.refresh_from_db()
    assert breach.jurisdictions_declared == ["US-CA"]
    assert breach.deadlines.get(rule="B-SA").due_at == datetime(2026, 3, 30, 21, 30, tzinfo=UTC)
    assert Event.objects.filter(kind="breach.updated").get().data["fields"] == ["aware_at", "jurisdictions_declared"]


# --- filings ----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_late_initial_notice_without_reasons_is_refused_and_with_reasons_accepted_and_flagged_late():
    breach = opened()
    late = datetime(2026, 3, 31, 9, 0, tzinfo=UTC)  # 10.5 h after the 72 hours
    with time_machine.travel(late, tick=False):
        with pytest.raises(breaches.BreachInputError) as refused:
            breaches.record_filing(breach, rule="B-SA", authority="Data Protection Commission", phase="initial",
                                   actor=ACTOR, now=late)
        assert "delay_reason" in refused.value.errors
        assert BreachFiling.objects.count() == 0 and breach.deadlines.get(rule="B-SA").met_at is None
        filing = breaches.record_filing(breach, rule="B-SA", authority="Data Protection Commission",
                                        phase="initial", actor=ACTOR, now=late,
                                        delay_reason="forensics needed the weekend to confirm exfiltration",
                                        document=b"%PDF-1.7 art33")
    assert filing.late and filing.document_sha256 and filing.delay_reason.startswith("forensics")
    assert breach.deadlines.get(rule="B-SA").met_at == late
    assert breaches.governing_deadline(breach) is None
    event = Event.objects.filter(kind="breach.filed").get()
    assert event.data["late"] is True and "forensics" not in str(event.data)


@pytest.mark.django_db
def test_an_initial_notice_in_time_is_not_late():
    breach = opened()
    filing = breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="initial", actor=ACTOR,
                                    now=datetime(2026, 3, 30, 22, 30, tzinfo=UTC))  # exactly at the mark
    assert not filing.late


@pytest.mark.django_db
def test_phased_notices_link_to_the_initial_filing_and_nothing_follows_a_final():
    breach = opened()
    at = AWARE + timedelta(hours=20)
    with pytest.raises(breaches.BreachInputError) as refused:
        breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="follow_up", actor=ACTOR, now=at)
    assert "phase" in refused.value.errors  # the first filing must be the initial one
    initial = breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="initial", actor=ACTOR, now=at,
                                     submission_ref="DPC-BN-123")
    with pytest.raises(breaches.BreachInputError) as refused:
        breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="follow_up", actor=ACTOR, now=at)
    assert "follows" in refused.value.errors
    with pytest.raises(breaches.BreachInputError):
        breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="initial", actor=ACTOR, now=at)
    other = opened()
    foreign = breaches.record_filing(other, rule="B-SA", authority="DPC", phase="initial", actor=ACTOR, now=at)
    with pytest.raises(breaches.BreachInputError) as refused:
        breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="follow_up", follows=foreign,
                               actor=ACTOR, now=at)
    assert "follows" in refused.value.errors
    follow = breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="follow_up", follows=initial,
                                    actor=ACTOR, now=at + timedelta(days=3))
    final = breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="final", follows=follow,
                                   actor=ACTOR, now=at + timedelta(days=9))
    assert follow.follows == initial and final.follows == follow and not follow.late and not final.late
    assert list(initial.follow_ups.all()) == [follow]
    with pytest.raises(breaches.BreachInputError):
        breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="follow_up", follows=final,
                               actor=ACTOR, now=at + timedelta(days=10))
    with pytest.raises(breaches.BreachInputError) as refused:
        breaches.record_filing(breach, rule="US-TX", authority="AG", phase="initial", actor=ACTOR, now=at)
    assert "rule" in refused.value.errors


@pytest.mark.django_db
def test_the_governing_deadline_is_the_earliest_open_one_and_the_board_can_name_its_rule():
    breach = opened(types=["confidentiality"], jurisdictions=["BR", "GB"],
                    now=datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert breaches.governing_deadline(breach).rule == "B-SA"
    breaches.record_filing(breach, rule="B-SA", authority="DPC", phase="initial", actor=ACTOR,
                           now=datetime(2026, 3, 28, 13, 0, tzinfo=UTC))
    assert breaches.governing_deadline(breach).rule == "UK-BR"
    breaches.record_filing(breach, rule="UK-BR", authority="ICO", phase="initial", actor=ACTOR,
                           now=datetime(2026, 3, 28, 14, 0, tzinfo=UTC))
    governing = breaches.governing_deadline(breach)
    assert governing.rule == "BR-BR" and governing.due_at == datetime(2026, 4, 2, 3, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_an_unlikely_decision_documents_the_breach_without_an_authority_clock_and_it_can_close():
    breach = opened(types=["availability"], data_encrypted=True, restored_at=AWARE + timedelta(minutes=40))
    assert breach.risk_suggested == "unlikely"
    assert breaches.governing_deadline(breach).rule == "B-SA"  # a suggestion alone does not stop the clock
    with pytest.raises(breaches.BreachInputError) as refused:
        breaches.close_breach(breach, actor=ACTOR, now=AWARE + timedelta(hours=2))
    assert {"risk_level", "deadlines"} <= set(refused.value.errors)
    breaches.assess_risk(breach, level="unlikely", rationale="restored from backup in 40 minutes, encrypted",
                         actor="staff:dpo", now=AWARE + timedelta(hours=2))
    sa = breach.deadlines.get(rule="B-SA")
    assert sa.not_required and sa.not_required_reason.startswith("documented only (B-SKIP)")
    assert breaches.governing_deadline(breach) is None
    breaches.add_remedial_action(breach, action="rotated the storage credentials", actor=ACTOR,
                                 now=AWARE + timedelta(hours=3))
    closed = breaches.close_breach(breach, actor=ACTOR, now=AWARE + timedelta(hours=4))
    assert closed.state == "closed" and closed.remedial_actions[0]["action"] == "rotated the storage credentials"
    with pytest.raises(breaches.BreachInputError):
        breaches.add_remedial_action(breach, action="more", actor=ACTOR, now=AWARE + timedelta(hours=5))


@pytest.mark.django_db
def test_an_art_34_3_exception_switches_the_subject_clock_off_with_its_rationale():
    breach = opened(categories=["face_embedding"])
    breaches.assess_risk(breach, level="high", rationale="biometric", actor="staff:dpo", now=AWARE + timedelta(hours=2))
    ds = breach.deadlines.get(rule="B-DS")
    assert ds.is_open and ds.due_at is None and ds.started_at == AWARE + timedelta(hours=2)
    with pytest.raises(breaches.BreachInputError):
        breaches.set_exception(breach, exception="a", rationale="", actor="staff:dpo", now=AWARE + timedelta(hours=3))
    breaches.set_exception(breach, exception="a", rationale="AES-GCM, keys in the HSM, not exposed",
                           actor="staff:dpo", now=AWARE + timedelta(hours=3))
    ds.refresh_from_db()
    assert ds.not_required and "34(3)(a)" in ds.not_required_reason


@pytest.mark.django_db(transaction=True)
def test_references_stay_unique_and_consecutive_when_breaches_are_opened_at_the_same_time():
    import threading

    from django.db import connection

    barrier, refs, errors = threading.Barrier(6), [], []

    def open_one() -> None:
        try:
            barrier.wait(timeout=30)
            refs.append(opened().reference)
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(refs) == [f"BR-2026-{n:04d}" for n in range(1, 7)]
