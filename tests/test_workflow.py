"""The rights-request verbs of dsr.workflow on the real database: every date with its rule, extensions,
pauses, verification, refusals, completion, notices and the audit trail (legal-matrix §1, §2.1, §2.3, §11)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from dsr import deadlines, emails, jobs, vault, workflow
from dsr.deadlines import Kind, Purpose, Regime
from dsr.models import Case, CaseDeadline, CaseState, Event, OutboundMessage, Outcome
from dsr.roles import Role, create_staff
from dsr.workflow import WorkflowError

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)  # Thu 5 March 2026: the matrix's worked example
_seq = itertools.count(1)


# --- builders ----------------------------------------------------------------------------------------


def new_subject(email: str | None = "auto", *, account_id: str | None = None, now: datetime = T0):
    if email == "auto":
        email = f"subject{next(_seq)}@example.com"
    return vault.create_subject(actor="t", now=now, email=email, account_id=account_id)


def submit(kind: str = "access", regimes: tuple[str, ...] = ("eu_gdpr",), *, received_at: datetime = T0,
           now: datetime | None = None, subject=None, **kw) -> Case:
    case, created = workflow.submit_case(
        kind=kind, regimes=list(regimes), subject=subject or new_subject(), received_at=received_at,
        actor="t", now=now or received_at + timedelta(hours=1), **kw,
    )
    assert created
    return case


def rows(case: Case, *, current: bool = True) -> set[tuple[str, str, str, date]]:
    qs = CaseDeadline.objects.filter(case=case)
    if current:
        qs = qs.filter(superseded_at__isnull=True)
    return {(r.regime, r.rule, r.purpose, r.due_on) for r in qs}


def row(case: Case, purpose: str, regime: str = "eu_gdpr", *, current: bool = True) -> CaseDeadline:
    qs = CaseDeadline.objects.filter(case=case, purpose=purpose, regime=regime)
    return qs.get(superseded_at__isnull=True) if current else qs.exclude(superseded_at__isnull=True).get()


def case_events(case: Case) -> list[str]:
    return list(Event.objects.for_object("case", case.pk).order_by("id").values_list("kind", flat=True))


def last_event(case: Case, kind: str) -> Event:
    return Event.objects.for_object("case", case.pk).filter(kind=kind).order_by("-id").first()


@contextmanager
def writes_only(*kinds: str) -> Iterator[None]:
    """Exactly these audit events (in order) are written by the block, whatever the object."""
    last = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    yield
    assert list(Event.objects.filter(id__gt=last).order_by("id").values_list("kind", flat=True)) == list(kinds)


@contextmanager
def writes_nothing() -> Iterator[None]:
    with writes_only():
        yield


@pytest.fixture
def alice(db):
    return create_staff("alice", "pw-alice-123", Role.OPERATOR, email="alice@staff.example")


@pytest.fixture
def bob(db):
    return create_staff("bob", "pw-bob-123", Role.APPROVER, email="bob@staff.example")


@pytest.fixture
def sent(django_capture_on_commit_callbacks, mailoutbox):
    """Run a block, then deliver what it queued once its transaction 'commits'; yields the outbox."""

    @contextmanager
    def block() -> Iterator[list]:
        with django_capture_on_commit_callbacks(execute=True):
            yield mailoutbox

    return block


# --- submit_case ------------------------------------------------------------------------------------


def test_submitting_stores_every_statutory_date_with_its_rule_and_basis():
    case = submit("access", ("eu_gdpr",))
    assert rows(case) == {
        ("eu_gdpr", "G-ACC", "response", date(2026, 4, 7)),
        ("eu_gdpr", "G-ACC", "extension_notice", date(2026, 4, 7)),
        ("eu_gdpr", "G-REF", "refusal", date(2026, 4, 7)),
    }
    response = row(case, "response")
    assert response.unrolled_on == date(2026, 4, 5)  # Easter Sunday, rolled past Easter Monday
    assert "Easter Monday" in response.basis and "Reg. 1182/71" in response.basis
    assert all(r.basis and r.created_at == T0 + timedelta(hours=1) for r in case.deadlines.all())
    assert (case.due_on, case.due_rule, case.due_regime) == (date(2026, 4, 7), "G-ACC", "eu_gdpr")
    assert case.state == CaseState.RECEIVED


def test_a_request_under_gdpr_and_ccpa_is_governed_by_the_earliest_response_date():
    case = submit("erasure", ("eu_gdpr", "ccpa"))
    assert rows(case) >= {
        ("eu_gdpr", "G-ERA", "response", date(2026, 4, 7)),
        ("ccpa", "C-ACK", "acknowledgement", date(2026, 3, 19)),
        ("ccpa", "C-DEL", "response", date(2026, 4, 19)),
    }
    assert (case.due_on, case.due_rule, case.due_regime) == (date(2026, 4, 7), "G-ERA", "eu_gdpr")


def test_an_eu_and_uk_request_keeps_both_clocks_and_the_earlier_uk_date_governs():
    # +1 month = Tue 17 March: St Patrick's Day is a public holiday in Ireland, not in England.
    case = submit("access", ("eu_gdpr", "uk_gdpr"), received_at=datetime(2026, 2, 17, 10, tzinfo=UTC))
    assert row(case, "response", "eu_gdpr").due_on == date(2026, 3, 18)
    assert row(case, "response", "uk_gdpr").due_on == date(2026, 3, 17)
    assert row(case, "response", "uk_gdpr").rule == "UK-DSR"
    assert (case.due_on, case.due_rule, case.due_regime) == (date(2026, 3, 17), "UK-DSR", "uk_gdpr")
    assert {r.purpose for r in case.deadlines.filter(regime="uk_gdpr")} == {"response", "extension_notice",
                                                                           "refusal"}


@pytest.mark.parametrize(("kind", "rule"), [("opt_out_sale_sharing", "C-OPT"), ("limit_sensitive", "C-LIM")])
def test_an_opt_out_or_limit_request_is_due_in_15_business_days_with_no_other_date(kind, rule):
    case = submit(kind, ("ccpa",))
    assert rows(case) == {("ccpa", rule, "response", date(2026, 3, 26))}
    assert (case.due_on, case.due_rule) == (date(2026, 3, 26), rule)
    assert "15 business days" in row(case, "response", "ccpa").basis


def test_a_direct_marketing_objection_is_suppressed_on_the_day_of_receipt_and_cannot_be_refused(alice):
    case = submit("direct_marketing_objection", ("eu_gdpr",))
    assert rows(case) == {
        ("eu_gdpr", "G-DM", "suppression", date(2026, 3, 5)),
        ("eu_gdpr", "G-DM", "response", date(2026, 4, 7)),
    }
    assert case.due_on == date(2026, 4, 7)  # the suppression is a duty of its own, not the SLA
    now = T0 + timedelta(days=1)
    with writes_nothing():
        with pytest.raises(WorkflowError, match="absolute"):
            workflow.refuse_case(case, ground="other", reason="We would rather keep marketing.", actor=alice,
                                 now=now)
        with pytest.raises(WorkflowError, match="no extension"):
            workflow.extend_case(case, reason="Too many requests this month", actor=alice, now=now)
        with pytest.raises(WorkflowError, match="no pause"):
            workflow.pause_case(case, ground="identity",
                                justification="Awaiting clarification from requester", actor=alice,
                                now=now)
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED
    workflow.complete_case(case, actor=alice, now=now)
    assert row(case, "suppression").met_at == now


def test_if_the_acknowledgement_cannot_be_queued_nothing_of_the_case_remains():
    subject = new_subject()
    events_before = Event.objects.count()
    with (
        mock.patch("dsr.emails.queue", side_effect=RuntimeError("mail template broken")),
        pytest.raises(RuntimeError),
    ):
        workflow.submit_case(kind="access", regimes=["eu_gdpr", "ccpa"], subject=subject, received_at=T0,
                             actor="t", now=T0)
    assert Case.objects.count() == 0
    assert CaseDeadline.objects.count() == 0
    assert OutboundMessage.objects.count() == 0
    assert Event.objects.count() == events_before
    assert not Event.objects.filter(kind__startswith="case.").exists()


def test_submitting_writes_the_submitted_event_with_the_governing_date_and_acknowledges(sent):
    with sent() as outbox:
        case = submit("access", ("eu_gdpr",), subject=new_subject("ack@example.com"))
    assert case_events(case) == ["case.submitted", "case.acknowledged"]
    ev = last_event(case, "case.submitted")
    assert ev.data["governing_due_on"] == "2026-04-07" and ev.data["governing_rule"] == "G-ACC"
    assert [m.to for m in outbox] == [["ack@example.com"]]
    assert case.reference in outbox[0].subject and "7 April 2026" in outbox[0].body


# --- extend_case ------------------------------------------------------------------------------------


def test_a_gdpr_extension_adds_two_months_conservatively_and_notifies_the_address_on_file(alice, sent):
    received = datetime(2026, 1, 31, 10, tzinfo=UTC)  # Sat; +1 month clamps to Sat 28 Feb -> Mon 2 March
    case = submit("access", ("eu_gdpr",), received_at=received, subject=new_subject("ext@example.com"))
    assert case.due_on == date(2026, 3, 2)
    now = datetime(2026, 2, 10, 9, tzinfo=UTC)
    reason = "Several hundred photos across three linked accounts must be reviewed."
    with sent() as outbox:
        outbox.clear()
        with writes_only("case.extended"):
            case = workflow.extend_case(case, reason=reason, actor=alice, now=now)
    # anchored receipt + 3 months = 30 April; chained 28 Feb + 2 months = 28 April; the earlier wins.
    extended = row(case, "extended_response")
    assert extended.due_on == date(2026, 4, 28) and extended.rule == "G-ACC"
    assert "conservative" in extended.basis
    assert (case.due_on, case.due_rule, case.state) == (date(2026, 4, 28), "G-ACC", CaseState.EXTENDED)
    assert case.extension_reason == reason and case.extended_at == now
    assert row(case, "extension_notice").met_at == now
    # the initial response date is history now: kept, superseded, no longer current
    old = row(case, "response", current=False)
    assert (old.due_on, old.superseded_at) == (date(2026, 3, 2), now)
    assert {r.purpose for r in workflow.current_deadlines(case)} == {"extended_response", "extension_notice",
                                                                     "refusal"}
    assert case.deadlines.count() == 4
    [mail] = outbox
    assert mail.to == ["ext@example.com"]
    assert reason in mail.body and "28 April 2026" in mail.body
    assert "2 March 2026" not in mail.body  # the superseded date is not offered as an answer date
    assert last_event(case, "case.extended").data == {"governing_due_on": "2026-04-28",
                                                      "governing_rule": "G-ACC", "notice_sent": True}


def test_a_ccpa_extension_adds_45_days_to_90_in_total(alice):
    case = submit("access", ("ccpa",))
    assert case.due_on == date(2026, 4, 19)
    case = workflow.extend_case(case, reason="Data spread across archived storage.", actor=alice,
                                now=datetime(2026, 4, 1, 16, tzinfo=UTC))
    assert row(case, "extended_response", "ccpa").due_on == date(2026, 6, 3)
    assert (case.due_on, case.due_rule, case.due_regime) == (date(2026, 6, 3), "C-KNOW", "ccpa")


def test_an_eu_and_ccpa_extension_moves_the_governing_date_to_the_earlier_extended_date(alice):
    case = submit("erasure", ("eu_gdpr", "ccpa"))
    case = workflow.extend_case(case, reason="Backups and processors must be covered.", actor=alice,
                                now=T0 + timedelta(days=3))
    assert row(case, "extended_response", "eu_gdpr").due_on == date(2026, 6, 5)
    assert row(case, "extended_response", "ccpa").due_on == date(2026, 6, 3)
    assert (case.due_on, case.due_regime) == (date(2026, 6, 3), "ccpa")


@pytest.mark.parametrize("reason", ["", "   ", "busy"])
def test_an_extension_needs_a_reason(alice, reason):
    case = submit()
    with writes_nothing(), pytest.raises(WorkflowError, match="reason"):
        workflow.extend_case(case, reason=reason, actor=alice, now=T0 + timedelta(days=1))
    case.refresh_from_db()
    assert case.extended_at is None and case.due_on == date(2026, 4, 7)


def test_an_extension_is_allowed_on_the_initial_due_date_but_not_the_day_after(alice):
    # Due Tue 7 April 2026, end of day in Dublin (IST, UTC+1).
    late, on_time = submit(), submit()
    with writes_nothing(), pytest.raises(WorkflowError, match="has passed"):
        workflow.extend_case(late, reason="Complex request, many systems.", actor=alice,
                             now=datetime(2026, 4, 7, 23, 30, tzinfo=UTC))  # 00:30 on 8 April in Dublin
    workflow.extend_case(on_time, reason="Complex request, many systems.", actor=alice,
                         now=datetime(2026, 4, 7, 22, 30, tzinfo=UTC))  # 23:30 on 7 April in Dublin
    on_time.refresh_from_db()
    assert on_time.due_on == date(2026, 6, 5)


def test_a_case_can_be_extended_only_once(alice):
    case = workflow.extend_case(submit(), reason="Complex request, many systems.", actor=alice,
                                now=T0 + timedelta(days=1))
    with writes_nothing(), pytest.raises(WorkflowError, match="already extended"):
        workflow.extend_case(case, reason="Still more systems to search.", actor=alice, now=T0 + timedelta(days=2))
    assert case.deadlines.filter(purpose="extended_response").count() == 1


@pytest.mark.parametrize(
    ("kind", "regime"),
    [("opt_out_sale_sharing", "ccpa"), ("limit_sensitive", "ccpa"), ("direct_marketing_objection", "eu_gdpr")],
)
def test_opt_out_limit_and_direct_marketing_requests_cannot_be_extended(alice, kind, regime):
    case = submit(kind, (regime,))
    with writes_nothing(), pytest.raises(WorkflowError, match=f"no extension exists for this kind under {regime}"):
        workflow.extend_case(case, reason="We are very busy this month.", actor=alice, now=T0 + timedelta(days=1))
    assert not case.deadlines.filter(purpose="extended_response").exists()


# --- pause / resume -----------------------------------------------------------------------------------


@pytest.mark.parametrize("regimes", [("ccpa",), ("eu_gdpr", "ccpa")])
def test_a_case_with_a_ccpa_clock_cannot_be_paused(alice, regimes):
    case = submit("access", regimes)
    with writes_nothing(), pytest.raises(WorkflowError, match=r"§7021\(b\)"):
        workflow.pause_case(case, ground="identity", justification="Waiting for identity information.", actor=alice,
                            now=T0 + timedelta(days=1))
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED and case.paused_at is None


def test_a_ten_day_pause_moves_the_response_date_by_ten_days_then_to_a_working_day(alice):
    case = submit("access", ("eu_gdpr",), received_at=datetime(2026, 3, 16, 10, tzinfo=UTC))
    assert case.due_on == date(2026, 4, 16)  # Thu
    workflow.request_verification(case, actor=alice, now=datetime(2026, 3, 17, 9, tzinfo=UTC))
    paused_at = datetime(2026, 3, 20, 9, tzinfo=UTC)
    with writes_only("case.paused"):
        case = workflow.pause_case(case, ground="identity", justification="Asked the requester to confirm the account.",
                                   actor=alice, now=paused_at)
    assert case.state == CaseState.PAUSED and case.due_on == date(2026, 4, 16)
    resumed_at = datetime(2026, 3, 30, 15, tzinfo=UTC)
    with writes_only("case.resumed"):
        case = workflow.resume_case(case, actor=alice, now=resumed_at)
    # 16 April + 10 days = Sun 26 April -> Mon 27 April
    response = row(case, "response")
    assert (response.due_on, response.unrolled_on) == (date(2026, 4, 27), date(2026, 4, 26))
    assert "paused 10 calendar days" in response.basis
    assert (case.due_on, case.state, case.paused_days) == (date(2026, 4, 27), CaseState.AWAITING_VERIFICATION, 10)
    old = row(case, "response", current=False)
    assert (old.due_on, old.superseded_at) == (date(2026, 4, 16), resumed_at)
    assert case.deadlines.filter(superseded_at__isnull=False).count() == 3  # response, notice, refusal
    assert case_events(case)[-2:] == ["case.paused", "case.resumed"]
    assert last_event(case, "case.resumed").data == {"paused_days": 10, "governing_due_on": "2026-04-27"}


def test_a_pause_needs_a_justification_and_a_paused_case_must_be_resumed_before_it_moves_on(alice):
    case = submit()
    now = T0 + timedelta(days=1)
    with writes_nothing(), pytest.raises(WorkflowError, match="justification"):
        workflow.pause_case(case, ground="identity", justification="", actor=alice, now=now)
    workflow.pause_case(case, ground="identity",
                        justification="Asked for the account e-mail address.", actor=alice, now=now)
    with writes_nothing():
        with pytest.raises(WorkflowError, match="already paused"):
            workflow.pause_case(case, ground="identity",
                                justification="Asked for the account e-mail address.", actor=alice,
                                now=now)
        with pytest.raises(WorkflowError, match="resume"):
            workflow.extend_case(case, reason="Complex request, many systems.", actor=alice, now=now)
        with pytest.raises(WorkflowError, match="resume"):
            workflow.complete_case(case, actor=alice, now=now)
    workflow.resume_case(case, actor=alice, now=now + timedelta(days=2))
    with pytest.raises(WorkflowError, match="not paused"):
        workflow.resume_case(case, actor=alice, now=now + timedelta(days=3))


def test_an_extension_after_a_pause_keeps_the_paused_days(alice):
    case = submit("access", ("eu_gdpr",), received_at=datetime(2026, 3, 16, 10, tzinfo=UTC))
    workflow.pause_case(case, ground="identity",
                        justification="Asked the requester to confirm the account.", actor=alice,
                        now=datetime(2026, 3, 20, 9, tzinfo=UTC))
    workflow.resume_case(case, actor=alice, now=datetime(2026, 3, 30, 9, tzinfo=UTC))
    case = workflow.extend_case(case, reason="Complex request, many systems.", actor=alice,
                                now=datetime(2026, 4, 20, 9, tzinfo=UTC))  # after 16 April, before 27 April
    # 16 June + 10 days = Fri 26 June
    assert case.due_on == date(2026, 6, 26)


# --- verification --------------------------------------------------------------------------------------


def test_verifying_identity_records_the_method_and_who_and_starts_the_work(alice):
    case = submit()
    with writes_only("case.verification_requested"):
        case = workflow.request_verification(case, actor=alice, now=T0 + timedelta(hours=2))
    assert case.state == CaseState.AWAITING_VERIFICATION
    now = T0 + timedelta(days=1)
    with writes_only("case.identity_verified"):
        case = workflow.verify_identity(case, method="email_code", actor=alice, now=now)
    case.refresh_from_db()
    assert (case.verified_at, case.verification_method, case.verified_by) == (now, "email_code", alice)
    assert case.state == CaseState.IN_PROGRESS
    ev = last_event(case, "case.identity_verified")
    assert ev.actor == f"staff:{alice.pk}" and ev.data == {"method": "email_code"}
    with pytest.raises(WorkflowError, match="already verified"):
        workflow.verify_identity(case, method="account_reauth", actor=alice, now=now)


def test_an_unknown_verification_method_is_refused(alice):
    case = submit()
    with writes_nothing(), pytest.raises(WorkflowError, match="unknown verification method"):
        workflow.verify_identity(case, method="passport_scan", actor=alice, now=T0 + timedelta(days=1))
    case.refresh_from_db()
    assert case.verified_at is None


def test_not_required_is_a_verification_only_for_opt_out_and_limit_requests(alice):
    now = T0 + timedelta(days=1)
    access = submit("access", ("ccpa",))
    with writes_nothing(), pytest.raises(WorkflowError, match="required for this kind"):
        workflow.verify_identity(access, method="not_required", actor=alice, now=now)
    for kind in ("opt_out_sale_sharing", "limit_sensitive"):
        case = workflow.verify_identity(submit(kind, ("ccpa",)), method="not_required", actor=alice, now=now)
        assert case.state == CaseState.IN_PROGRESS


def test_verification_cannot_be_requested_for_an_opt_out(alice):
    case = submit("opt_out_sale_sharing", ("ccpa",))
    with writes_nothing(), pytest.raises(WorkflowError, match="C-OPT"):
        workflow.request_verification(case, actor=alice, now=T0 + timedelta(days=1))
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED


# --- refuse_case ---------------------------------------------------------------------------------------

REASON = "The photos are evidence in pending litigation about the account."


@pytest.mark.parametrize(
    ("kind", "regimes", "ground", "fits"),
    [
        ("erasure", ("eu_gdpr",), "art17_3_e_legal_claims", True),
        ("access", ("eu_gdpr",), "art17_3_e_legal_claims", False),
        ("access", ("eu_gdpr",), "art15_4_rights_of_others", True),
        ("erasure", ("ccpa",), "ccpa_exempt", True),
        ("erasure", ("eu_gdpr",), "ccpa_exempt", False),
        ("erasure", ("ccpa",), "art17_3_e_legal_claims", False),
        ("erasure", ("eu_gdpr", "ccpa"), "ccpa_exempt", True),
        ("opt_out_sale_sharing", ("ccpa",), "ccpa_unverifiable", False),
        ("opt_out_sale_sharing", ("ccpa",), "ccpa_fraud", True),
        ("access", ("eu_gdpr",), "no_such_ground", False),
    ],
)
def test_a_refusal_ground_must_fit_the_kind_and_the_regime(alice, kind, regimes, ground, fits):
    case = submit(kind, regimes)
    now = T0 + timedelta(days=2)
    if fits:
        with writes_only("case.refused"):
            case = workflow.refuse_case(case, ground=ground, reason=REASON, actor=alice, now=now)
        assert (case.state, case.outcome, case.refusal_ground) == (CaseState.REFUSED, Outcome.DENIED, ground)
        assert case.closed_at == now == case.substantive_response_at
    else:
        with writes_nothing(), pytest.raises(WorkflowError, match="does not apply"):
            workflow.refuse_case(case, ground=ground, reason=REASON, actor=alice, now=now)
        case.refresh_from_db()
        assert case.state == CaseState.RECEIVED


def test_a_refusal_needs_a_reason(alice):
    case = submit("erasure")
    with writes_nothing(), pytest.raises(WorkflowError, match="reason"):
        workflow.refuse_case(case, ground="art17_3_e_legal_claims", reason=" ", actor=alice, now=T0)
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED


def test_an_art_12_5_refusal_needs_the_request_marked_unfounded_with_a_justification_first(alice):
    case = submit()
    now = T0 + timedelta(days=3)
    with writes_nothing():
        with pytest.raises(WorkflowError, match="mark the request"):
            workflow.refuse_case(case, ground="art12_5_unfounded", reason=REASON, actor=alice, now=now)
        with pytest.raises(WorkflowError, match="30 characters"):
            workflow.mark_unfounded(case, which="unfounded", justification="Seems unfounded.", actor=alice,
                                    now=now)
        with pytest.raises(WorkflowError, match="unfounded' or 'excessive"):
            workflow.mark_unfounded(case, which="annoying", justification="x" * 40, actor=alice, now=now)
    justification = "Requester states the purpose is to disrupt service; 40 identical requests this week."
    with writes_only("case.marked_unfounded"):
        workflow.mark_unfounded(case, which="unfounded", justification=justification, actor=alice, now=now)
    case.refresh_from_db()
    assert case.is_open and case.unfounded_justification == justification
    with pytest.raises(WorkflowError, match="mark the request"):
        workflow.refuse_case(case, ground="art12_5_excessive", reason=REASON, actor=alice, now=now)
    case = workflow.refuse_case(case, ground="art12_5_unfounded", reason=REASON, actor=alice, now=now)
    assert case.state == CaseState.REFUSED


def test_the_refusal_notice_gives_the_reasons_and_the_rights_to_complain_and_to_a_judicial_remedy(alice, sent):
    case = submit("erasure", subject=new_subject("refused@example.com"))
    with sent() as outbox:
        outbox.clear()
        workflow.refuse_case(case, ground="art17_3_e_legal_claims", reason=REASON, actor=alice,
                             now=T0 + timedelta(days=4))
    [mail] = outbox
    assert mail.to == ["refused@example.com"] and case.reference in mail.subject
    assert REASON in mail.body and "Article 17(3)(e) (EU GDPR)" in mail.body
    assert "complaint with a supervisory authority" in mail.body and "Data Protection Commission" in mail.body
    assert "judicial remedy" in mail.body
    html = mail.alternatives[0][0]
    assert "supervisory authority" in html and "judicial remedy" in html
    assert all(r.met_at for r in case.deadlines.filter(purpose__in=["response", "refusal"]))


def test_the_text_part_of_a_notice_shows_the_reason_verbatim_and_the_html_part_escapes_it(alice, sent):
    case = submit("erasure", subject=new_subject("quotes@example.com"))
    reason = 'O\'Brien & Co\'s claim "<b>2026/17</b>" is pending in court.'
    with sent() as outbox:
        workflow.refuse_case(case, ground="art17_3_e_legal_claims", reason=reason, actor=alice, now=T0)
    mail = outbox[-1]
    assert reason in mail.body and "&amp;" not in mail.body and "&#x27;" not in mail.body
    html = mail.alternatives[0][0]
    assert "<b>2026/17</b>" not in html and "&lt;b&gt;2026/17&lt;/b&gt;" in html and "O&#x27;Brien &amp; Co" in html


def test_a_refusal_after_the_refusal_date_is_flagged_in_the_event(alice):
    timely, late = submit("erasure"), submit("erasure")
    workflow.refuse_case(timely, ground="art17_3_e_legal_claims", reason=REASON, actor=alice,
                         now=datetime(2026, 4, 7, 12, tzinfo=UTC))
    assert last_event(timely, "case.refused").data["after_refusal_deadline"] == []
    # extended to June, but Art. 12(4) gives no extension for a refusal: still 7 April
    workflow.extend_case(late, reason="Complex request, many systems.", actor=alice, now=T0 + timedelta(days=5))
    workflow.refuse_case(late, ground="art17_3_e_legal_claims", reason=REASON, actor=alice,
                         now=datetime(2026, 4, 20, 12, tzinfo=UTC))
    assert last_event(late, "case.refused").data == {"ground": "art17_3_e_legal_claims",
                                                     "after_refusal_deadline": ["G-REF"]}


def test_a_closed_case_cannot_change_any_more(alice, bob):
    case = submit("erasure")
    case = workflow.refuse_case(case, ground="art17_3_e_legal_claims", reason=REASON, actor=alice,
                                now=T0 + timedelta(days=1))
    now = T0 + timedelta(days=2)
    attempts = [
        lambda: workflow.extend_case(case, reason="Complex request, many systems.", actor=alice, now=now),
        lambda: workflow.pause_case(case, ground="identity",
                                    justification="Awaiting more information.", actor=alice, now=now),
        lambda: workflow.verify_identity(case, method="email_code", actor=alice, now=now),
        lambda: workflow.request_verification(case, actor=alice, now=now),
        lambda: workflow.refuse_case(case, ground="other", reason=REASON, actor=alice, now=now),
        lambda: workflow.complete_case(case, actor=alice, now=now),
        lambda: workflow.cancel_case(case, reason="Withdrawn by requester", actor=alice, now=now),
        lambda: workflow.assign_case(case, assignee=bob, actor=alice, now=now),
        lambda: workflow.record_acknowledgement(case, channel="phone", actor=alice, now=now),
        lambda: workflow.mark_unfounded(case, which="excessive", justification="x" * 40, actor=alice, now=now),
        lambda: workflow.request_forced_erasure(case, reason="Depicted person without account", actor=alice,
                                                now=now),
        lambda: workflow.approve_forced_erasure(case, actor=bob, now=now),
    ]
    with writes_nothing():
        for attempt in attempts:
            with pytest.raises(WorkflowError, match="can no longer change"):
                attempt()
        with pytest.raises(WorkflowError, match="not paused"):
            workflow.resume_case(case, actor=alice, now=now)
    case.refresh_from_db()
    assert (case.state, case.outcome, case.assignee) == (CaseState.REFUSED, Outcome.DENIED, None)


# --- complete_case ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rectification"])  # access/portability: tests/test_exports.py; erasure:
# tests/test_erasure.py
def test_a_request_about_personal_data_cannot_be_completed_before_identity_is_verified(alice, kind):
    case = submit(kind)
    with writes_nothing(), pytest.raises(WorkflowError, match="verify the requester's identity first"):
        workflow.complete_case(case, actor=alice, now=T0 + timedelta(days=1))
    workflow.verify_identity(case, method="account_reauth", actor=alice, now=T0 + timedelta(days=1))
    with writes_only("case.completed"):
        case = workflow.complete_case(case, actor=alice, now=T0 + timedelta(days=2))
    assert (case.state, case.outcome) == (CaseState.COMPLETED, Outcome.COMPLIED_FULL)
    assert last_event(case, "case.completed").data == {"outcome": "complied_full", "forced": False}


def test_a_forced_erasure_needs_a_second_person_and_is_recorded_as_forced(alice, bob, sent):
    case = submit("erasure", subject=new_subject("depicted@example.com"))
    now = T0 + timedelta(days=1)
    with writes_nothing(), pytest.raises(WorkflowError, match="second person"):
        workflow.complete_case(case, actor=alice, now=now)
    with writes_nothing(), pytest.raises(WorkflowError, match="no forced erasure was requested"):
        workflow.approve_forced_erasure(case, actor=bob, now=now)
    with writes_only("case.forced_erasure_requested"):
        workflow.request_forced_erasure(case, reason="Person only appears in another user's photos.",
                                        actor=alice, now=now)
    with writes_nothing(), pytest.raises(WorkflowError, match="second person"):
        workflow.approve_forced_erasure(case, actor=alice, now=now)
    with writes_nothing(), pytest.raises(WorkflowError, match="verify the requester's identity first"):
        workflow.complete_case(case, actor=alice, now=now)  # requested is not approved
    with writes_only("case.forced_erasure_approved"):
        workflow.approve_forced_erasure(case, actor=bob, now=now + timedelta(hours=1))
    case.refresh_from_db()
    assert (case.forced_erasure_requested_by, case.forced_erasure_approved_by) == (alice, bob)
    # From here the erasure cascade takes over and completes the case itself (tests/test_erasure.py).
    with writes_nothing(), pytest.raises(WorkflowError, match="completes by itself"):
        workflow.complete_case(case, actor=alice, now=now + timedelta(hours=2))


def test_forced_erasure_is_only_for_erasure_requests_and_needs_a_reason(alice):
    with pytest.raises(WorkflowError, match="only erasure"):
        workflow.request_forced_erasure(submit("access"), reason="Person only appears in photos.", actor=alice,
                                        now=T0)
    with pytest.raises(WorkflowError, match="reason"):
        workflow.request_forced_erasure(submit("erasure"), reason="because", actor=alice, now=T0)


def test_partial_compliance_needs_a_note_which_the_completion_email_carries(alice, sent):
    case = submit("rectification", subject=new_subject("partial@example.com"))
    workflow.verify_identity(case, method="account_reauth", actor=alice, now=T0 + timedelta(days=1))
    now = T0 + timedelta(days=2)
    with writes_nothing():
        with pytest.raises(WorkflowError, match="what was not complied with"):
            workflow.complete_case(case, outcome=Outcome.COMPLIED_PARTIAL, note="", actor=alice, now=now)
        with pytest.raises(WorkflowError, match="outcome must be"):
            workflow.complete_case(case, outcome=Outcome.DENIED, actor=alice, now=now)
    note = "Faces of two other people in group photos were blurred (Art. 15(4))."
    with sent() as outbox:
        outbox.clear()
        case = workflow.complete_case(case, outcome=Outcome.COMPLIED_PARTIAL, note=note, actor=alice, now=now)
    assert (case.outcome, case.refusal_reason) == (Outcome.COMPLIED_PARTIAL, note)
    [mail] = outbox
    assert mail.to == ["partial@example.com"]
    assert note in mail.body and "supervisory authority" in mail.body and "judicial remedy" in mail.body
    assert all(r.met_at == now for r in case.deadlines.filter(purpose__in=["response", "refusal"]))


def test_a_full_completion_email_says_the_request_is_complete(alice, sent):
    case = submit("opt_out_sale_sharing", ("ccpa",), subject=new_subject("optout@example.com"))
    with sent() as outbox:
        outbox.clear()
        workflow.complete_case(case, actor=alice, now=T0 + timedelta(days=3))  # no verification (C-OPT)
    [mail] = outbox
    assert mail.subject == f"Your request {case.reference} is complete"
    assert "could not be met" not in mail.body


# --- cancel, assign, acknowledge --------------------------------------------------------------------------


def test_cancelling_closes_the_case_with_its_reason(alice):
    case = submit()
    with writes_nothing(), pytest.raises(WorkflowError, match="reason"):
        workflow.cancel_case(case, reason="", actor=alice, now=T0)
    now = T0 + timedelta(days=1)
    with writes_only("case.cancelled"):
        case = workflow.cancel_case(case, reason="Withdrawn by the requester by e-mail", actor=alice, now=now)
    assert (case.state, case.closed_at, case.refusal_reason) == (CaseState.CANCELLED, now,
                                                                 "Withdrawn by the requester by e-mail")
    assert not case.is_open and not Case.objects.open().filter(pk=case.pk).exists()


def test_assigning_records_the_assignee_and_unassigning_clears_it(alice, bob):
    case = submit()
    with writes_only("case.assigned"):
        case = workflow.assign_case(case, assignee=bob, actor=alice, now=T0)
    assert case.assignee == bob and last_event(case, "case.assigned").data == {"assignee": bob.pk}
    with writes_only("case.assigned"):
        case = workflow.assign_case(case, assignee=None, actor=alice, now=T0)
    case.refresh_from_db()
    assert case.assignee is None and last_event(case, "case.assigned").data == {"assignee": None}


def test_a_subject_without_an_address_gets_no_mail_and_receipt_is_recorded_by_hand(alice, sent):
    subject = new_subject(None, account_id="acct-phone-1")
    with sent() as outbox:
        case = submit("access", ("ccpa",), subject=subject, channel="phone")
    assert outbox == [] and not OutboundMessage.objects.exists()
    assert case_events(case) == ["case.submitted", "case.acknowledgement_pending"]
    assert last_event(case, "case.acknowledgement_pending").data == {"reason": "no_address_on_file"}
    ack = row(case, "acknowledgement", "ccpa")
    assert (ack.rule, ack.due_on, ack.met_at) == ("C-ACK", date(2026, 3, 19), None)
    assert case.acknowledged_at is None
    now = T0 + timedelta(days=2)
    with writes_only("case.acknowledged"):
        case = workflow.record_acknowledgement(case, channel="phone", actor=alice, now=now)
    assert case.acknowledged_at == now and row(case, "acknowledgement", "ccpa").met_at == now
    assert last_event(case, "case.acknowledged").data == {"channel": "phone"}
    with pytest.raises(WorkflowError, match="already acknowledged"):
        workflow.record_acknowledgement(case, channel="post", actor=alice, now=now)


def test_an_acknowledgement_by_email_meets_the_c_ack_date_at_submission():
    now = T0 + timedelta(hours=1)
    case = submit("erasure", ("ccpa",), now=now)
    assert case.acknowledged_at == now and row(case, "acknowledgement", "ccpa").met_at == now


# --- the outbox ----------------------------------------------------------------------------------------------


class ExplodingBackend(BaseEmailBackend):
    """A mail server that refuses every recipient, naming the address in its error."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError(f"relay refused <{email_messages[0].to[0]}>")


