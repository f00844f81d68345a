"""Escalation e-mails of the breach desk (issue 12 §6): the DPO is warned 24 h and 6 h before every open
deadline with a due instant — the 72-hour mark of Art. 33 (B-SA) first — once each, never for a deadline that is
met, not required or without a fixed instant, and never again on a re-run (dsr/breach_escalations.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from dsr import breach_escalations, jobs
from dsr.models import BreachEscalation, BreachState, Event, OutboundMessage
from dsr.roles import Role, create_staff
from tests.breach_board_kit import make_breach

pytestmark = pytest.mark.django_db

AWARE = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)  # across the EU daylight-saving change (legal-matrix §1.2)
DUE = datetime(2026, 3, 30, 22, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def staff(settings):
    settings.DSR_OPERATOR_TIME_ZONE = "Europe/Berlin"
    settings.DSR_DPO_CONTACT = "dpo-mailbox@example.com"
    create_staff("dana", "dana-dpo-pass", Role.APPROVER, email="dana@staff.example")
    create_staff("otto", "otto-operator-pass", Role.OPERATOR, email="otto@staff.example")
    create_staff("aud", "aud-auditor-pass", Role.AUDITOR, email="aud@staff.example")


def warnings() -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(template="breach_escalation").order_by("created_at", "to"))


def test_the_72_hour_mark_is_escalated_at_24_h_and_at_6_h_once_each_to_the_approvers_and_the_dpo():
    breach = make_breach(aware_at=AWARE)

    assert breach_escalations.escalate(now=DUE - timedelta(hours=24, seconds=1)) == 0  # not yet
    assert warnings() == []

    assert breach_escalations.escalate(now=DUE - timedelta(hours=24)) == 1
    first = warnings()
    assert [m.to for m in first] == ["dana@staff.example", "dpo-mailbox@example.com"]  # not operators, not auditors
    assert first[0].subject_line.startswith(f"[24 h left] Breach {breach.reference}: B-SA due")
    # the due instant in the operator's zone (Berlin is on summer time by then) and in UTC
    assert "Tuesday 31 March 2026, 00:30 CEST (Europe/Berlin)" in first[0].body_text
    assert "Monday 30 March 2026, 22:30 UTC" in first[0].body_text
    assert "24 h 00 min left" in first[0].body_text and "72-hour mark of Art. 33" in first[0].body_text
    assert f"/staff/breaches/{breach.pk}/" in first[0].body_text

    for minutes in (0, 5, 60, 17 * 60):  # the schedule runs every few minutes: nothing more until 6 h
        assert breach_escalations.escalate(now=DUE - timedelta(hours=24) + timedelta(minutes=minutes)) == 0
    assert len(warnings()) == 2

    assert breach_escalations.escalate(now=DUE - timedelta(hours=5, minutes=59)) == 1
    assert breach_escalations.escalate(now=DUE - timedelta(hours=5, minutes=50)) == 0
    assert breach_escalations.escalate(now=DUE - timedelta(minutes=1)) == 0
    assert breach_escalations.escalate(now=DUE + timedelta(hours=1)) == 0  # overdue: the board shows it in red
    assert len(warnings()) == 4
    assert "[6 h left]" in warnings()[-1].subject_line
    assert sorted(BreachEscalation.objects.values_list("threshold", flat=True)) == ["24h", "6h"]
    events = Event.objects.for_object("breach", breach.pk).filter(kind="breach.escalated")
    assert [e.data["threshold"] for e in events.order_by("id")] == ["24h", "6h"]
    assert all(e.data["rule"] == "B-SA" and e.data["recipients"] == 2 for e in events)


def test_met_not_required_and_undue_delay_deadlines_and_closed_breaches_are_not_escalated():
    at = DUE - timedelta(hours=5)
    make_breach(aware_at=AWARE, deadlines=[
        {"rule": "B-SA", "regime": "eu_gdpr", "due_at": DUE, "basis": "72 h", "met_at": AWARE + timedelta(hours=3)},
        {"rule": "UK-BR", "regime": "uk_gdpr", "due_at": DUE, "basis": "72 h", "not_required": True,
         "not_required_reason": "no UK residents in scope"},
        {"rule": "B-DS", "regime": "eu_gdpr", "due_at": None, "basis": "without undue delay"},
    ])
    make_breach(aware_at=AWARE, state=BreachState.CLOSED, closed_at=AWARE + timedelta(hours=30))

    assert breach_escalations.escalate(now=at) == 0
    assert warnings() == [] and not BreachEscalation.objects.exists()


def test_a_breach_entered_late_gets_only_the_nearest_warning_and_every_deadline_its_own():
    # Entered with 5 h left on B-SA: a "24 h left" warning would mislead, so only the 6 h one goes out. Its
    # California deadline (30 days) is far away and gets nothing yet.
    breach = make_breach(aware_at=AWARE, deadlines=[
        {"rule": "B-SA", "regime": "eu_gdpr", "due_at": DUE, "basis": "72 h"},
        {"rule": "UK-BR", "regime": "uk_gdpr", "due_at": DUE, "basis": "72 h", "authority": "ICO"},
        {"rule": "CB-IND", "regime": "us_ca", "due_at": AWARE + timedelta(days=30), "basis": "30 days"},
    ])
    now = DUE - timedelta(hours=5)
    assert breach_escalations.escalate(now=now) == 2
    assert breach_escalations.escalate(now=now + timedelta(minutes=5)) == 0
    assert sorted(BreachEscalation.objects.values_list("deadline__rule", "threshold")) == [("B-SA", "6h"),
                                                                                           ("UK-BR", "6h")]
    assert all(m.subject_line.startswith(f"[6 h left] Breach {breach.reference}") for m in warnings())


def test_a_deadline_moved_later_is_warned_again_for_its_new_due_instant_once():
    breach = make_breach(aware_at=AWARE)
    assert breach_escalations.escalate(now=DUE - timedelta(hours=23)) == 1
    # awareness corrected to 10 hours later: the clock code moves the deadline (dsr/breach_clocks.py)
    breach.deadlines.filter(rule="B-SA").update(due_at=DUE + timedelta(hours=10))
    assert breach_escalations.escalate(now=DUE - timedelta(hours=20)) == 0  # 30 h before the new mark
    assert breach_escalations.escalate(now=DUE - timedelta(hours=13, minutes=55)) == 1  # 23 h 55 before it
    assert breach_escalations.escalate(now=DUE - timedelta(hours=13)) == 0
    assert len(warnings()) == 4 and BreachEscalation.objects.count() == 1
    assert "Tuesday 31 March 2026, 10:30 CEST" in warnings()[-1].body_text


def test_the_warning_and_its_row_commit_together(monkeypatch):
    make_breach(aware_at=AWARE)

    def broken(*args, **kwargs):
        raise RuntimeError("mail queue down")

    monkeypatch.setattr("dsr.emails.queue", broken)
    with pytest.raises(RuntimeError):
        breach_escalations.escalate(now=DUE - timedelta(hours=20))
    assert not BreachEscalation.objects.exists()  # rolled back with the e-mail: the next run tries again
    monkeypatch.undo()
    assert breach_escalations.escalate(now=DUE - timedelta(hours=20)) == 1


def test_the_scheduled_job_sends_the_warnings_and_is_registered_every_few_minutes(
        django_capture_on_commit_callbacks):
    make_breach(aware_at=AWARE)
    with time_machine.travel(DUE - timedelta(hours=23), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        assert jobs.breach_escalations() == "sent=1"
        assert jobs.breach_escalations() == "sent=0"
    func, kind, minutes = jobs.SCHEDULES["dsr.breach_escalations"]
    assert func == "dsr.jobs.breach_escalations" and kind == "I" and minutes <= 10
    jobs.ensure_schedules()
    from django_q.models import Schedule

    assert Schedule.objects.filter(name="dsr.breach_escalations", func=func).exists()
    # delivered through the outbox once the transaction commits (tasks run inline in tests)
    assert sorted(a for m in mail.outbox for a in m.to) == ["dana@staff.example", "dpo-mailbox@example.com"]
