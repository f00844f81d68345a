"""Pauses that cannot launder a breach, the UK clarification clock-stop and the UK "relevant time"
(issue 8 §2; legal-matrix §2.1 pause column, §2.5 UK-DSR, §11.1), on the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from dsr import vault, workflow
from dsr.models import Case, CaseDeadline, CaseState, Event
from dsr.roles import Role, create_staff
from dsr.workflow import WorkflowError

pytestmark = pytest.mark.django_db


def submit(kind: str, regimes: tuple[str, ...], received_at: datetime) -> Case:
    subject = vault.create_subject(actor="t", now=received_at, email=None, account_id=f"acct-{uuid.uuid4().hex}")
    case, _ = workflow.submit_case(kind=kind, regimes=list(regimes), subject=subject, received_at=received_at,
                                   actor="t", now=received_at)
    return case


def due(case: Case, regime: str, purpose: str = "response") -> date:
    return CaseDeadline.objects.get(case=case, regime=regime, purpose=purpose, superseded_at__isnull=True).due_on


def state_of(case: Case) -> tuple:
    case = Case.objects.get(pk=case.pk)
    rows = sorted((r.regime, r.purpose, r.due_on, r.superseded_at) for r in case.deadlines.all())
    return (case.state, case.due_on, case.paused_at, case.pause_reason, case.paused_days, case.uk_paused_days,
            case.uk_relevant_at, rows, Event.objects.count())


def events(case: Case) -> list[Event]:
    return list(Event.objects.for_object("case", case.pk).order_by("id"))


# --- a pause cannot start once the response date has passed (legal-matrix §11.1) ---------------------------


def test_a_pause_after_the_response_date_is_refused_with_the_reason_and_nothing_changes():
    # The case: due 7 April; a pause on 1 May, then resumed, used to move every date to 27 April.
    case = submit("access", ("eu_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    assert case.due_on == date(2026, 4, 7)
    before = state_of(case)
    with pytest.raises(WorkflowError, match=r"response date \(7 Apr 2026, G-ACC\) has passed.*nothing was changed"):
        workflow.pause_case(case, ground="identity", justification="Asked for the account e-mail address.",
                            actor="op", now=datetime(2026, 5, 1, 9, tzinfo=UTC))
    assert state_of(case) == before


def test_a_pause_is_still_possible_late_on_the_response_date_in_the_controllers_zone():
    case = submit("access", ("eu_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    with pytest.raises(WorkflowError, match="has passed"):  # 00:30 on 8 April in Dublin
        workflow.pause_case(case, ground="identity", justification="Asked for the account e-mail address.",
                            actor="op", now=datetime(2026, 4, 7, 23, 30, tzinfo=UTC))
    case = workflow.pause_case(case, ground="identity", justification="Asked for the account e-mail address.",
                               actor="op", now=datetime(2026, 4, 7, 22, 30, tzinfo=UTC))  # 23:30 on 7 April
    assert case.state == CaseState.PAUSED and case.pause_ground == "identity"


def test_after_an_extension_the_extended_date_is_the_one_a_pause_must_precede():
    case = submit("access", ("eu_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    workflow.extend_case(case, reason="Hundreds of photos across linked accounts.", actor="op",
                         now=datetime(2026, 3, 20, 9, tzinfo=UTC))
    case = workflow.pause_case(case, ground="clarification", justification="Asked which accounts are meant.",
                               actor="op", now=datetime(2026, 5, 1, 9, tzinfo=UTC))  # before 5 June
    assert case.state == CaseState.PAUSED


def test_a_ccpa_clock_and_an_immediate_duty_never_pause():
    for kind, regimes, needle in (("access", ("ccpa",), r"§7021\(b\)"),
                                  ("direct_marketing_objection", ("uk_gdpr",), "no pause")):
        case = submit(kind, regimes, datetime(2026, 3, 5, 10, tzinfo=UTC))
        before = state_of(case)
        with pytest.raises(WorkflowError, match=needle):
            workflow.pause_case(case, ground="clarification", justification="Asked what is meant exactly.",
                                actor="op", now=datetime(2026, 3, 6, 9, tzinfo=UTC))
        assert state_of(case) == before


def test_a_pause_needs_a_known_ground():
    case = submit("access", ("eu_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    with pytest.raises(WorkflowError, match="identity, clarification"):
        workflow.pause_case(case, ground="holiday", justification="The team is away this week.", actor="op",
                            now=datetime(2026, 3, 6, 9, tzinfo=UTC))


# --- the UK clock-stop (UK-DSR) ---------------------------------------------------------------------------


def test_the_uk_clock_stop_counts_both_end_days_and_the_eu_pause_the_days_between():
    # Received Thu 5 March 2026: +1 month = Sun 5 April (England: Easter Monday 6th -> Tue 7 April both ways).
    case = submit("access", ("eu_gdpr", "uk_gdpr"), datetime(2026, 3, 5, 10, tzinfo=UTC))
    assert (due(case, "eu_gdpr"), due(case, "uk_gdpr")) == (date(2026, 4, 7), date(2026, 4, 7))
    workflow.pause_case(case, ground="clarification", justification="Asked which of two accounts is meant.",
                        actor="op", now=datetime(2026, 3, 10, 11, tzinfo=UTC))
    case = workflow.resume_case(case, actor="op", now=datetime(2026, 3, 20, 15, tzinfo=UTC))
    # UK: 10 to 20 March, both days = 11 days: Sun 5 April + 11 = Thu 16 April.
    # EU: 10 days: Sun 5 April + 10 = Wed 15 April.
    assert (due(case, "uk_gdpr"), due(case, "eu_gdpr")) == (date(2026, 4, 16), date(2026, 4, 15))
    assert (case.uk_paused_days, case.paused_days) == (11, 10)
    uk = CaseDeadline.objects.get(case=case, regime="uk_gdpr", purpose="response", superseded_at__isnull=True)
    assert "paused 11 calendar days" in uk.basis and "both end days counted" in uk.basis
    assert events(case)[-1].data == {"paused_days": 10, "uk_paused_days": 11, "governing_due_on": "2026-04-15"}


def test_a_uk_clarification_answered_the_same_day_still_stops_the_clock_for_one_day():
    case = submit("access", ("uk_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    workflow.pause_case(case, ground="clarification", justification="Asked which of two accounts is meant.",
                        actor="op", now=datetime(2026, 3, 10, 9, tzinfo=UTC))
    case = workflow.resume_case(case, actor="op", now=datetime(2026, 3, 10, 16, tzinfo=UTC))
    assert due(case, "uk_gdpr") == date(2026, 4, 7)  # Sun 5 April + 1 = Mon 6 April, Easter Monday -> 7 April
    assert case.uk_paused_days == 1


def test_identity_information_does_not_pause_a_uk_clock():
    case = submit("access", ("uk_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    before = state_of(case)
    with pytest.raises(WorkflowError, match="relevant time"):
        workflow.pause_case(case, ground="identity", justification="Asked for proof of the account.", actor="op",
                            now=datetime(2026, 3, 6, 9, tzinfo=UTC))
    assert state_of(case) == before


def test_a_uk_clock_stop_outside_access_requests_needs_a_recorded_legal_basis():
    case = submit("erasure", ("uk_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    before = state_of(case)
    with pytest.raises(WorkflowError, match="legal basis"):
        workflow.pause_case(case, ground="clarification", justification="Asked which photos are meant.",
                            actor="op", now=datetime(2026, 3, 6, 9, tzinfo=UTC))
    assert state_of(case) == before
    basis = "Art 12A(3) read with the controller's policy DP-7: clarification needed to identify the items"
    case = workflow.pause_case(case, ground="clarification", justification="Asked which photos are meant.",
                               legal_basis=basis, actor="op", now=datetime(2026, 3, 6, 9, tzinfo=UTC))
    assert (case.state, case.pause_legal_basis) == (CaseState.PAUSED, basis)
    ev = events(case)[-1]
    assert ev.kind == "case.paused" and ev.data == {"ground": "clarification", "legal_basis_recorded": True}
    assert "DP-7" not in str(ev.data)  # free text stays on the case, never in the audit trail


def test_an_eu_pause_needs_no_legal_basis_and_keeps_none():
    case = submit("erasure", ("eu_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    case = workflow.pause_case(case, ground="clarification", justification="Asked which photos are meant.",
                               legal_basis="ignored for an EU pause", actor="op",
                               now=datetime(2026, 3, 6, 9, tzinfo=UTC))
    assert case.pause_legal_basis == ""
    assert events(case)[-1].data == {"ground": "clarification", "legal_basis_recorded": False}


# --- the UK relevant time (Art 12A) ------------------------------------------------------------------------

UK_RECEIVED = datetime(2026, 3, 3, 10, tzinfo=UTC)  # Tue; due Tue 7 April in England (Good Friday, Easter Monday)


def test_identity_information_received_later_restarts_the_uk_clock_with_its_evidence():
    case = submit("access", ("eu_gdpr", "uk_gdpr"), UK_RECEIVED)
    # Fri 3 April is Good Friday: a bank holiday in England, not a public holiday in Ireland
    assert (due(case, "uk_gdpr"), due(case, "eu_gdpr")) == (date(2026, 4, 7), date(2026, 4, 3))
    asked, arrived, now = (datetime(2026, 3, 4, 9, tzinfo=UTC), datetime(2026, 3, 20, 9, 15, tzinfo=UTC),
                           datetime(2026, 3, 20, 10, tzinfo=UTC))
    case = workflow.record_relevant_time(case, what="identity", requested_at=asked, received_at=arrived,
                                         evidence="Signed-in confirmation from the account, ticket 8812",
                                         actor="op", now=now)
    # UK: 20 March + 1 month = Mon 20 April; the EU clock is untouched (EDPB: no such restart).
    assert (due(case, "uk_gdpr"), due(case, "eu_gdpr")) == (date(2026, 4, 20), date(2026, 4, 3))
    assert due(case, "uk_gdpr", "refusal") == date(2026, 4, 20)
    assert (case.uk_relevant_at, case.uk_relevant_what) == (arrived, "identity")
    assert "ticket 8812" in case.uk_relevant_evidence
    row = CaseDeadline.objects.get(case=case, regime="uk_gdpr", purpose="response", superseded_at__isnull=True)
    assert "relevant time (UK GDPR Art 12A" in row.basis and "2026-03-20 09:15 UTC" in row.basis
    old = CaseDeadline.objects.get(case=case, regime="uk_gdpr", purpose="response", superseded_at__isnull=False)
    assert (old.due_on, old.superseded_at) == (date(2026, 4, 7), now)
    ev = events(case)[-1]
    assert ev.kind == "case.relevant_time_recorded"
    assert ev.data == {"what": "identity", "requested_at": asked.isoformat(), "received_at": arrived.isoformat(),
                       "governing_due_on": "2026-04-03"}


def test_an_extension_after_the_relevant_time_runs_from_it():
    case = submit("access", ("uk_gdpr",), UK_RECEIVED)
    workflow.record_relevant_time(case, what="fee", requested_at=datetime(2026, 3, 4, 9, tzinfo=UTC),
                                  received_at=datetime(2026, 3, 20, 9, tzinfo=UTC),
                                  evidence="Fee for further copies paid by card, receipt R-19",
                                  actor="op", now=datetime(2026, 3, 20, 10, tzinfo=UTC))
    case = workflow.extend_case(case, reason="Many systems hold copies of the photos.", actor="op",
                                now=datetime(2026, 4, 10, 9, tzinfo=UTC))
    # 20 March + 3 months (conservative: min(anchored 20 June, chained 20 April + 2 = 20 June)) = Sat 20 June
    # -> Mon 22 June
    assert due(case, "uk_gdpr", "extended_response") == date(2026, 6, 22)


@pytest.mark.parametrize(
    ("asked", "arrived", "needle"),
    [
        (datetime(2026, 4, 8, 9, tzinfo=UTC), datetime(2026, 4, 9, 9, tzinfo=UTC), "after the UK response date"),
        (datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 9, 9, tzinfo=UTC), "in order"),
        (datetime(2026, 3, 9, 9, tzinfo=UTC), datetime(2026, 3, 8, 9, tzinfo=UTC), "in order"),
        (datetime(2026, 3, 9, 9, tzinfo=UTC), datetime(2026, 5, 9, 9, tzinfo=UTC), "in order"),  # in the future
    ],
)
def test_a_relevant_time_that_would_launder_a_breach_or_is_out_of_order_is_refused(asked, arrived, needle):
    case = submit("access", ("uk_gdpr",), UK_RECEIVED)
    before = state_of(case)
    with pytest.raises(WorkflowError, match=needle):
        workflow.record_relevant_time(case, what="identity", requested_at=asked, received_at=arrived,
                                      evidence="Reply from the account holder, ticket 77",
                                      actor="op", now=datetime(2026, 4, 10, 9, tzinfo=UTC))
    assert state_of(case) == before


def test_a_relevant_time_needs_a_uk_clock_evidence_and_a_later_instant():
    asked, arrived, now = (datetime(2026, 3, 4, 9, tzinfo=UTC), datetime(2026, 3, 20, 9, tzinfo=UTC),
                           datetime(2026, 3, 21, 9, tzinfo=UTC))
    eu = submit("access", ("eu_gdpr",), UK_RECEIVED)
    with pytest.raises(WorkflowError, match="no UK clock"):
        workflow.record_relevant_time(eu, what="identity", requested_at=asked, received_at=arrived,
                                      evidence="Reply from the account holder", actor="op", now=now)
    uk = submit("access", ("uk_gdpr",), UK_RECEIVED)
    with pytest.raises(WorkflowError, match="evidence"):
        workflow.record_relevant_time(uk, what="identity", requested_at=asked, received_at=arrived, evidence=" ",
                                      actor="op", now=now)
    with pytest.raises(WorkflowError, match="what arrived"):
        workflow.record_relevant_time(uk, what="passport", requested_at=asked, received_at=arrived,
                                      evidence="Reply from the account holder", actor="op", now=now)
    workflow.record_relevant_time(uk, what="identity", requested_at=asked, received_at=arrived,
                                  evidence="Reply from the account holder", actor="op", now=now)
    with pytest.raises(WorkflowError, match="latest"):
        workflow.record_relevant_time(uk, what="fee", requested_at=asked, received_at=datetime(2026, 3, 19, tzinfo=UTC),
                                      evidence="Fee paid by card", actor="op", now=now)


# --- the console ---------------------------------------------------------------------------------------------


def test_the_console_offers_no_pause_once_the_date_has_passed_and_records_the_uk_relevant_time():
    operator = create_staff("op-pause", "console-test-pass", Role.OPERATOR)
    client = Client()
    client.force_login(operator)
    late = submit("access", ("eu_gdpr",), datetime(2026, 3, 5, 10, tzinfo=UTC))
    uk = submit("access", ("uk_gdpr",), UK_RECEIVED)
    with time_machine.travel(datetime(2026, 5, 1, 9, tzinfo=UTC), tick=False):
        page = client.get(reverse("staff-case", args=[late.pk])).content.decode()
        assert "The response date has passed" in page and reverse("staff-case-pause", args=[late.pk]) not in page
        response = client.post(reverse("staff-case-pause", args=[late.pk]),
                               {"ground": "identity", "justification": "Asked for the account e-mail."})
        assert response.status_code == 302
        assert Case.objects.get(pk=late.pk).state == CaseState.RECEIVED
    with time_machine.travel(datetime(2026, 3, 21, 9, tzinfo=UTC), tick=False):
        page = client.get(reverse("staff-case", args=[uk.pk])).content.decode()
        assert reverse("staff-case-relevant-time", args=[uk.pk]) in page
        assert 'value="clarification" selected' in page  # a UK clock-stop is for clarification
        client.post(reverse("staff-case-relevant-time", args=[uk.pk]), {
            "what": "identity", "requested_at": "2026-03-04T09:00", "received_at": "2026-03-20T09:00",
            "evidence": "Signed-in confirmation from the account, ticket 8812"})
        page = client.get(reverse("staff-case", args=[uk.pk])).content.decode()
    uk.refresh_from_db()
    assert uk.uk_relevant_at == datetime(2026, 3, 20, 9, tzinfo=UTC)  # UK time is GMT in March
    assert uk.due_on == date(2026, 4, 20)
    assert "UK relevant time" in page and "ticket 8812" in page