def test_delivering_a_message_twice_sends_it_once(mailoutbox):
    case = submit(subject=new_subject("twice@example.com"))  # outbox: the acknowledgement, not yet sent
    message = OutboundMessage.objects.get(case=case)
    assert message.sent_at is None
    assert emails.deliver(str(message.pk)) is True
    assert emails.deliver(str(message.pk)) is False
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["twice@example.com"]
    message.refresh_from_db()
    assert message.sent_at is not None and message.attempts == 1
    assert jobs.deliver_message(str(message.pk)) == "not sent" and len(mailoutbox) == 1


def test_a_failing_mail_backend_keeps_the_message_queued_until_the_reconciler_sends_it(settings, mailoutbox,
                                                                                        sent):
    settings.EMAIL_BACKEND = f"{__name__}.ExplodingBackend"
    with sent():
        case = submit(subject=new_subject("bounce@example.com"), now=T0)
    message = OutboundMessage.objects.get(case=case)
    assert message.sent_at is None and message.attempts == 1
    assert message.last_error == "ConnectionRefusedError"
    assert "@" not in message.last_error and "bounce" not in message.last_error
    assert emails.deliver(str(message.pk)) is False
    message.refresh_from_db()
    assert message.attempts == 2 and message.sent_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        assert jobs.redeliver_messages() == "sent=0 of 0"  # too fresh: its own task may still be running
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        assert jobs.redeliver_messages() == "sent=1 of 1"
        assert jobs.redeliver_messages() == "sent=0 of 0"
    message.refresh_from_db()
    assert message.sent_at is not None and message.attempts == 3 and message.last_error == ""
    assert [m.to for m in mailoutbox] == [["bounce@example.com"]]


