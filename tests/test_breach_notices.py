"""The Art. 34 communication to each affected person (B-DS; checklists §10.3, §10.7): what it says, in which
language and layout, sent in batches with a status per person, never twice on retry or after a kill."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from dsr import breach_notices, emails, jobs, steps
from dsr.breach_notices import BreachInputError, notice_progress, start_subject_notices
from dsr.holders import _erase_breaches
from dsr.models import Event, OutboundMessage, PortalFiling, Step, StepRun
from dsr.models.breaches import BreachAffected, Exception34, RiskLevel
from tests import breach_kit
from tests.breach_mail import FaultyBackend, Killed

NOW = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
State = BreachAffected.NoticeState
pytestmark = pytest.mark.django_db

FAULTY = "tests.breach_mail.FaultyBackend"
LOCMEM_LEDGER = "dsr.breach_notices.locmem_ledger"


@pytest.fixture(autouse=True)
def unpaced(settings):
    settings.DSR_BREACH_NOTICE_RATE = 0
    settings.DSR_DPO_NAME = "Dr. Dana Schutz"
    settings.DSR_DPO_CONTACT = "dpo@photos.example, +353 1 555 0100"
    settings.DSR_CONTROLLER_NAME = "Example Photo Platform Ltd"
    settings.DSR_CONTROLLER_CONTACT = "privacy@photos.example, 1 Example Street, Dublin"
    settings.DSR_BASE_URL = "https://privacy.photos.example"


def run_all(run: StepRun) -> StepRun:
    with time_machine.travel(NOW, tick=False):
        steps.advance(run.pk)
    run.refresh_from_db()
    return run


def delivered_to() -> Counter[str]:
    return Counter(m.to[0] for m in mail.outbox)


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_every_affected_person_gets_one_dedicated_notice_with_every_art34_item():
    b = breach_kit.breach()
    people = breach_kit.affect(b, 3, residence="IE", prefix="ie")
    run = run_all(start_subject_notices(b, actor="staff:alice", now=NOW))

    assert run.state == "done"
    assert delivered_to() == Counter({f"ie.{i}@example.com": 1 for i in range(3)})
    message = mail.outbox[0]
    assert message.subject == f"Important: a security incident involving your personal data ({b.reference})"
    assert message.extra_headers["Message-ID"].endswith("@privacy.photos.example>")
    html = message.alternatives[0][0]
    for body in (one_line(message.body), one_line(html)):
        # 1. nature of the breach, in plain language, with the facts and the dates
        assert "Someone who was not allowed to could see or copy some of your data." in body
        assert breach_kit.FACTS in body
        assert "between 20 March 2026 and 27 March 2026" in body and "We found out on 27 March 2026" in body
        assert "photos you uploaded or that show you" in body and "a biometric template" in body
        assert "The data was not encrypted." in body
        # 2. the DPO's name and contact details
        assert "Dr. Dana Schutz: dpo@photos.example, +353 1 555 0100" in body
        # 3. likely consequences: for face data, what someone could do with it
        assert "pretend to be you" in body and "(impersonation)" in body
        assert "(deepfakes)" in body and "face-search service" in body and "face unlock" in body
        assert breach_kit.CONSEQUENCES in body
        # 4. measures taken or proposed
        assert breach_kit.MEASURES in body and breach_kit.ACTION in body
        # 5. specific advice: impersonation, removal through the takedown portal, passwords
        assert "Watch for fake profiles" in body
        assert "ask for them to be removed" in body and "https://privacy.photos.example/takedown/" in body
        assert "Change your password" in body
        assert breach_kit.ADVICE in body
        # 6. other services that use the same face as an authenticator (1798.82, §10.3 item 6)
        assert "tell that company or service that data about your face may have been exposed" in body
        # a dedicated message
        assert "This message is only about this incident; it is not a newsletter" in body
        assert b.reference in body
    # §10.3 item 8: recipients, channel, timestamp logged per person
    for row in BreachAffected.objects.filter(pk__in=[p.pk for p in people]):
        assert (row.notice_state, row.notice_channel, row.notice_attempts, row.notice_error) == (
            State.SENT, "email", 1, "")
        assert row.notice_sent_at is not None
    assert OutboundMessage.objects.filter(template="breach_notice", sent_at__isnull=False).count() == 3
    assert notice_progress(b)["sent"] == 3


def test_without_face_data_the_face_advice_is_left_out():
    b = breach_kit.breach(categories=["ip_log"], types=["availability"])
    breach_kit.affect(b, 1, residence="FR")
    run_all(start_subject_notices(b, actor="staff:alice", now=NOW))
    body = one_line(mail.outbox[0].body)
    assert "Some of your data was lost or could not be reached for a time." in body
    assert "records of the internet (IP) addresses you used" in body
    assert "deepfakes" not in body and "face unlock" not in body and "Change your password" not in body


def test_people_are_written_to_in_their_language_german_from_the_portal_or_their_residence():
    b = breach_kit.breach()
    (austrian,) = breach_kit.affect(b, 1, residence="AT", prefix="at")
    (irish,) = breach_kit.affect(b, 1, residence="IE", prefix="ie")
    (german_on_portal,) = breach_kit.affect(b, 1, residence="", prefix="portal")
    PortalFiling.objects.create(fingerprint="f" * 64, choice="access", kind="access", country="DE",
                                email="portal.0@example.com", language="de", subject=german_on_portal.subject,
                                created_at=NOW)
    run_all(start_subject_notices(b, actor="staff:alice", now=NOW))

    by_to = {m.to[0]: m for m in mail.outbox}
    for address in ("at.0@example.com", "portal.0@example.com"):
        german = by_to[address]
        assert german.subject.startswith("Wichtig: ein Sicherheitsvorfall")
        body = one_line(german.body)
        assert "Was ist passiert?" in body and "Was Sie tun können" in body
        assert "zwischen dem 20. März 2026 und dem 27. März 2026" in body
        assert "(Deepfakes)" in body and "unseren Datenschutzbeauftragten" not in body  # a DPO name is set
        assert "Dr. Dana Schutz: dpo@photos.example" in body
    assert by_to["ie.0@example.com"].subject.startswith("Important:")
    assert irish.subject_id != austrian.subject_id


def test_california_residents_get_the_notice_of_data_breach_layout_with_every_heading():
    b = breach_kit.breach(law_enforcement_delay=False)
    breach_kit.affect(b, 1, residence="US-CA", prefix="ca")
    run_all(start_subject_notices(b, actor="staff:alice", now=NOW))

    (message,) = mail.outbox
    assert message.subject == f"Notice of Data Breach — Example Photo Platform Ltd ({b.reference})"
    for body in (message.body, message.alternatives[0][0]):
        flat = one_line(body)
        assert "Notice of Data Breach".lower() in flat.lower()
        headings = ["What Happened", "What Information Was Involved", "What We Are Doing", "What You Can Do",
                    "For More Information"]
        positions = [flat.index(h) for h in headings]
        assert positions == sorted(positions)  # §10.7 item 1: the five headings, in this order
        assert "What This Could Mean For You" not in flat  # no extra heading in the statutory layout
        # 2. the notifying business and its contact; 3. types of PI; 4. dates; 5. law enforcement; 6. description
        assert "Example Photo Platform Ltd · privacy@photos.example, 1 Example Street, Dublin" in flat
        assert "face data: measurements computed from your face" in flat
        assert "between 20 March 2026 and 27 March 2026" in flat and "Date of this notice: 28 March 2026" in flat
        assert "This notice was not delayed because of a law-enforcement investigation." in flat
        assert breach_kit.FACTS in flat
        # 7./8. no SSN or ID numbers were involved (so no credit-bureau or ID-theft service paragraphs)
        assert "No Social Security numbers, driver's license or California identification card numbers" in flat
        # 9. biometric: how to tell others who use the same face as an authenticator
        assert "stop relying on your face alone" in flat


def test_notices_go_out_in_batches_with_a_status_per_person(settings):
    settings.DSR_BREACH_NOTICE_BATCH = 2
    b = breach_kit.breach()
    breach_kit.affect(b, 5)
    run = start_subject_notices(b, actor="staff:alice", now=NOW)
    assert [s.name for s in run.steps.order_by("seq")] == ["batch-00001", "batch-00002", "batch-00003", "finish"]
    assert set(BreachAffected.objects.filter(breach=b).values_list("notice_state", flat=True)) == {State.PENDING}

    with time_machine.travel(NOW, tick=False):
        step, token = steps._claim(run.pk, now=NOW)
        assert steps._execute(step, token)
    assert notice_progress(b)["sent"] == 2 and notice_progress(b)["pending"] == 3
    run_all(run)
    evidence = [s.evidence for s in run.steps.order_by("seq")]
    assert [e["claimed"] for e in evidence[:3]] == [2, 2, 1]
    assert [e["sent"] for e in evidence[:3]] == [2, 2, 1]
    assert evidence[3]["sent"] == 5 and evidence[3]["extra_rounds"] == 0
    assert len(mail.outbox) == 5 and len(delivered_to()) == 5
    assert Event.objects.filter(kind="breach.notices_batch", object_id=str(b.pk)).count() == 3


def test_a_retry_after_a_failure_in_the_middle_of_a_batch_sends_nobody_twice(settings):
    settings.EMAIL_BACKEND = FAULTY
    settings.DSR_MAIL_LEDGER = LOCMEM_LEDGER
    FaultyBackend.reset(fail_on={3})  # the provider drops the connection at the third message
    b = breach_kit.breach()
    breach_kit.affect(b, 5, prefix="r")
    run = run_all(start_subject_notices(b, actor="staff:alice", now=NOW))

    batch = run.steps.get(name="batch-00001")
    assert batch.state == "pending" and "SMTPServerDisconnected" in batch.last_error
    assert notice_progress(b)["sent"] == 2 and len(mail.outbox) == 2
    third = BreachAffected.objects.get(breach=b, subject__email="r.2@example.com")
    assert (third.notice_state, third.notice_error, third.notice_attempts) == (
        State.PENDING, "send_error:SMTPServerDisconnected", 1)

    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):  # after the back-off
        steps.advance(run.pk)
    run.refresh_from_db()
    assert run.state == "done"
    assert delivered_to() == Counter({f"r.{i}@example.com": 1 for i in range(5)})
    third.refresh_from_db()
    assert (third.notice_state, third.notice_attempts) == (State.SENT, 2)
    assert set(BreachAffected.objects.filter(breach=b).values_list("notice_state", flat=True)) == {State.SENT}


def test_a_refused_recipient_is_failed_and_the_batch_goes_on(settings):
    settings.EMAIL_BACKEND = FAULTY
    FaultyBackend.reset(refuse_on={2})
    b = breach_kit.breach()
    breach_kit.affect(b, 3, prefix="x")
    run = run_all(start_subject_notices(b, actor="staff:alice", now=NOW))
    assert run.state == "done"
    refused = BreachAffected.objects.get(breach=b, subject__email="x.1@example.com")
    assert (refused.notice_state, refused.notice_error) == (State.FAILED, "refused")
    assert "example.com" not in refused.notice_error
    assert notice_progress(b)["sent"] == 2


@pytest.mark.parametrize("group", [1, 20])
@pytest.mark.parametrize("moment", ["kill_before", "kill_after"])
def test_a_worker_killed_around_a_send_leaves_it_in_doubt_and_the_ledger_settles_it_exactly_once(
        settings, moment, group):
    settings.EMAIL_BACKEND = FAULTY
    settings.DSR_MAIL_LEDGER = LOCMEM_LEDGER
    settings.DSR_BREACH_NOTICE_GROUP = group
    FaultyBackend.reset(**{moment: {3}})
    b = breach_kit.breach()
    breach_kit.affect(b, 5, prefix="k")
    run = start_subject_notices(b, actor="staff:alice", now=NOW)
    with time_machine.travel(NOW, tick=False), pytest.raises(Killed):
        steps.advance(run.pk)
    # Nothing after the kill point was recorded: the message being sent (its whole group) is in flight.
    in_flight = OutboundMessage.objects.filter(last_error=breach_notices.IN_FLIGHT, sent_at__isnull=True)
    expected = ["k.2@example.com"] if group == 1 else [f"k.{i}@example.com" for i in range(5)]
    assert sorted(in_flight.values_list("to", flat=True)) == expected
    delivered_before = 3 if moment == "kill_after" else 2
    assert len(mail.outbox) == delivered_before

    Step.objects.filter(run=run).update(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))  # the lease runs out
    run_all(run)
    assert run.state == "done"
    assert delivered_to() == Counter({f"k.{i}@example.com": 1 for i in range(5)})
    assert set(BreachAffected.objects.filter(breach=b).values_list("notice_state", flat=True)) == {State.SENT}
    evidence = run.steps.get(name="batch-00001").evidence
    assert evidence["in_doubt_sent"] == (delivered_before if group > 1 else int(moment == "kill_after"))


def test_without_a_ledger_an_in_doubt_notice_is_held_for_the_operator_not_sent_again(settings, monkeypatch):
    b, held = _one_held_in_doubt(settings, monkeypatch, "kill_after")
    assert delivered_to() == Counter({f"h.{i}@example.com": 1 for i in range(3)})
    assert (held.notice_state, held.notice_error) == (State.FAILED, "in_doubt")
    assert notice_progress(b)["in_doubt"] == 1


def _one_held_in_doubt(settings, monkeypatch, moment: str):
    """Three people; the worker is killed around the second send with no ledger to ask: h.1 is held in doubt."""
    settings.EMAIL_BACKEND = FAULTY
    FaultyBackend.reset(**{moment: {2}})
    monkeypatch.setattr(breach_notices, "ledger", lambda: None)
    b = breach_kit.breach()
    breach_kit.affect(b, 3, prefix="h")
    run = start_subject_notices(b, actor="staff:alice", now=NOW)
    with time_machine.travel(NOW, tick=False), pytest.raises(Killed):
        steps.advance(run.pk)
    Step.objects.filter(run=run).update(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
    run_all(run)
    assert notice_progress(b)["in_doubt"] == 1
    return b, BreachAffected.objects.get(breach=b, subject__email="h.1@example.com")


def test_the_operator_records_a_notice_in_doubt_as_delivered_and_nothing_is_sent_again(settings, monkeypatch):
    b, held = _one_held_in_doubt(settings, monkeypatch, "kill_after")  # the provider did accept it
    sent_before = len(mail.outbox)
    later = NOW + timedelta(hours=2)
    assert breach_notices.resolve_in_doubt(b, decision="delivered", reason="Provider log: accepted 09:00:03 UTC",
                                           actor="staff:dana", now=later) == 1
    held.refresh_from_db()
    assert (held.notice_state, held.notice_error, held.notice_sent_at) == (State.SENT, "", later)
    message = OutboundMessage.objects.get(pk=breach_notices.message_id(b.pk, held.subject_id))
    assert message.sent_at == later and message.last_error == ""
    assert len(mail.outbox) == sent_before and delivered_to()["h.1@example.com"] == 1
    assert notice_progress(b)["in_doubt"] == 0 and notice_progress(b)["sent"] == 3
    event = Event.objects.get(kind="breach.notices_in_doubt_resolved")
    assert (event.actor, event.data["decision"], event.data["count"]) == ("staff:dana", "delivered", 1)
    assert event.data["reason"] == "Provider log: accepted 09:00:03 UTC"


def test_a_notice_in_doubt_the_provider_never_accepted_is_sent_again_once(settings, monkeypatch):
    b, held = _one_held_in_doubt(settings, monkeypatch, "kill_before")  # killed before the provider saw it
    assert delivered_to()["h.1@example.com"] == 0
    assert breach_notices.resolve_in_doubt(b, decision="resend", reason="Not in the provider's log",
                                           actor="staff:dana", now=NOW) == 1
    run = breach_notices.active_run(b)  # a new sending job, started by the resolution
    assert run is not None
    run_all(run)
    assert delivered_to() == Counter({f"h.{i}@example.com": 1 for i in range(3)})
    held.refresh_from_db()
    assert held.notice_state == State.SENT
    again = [m for m in mail.outbox if m.to == ["h.1@example.com"]][0]
    assert again.extra_headers["Message-ID"].startswith(f"<{breach_notices.message_id(b.pk, held.subject_id)}@")


@pytest.mark.parametrize(("decision", "reason", "field"), [("maybe", "checked", "decision"),
                                                            ("delivered", "  ", "reason")])
def test_resolving_in_doubt_notices_needs_a_decision_and_what_was_checked(settings, monkeypatch, decision, reason,
                                                                          field):
    b, held = _one_held_in_doubt(settings, monkeypatch, "kill_after")
    with pytest.raises(BreachInputError) as refused:
        breach_notices.resolve_in_doubt(b, decision=decision, reason=reason, actor="staff:dana", now=NOW)
    assert field in refused.value.errors
    held.refresh_from_db()
    assert (held.notice_state, held.notice_error) == (State.FAILED, "in_doubt")
    assert not Event.objects.filter(kind="breach.notices_in_doubt_resolved").exists()


def test_with_nothing_in_doubt_there_is_nothing_to_resolve():
    b = breach_kit.breach()
    with pytest.raises(BreachInputError, match="No notice of this breach is in doubt"):
        breach_notices.resolve_in_doubt(b, decision="delivered", reason="x", actor="staff:dana", now=NOW)


def test_people_without_an_address_are_failed_no_address_and_counted_for_a_public_notice():
    b = breach_kit.breach()
    breach_kit.affect(b, 2, prefix="with")
    breach_kit.affect(b, 3, email=False)
    run = run_all(start_subject_notices(b, actor="staff:alice", now=NOW))
    assert len(mail.outbox) == 2
    progress = notice_progress(b)
    assert (progress["sent"], progress["failed"], progress["no_address"]) == (2, 3, 3)
    assert run.steps.get(name="batch-00001").evidence["no_address"] == 3


@pytest.mark.parametrize(("change", "field"), [
    ({"risk_level": RiskLevel.RISK}, "risk_level"),
    ({"risk_level": ""}, "risk_level"),
    ({"exception_34_3": Exception34.UNINTELLIGIBLE}, "exception_34_3"),
    ({"exception_34_3": Exception34.DISPROPORTIONATE}, "exception_34_3"),
    ({"scope_computed_at": None, "scope_version": 0}, "scope"),
])
def test_notices_are_refused_unless_the_risk_is_high_no_exception_applies_and_the_scope_is_stored(change, field):
    b = breach_kit.breach(**change)
    breach_kit.affect(b, 2)
    with pytest.raises(BreachInputError) as refused:
        start_subject_notices(b, actor="staff:alice", now=NOW)
    assert field in refused.value.errors
    assert not StepRun.objects.filter(kind="breach_notices").exists()
    assert set(BreachAffected.objects.filter(breach=b).values_list("notice_state", flat=True)) == {State.NOT_DUE}


def test_starting_twice_returns_the_running_run_and_people_out_of_scope_are_not_told():
    b = breach_kit.breach()
    breach_kit.affect(b, 2, prefix="in")
    (out,) = breach_kit.affect(b, 1, prefix="out")
    BreachAffected.objects.filter(pk=out.pk).update(in_scope=False)
    first = start_subject_notices(b, actor="staff:alice", now=NOW)
    assert start_subject_notices(b, actor="staff:bob", now=NOW) == first
    assert StepRun.objects.filter(kind="breach_notices").count() == 1
    run_all(first)
    assert set(delivered_to()) == {"in.0@example.com", "in.1@example.com"}
    assert BreachAffected.objects.get(pk=out.pk).notice_state == State.NOT_DUE
    started = Event.objects.get(kind="breach.notices_started")
    assert started.data["queued"] == 2 and "example.com" not in str(started.data)


def test_the_outbox_reconciler_never_delivers_a_breach_notice_itself(settings):
    settings.EMAIL_BACKEND = FAULTY
    FaultyBackend.reset(kill_before={1})
    b = breach_kit.breach()
    breach_kit.affect(b, 1)
    run = start_subject_notices(b, actor="staff:alice", now=NOW)
    with time_machine.travel(NOW, tick=False), pytest.raises(Killed):
        steps.advance(run.pk)
    message = OutboundMessage.objects.get(template="breach_notice")
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        assert jobs.redeliver_messages() == "sent=0 of 0"
        assert emails.deliver(str(message.pk)) is False
    assert mail.outbox == []


def test_erasing_a_person_removes_their_notice_from_the_outbox():
    b = breach_kit.breach()
    (row,) = breach_kit.affect(b, 1)
    run_all(start_subject_notices(b, actor="staff:alice", now=NOW))
    assert OutboundMessage.objects.filter(template="breach_notice").count() == 1
    assert _erase_breaches(row.subject) == {"breach_notices": 1, "breach_notice_messages": 1}
    assert not OutboundMessage.objects.filter(template="breach_notice").exists()


def test_sending_is_paced_to_the_providers_rate(settings):
    settings.DSR_BREACH_NOTICE_RATE = 1200  # one message every 50 ms
    b = breach_kit.breach()
    breach_kit.affect(b, 9)
    run = start_subject_notices(b, actor="staff:alice", now=NOW)
    started = time.monotonic()
    run_all(run)
    assert len(mail.outbox) == 9
    assert time.monotonic() - started >= 8 * 0.05