# --- the audit trail ------------------------------------------------------------------------------------------


def test_every_verb_writes_exactly_one_event_of_its_own_kind_and_the_chain_verifies(alice, bob):
    subject = new_subject("long@example.com")
    t = itertools.count(1)

    def at() -> datetime:
        return T0 + timedelta(hours=next(t))

    with writes_only("case.submitted", "case.acknowledged"):
        case = submit("erasure", ("eu_gdpr",), subject=subject, now=at())
    steps = [
        ("assigned", lambda c: workflow.assign_case(c, assignee=alice, actor=bob, now=at())),
        ("verification_requested", lambda c: workflow.request_verification(c, actor=alice, now=at())),
        ("paused", lambda c: workflow.pause_case(c, ground="identity",
                                                 justification="Asked for the account e-mail.", actor=alice,
                                                 now=at())),
        ("resumed", lambda c: workflow.resume_case(c, actor=alice, now=at() + timedelta(days=3))),
        ("extended", lambda c: workflow.extend_case(c, reason="Photos held by three processors.", actor=alice,
                                                    now=at() + timedelta(days=3))),
        ("marked_unfounded", lambda c: workflow.mark_unfounded(
            c, which="excessive", justification="Fifth identical request this month from this account.",
            actor=alice, now=at() + timedelta(days=3))),
        ("forced_erasure_requested", lambda c: workflow.request_forced_erasure(
            c, reason="Requester cannot sign in any more; photos show them.", actor=alice,
            now=at() + timedelta(days=3))),
        ("forced_erasure_approved", lambda c: workflow.approve_forced_erasure(c, actor=bob,
                                                                              now=at() + timedelta(days=3))),
        ("identity_verified", lambda c: workflow.verify_identity(c, method="email_code", actor=alice,
                                                                 now=at() + timedelta(days=3))),
        ("cancelled", lambda c: workflow.cancel_case(c, reason="Withdrawn by the requester", actor=alice,
                                                     now=at() + timedelta(days=3))),
    ]
    for verb, step in steps:
        with writes_only(f"case.{verb}"):
            case = step(case)
    other = submit("access", ("ccpa",), subject=new_subject(None, account_id="acct-long"), now=at())
    with writes_only("case.acknowledged"):
        workflow.record_acknowledgement(other, channel="post", actor=alice, now=at())
    with writes_only("case.refused"):
        workflow.refuse_case(other, ground="ccpa_unverifiable", reason="Could not verify within 45 days.",
                             actor=alice, now=at())
    third = submit("rectification", ("uk_gdpr",), now=at())
    with writes_only("case.identity_verified"):
        workflow.verify_identity(third, method="email_code", actor=alice, now=at())
    with writes_only("case.completed"):
        workflow.complete_case(third, actor=alice, now=at())
    assert case_events(case) == ["case.submitted", "case.acknowledged"] + [f"case.{v}" for v, _ in steps]
    assert all(e.object_type == "case" and e.subject_ref == subject.reference
               for e in Event.objects.for_object("case", case.pk))
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "audit chain intact" in out.getvalue()


def test_no_event_carries_the_subjects_address_or_the_free_text(alice):
    case = submit("erasure", subject=new_subject("secret.person@example.com"))
    workflow.refuse_case(case, ground="art17_3_e_legal_claims", reason=REASON, actor=alice, now=T0)
    for ev in Event.objects.for_object("case", case.pk):
        blob = repr(ev.data)
        assert "secret.person" not in blob and "litigation" not in blob


# --- property: the governing date -------------------------------------------------------------------------------

_KIND_REGIMES = [
    (kind, tuple(r.value for r in Regime if deadlines.supports(r, kind))) for kind in Kind
]


@st.composite
def requests(draw):
    kind, possible = draw(st.sampled_from(_KIND_REGIMES))
    regimes = draw(st.lists(st.sampled_from(possible), min_size=1, max_size=len(possible), unique=True))
    received = draw(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31),
                                 timezones=st.sampled_from([UTC, ZoneInfo("America/Los_Angeles"),
                                                            ZoneInfo("Pacific/Kiritimati")])))
    return kind.value, regimes, received


@hsettings(max_examples=25, deadline=None, database=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(requests())
def test_the_stored_governing_date_is_the_earliest_response_date_and_never_before_receipt(request_):
    kind, regimes, received = request_
    case = submit(kind, tuple(regimes), received_at=received, now=received + timedelta(minutes=5))
    case.refresh_from_db()
    stored = [workflow.due_from_row(r, case.kind) for r in case.deadlines.all()]
    gov = deadlines.governing(stored)
    assert case.due_on == gov.due_on and gov.purpose is Purpose.RESPONSE
    assert case.due_on == min(d.due_on for d in stored if d.purpose is Purpose.RESPONSE)
    # on a tie between regimes any of the tied response rows may be named as the governing one
    assert (case.due_rule, case.due_regime) in {(d.rule, d.regime.value) for d in stored
                                                if d.purpose is Purpose.RESPONSE and d.due_on == case.due_on}
    for d in stored:
        assert d.due_on >= workflow.local_today(received, d.regime)
    assert case.due_on > workflow.local_today(received, case.due_regime)
    pure = deadlines.governing(deadlines.due_dates_for_case(regimes, kind, received, workflow.clock_options()))
    assert pure.due_on == case.due_on


def test_an_opt_out_is_never_verified_with_a_real_identity_check(alice):
    case = submit("opt_out_sale_sharing", ("ccpa",))
    with writes_nothing(), pytest.raises(WorkflowError, match="must not be verified"):
        workflow.verify_identity(case, method="email_code", actor=alice, now=T0 + timedelta(days=1))
    workflow.verify_identity(case, method="not_required", actor=alice, now=T0 + timedelta(days=1))


def test_a_consent_withdrawal_cannot_be_refused(alice):
    case = submit("consent_withdrawal")
    with writes_nothing(), pytest.raises(WorkflowError, match="cannot be refused"):
        workflow.refuse_case(case, ground="other", reason="We would rather keep processing.", actor=alice,
                             now=T0 + timedelta(days=1))


def test_an_operator_without_the_approver_role_cannot_approve_a_forced_erasure(alice):
    other_operator = create_staff("carol", "carol-pass-123456", Role.OPERATOR)
    case = submit("erasure")
    workflow.request_forced_erasure(case, reason="Person only appears in another user's photos.", actor=alice,
                                    now=T0 + timedelta(days=1))
    with writes_nothing(), pytest.raises(WorkflowError, match="only an approver"):
        workflow.approve_forced_erasure(case, actor=other_operator, now=T0 + timedelta(days=1))


def test_verification_can_still_be_requested_after_an_extension(alice):
    case = submit("access")
    workflow.extend_case(case, reason="Many systems to search for this request.", actor=alice,
                         now=T0 + timedelta(days=2))
    case = workflow.request_verification(case, actor=alice, now=T0 + timedelta(days=3))
    assert case.state == CaseState.AWAITING_VERIFICATION
