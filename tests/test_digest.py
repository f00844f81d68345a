"""The daily digest: operators and approvers hear about overdue and at-risk cases, once a day."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_q.models import Schedule

from dsr import digest, jobs, vault, workflow
from dsr.models import Case, OutboundMessage
from dsr.roles import Role, create_staff

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 15, 7, 0, tzinfo=UTC)  # Wed 15 April 2026, the digest hour
_seq = itertools.count(1)


def file_case(received: datetime, kind: str = "access", regimes: tuple[str, ...] = ("eu_gdpr",)) -> Case:
    subject = vault.create_subject(actor="t", now=received, email=f"digest-subject{next(_seq)}@example.com")
    case, _ = workflow.submit_case(kind=kind, regimes=list(regimes), subject=subject, received_at=received,
                                   actor="t", now=received)
    return case


@pytest.fixture
def staff(db):
    return {
        "operator": create_staff("olga", "pw-olga-123", Role.OPERATOR, email="olga@staff.example"),
        "approver": create_staff("dpo", "pw-dpo-1234", Role.APPROVER, email="dpo@staff.example"),
        "auditor": create_staff("audrey", "pw-audrey-12", Role.AUDITOR, email="audrey@staff.example"),
        "no_address": create_staff("nomail", "pw-nomail-12", Role.OPERATOR),
        "inactive": create_staff("gone", "pw-gone-1234", Role.OPERATOR, email="gone@staff.example",
                                 is_active=False),
    }


@pytest.fixture
def cases(db):
    overdue = file_case(datetime(2026, 3, 10, 10, tzinfo=UTC))  # due Fri 10 April
    at_risk = file_case(datetime(2026, 3, 16, 10, tzinfo=UTC))  # due Thu 16 April, within 5 days
    fine = file_case(datetime(2026, 4, 13, 10, tzinfo=UTC))  # due Wed 13 May
    closed = file_case(datetime(2026, 3, 2, 10, tzinfo=UTC))  # was due 2 April, but it is closed
    workflow.cancel_case(closed, reason="Withdrawn by requester", actor="t", now=datetime(2026, 3, 3, tzinfo=UTC))
    return {"overdue": overdue, "at_risk": at_risk, "fine": fine, "closed": closed}


def digests() -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(template="digest").order_by("to"))


def test_the_digest_goes_once_to_every_operator_and_approver_with_an_address(staff, cases, settings):
    assert digest.send_digest(now=NOW) == 2
    messages = digests()
    assert [m.to for m in messages] == ["dpo@staff.example", "olga@staff.example"]  # no auditor, no blanks
    base = settings.DSR_BASE_URL.rstrip("/")
    for m in messages:
        assert m.case is None and m.created_at == NOW
        assert m.subject_line == "dsr: 1 overdue, 1 at risk (15 Apr 2026)"
        for key in ("overdue", "at_risk"):
            c = cases[key]
            assert c.reference in m.body_text and c.reference in m.body_html
            assert f"{base}/staff/cases/{c.pk}/" in m.body_text
            assert f'href="{base}/staff/cases/{c.pk}/"' in m.body_html
        for key in ("fine", "closed"):
            assert cases[key].reference not in m.body_text and cases[key].reference not in m.body_html
        overdue_part, at_risk_part = m.body_text.split("At risk")
        assert cases["overdue"].reference in overdue_part and "10 Apr 2026 (G-ACC)" in overdue_part
        assert cases["at_risk"].reference in at_risk_part and "16 Apr 2026" in at_risk_part


def test_the_digest_is_delivered_by_mail_after_commit(staff, cases, django_capture_on_commit_callbacks,
                                                      mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        digest.send_digest(now=NOW)
    assert sorted(m.to[0] for m in mailoutbox) == ["dpo@staff.example", "olga@staff.example"]
    assert all(cases["overdue"].reference in m.body for m in mailoutbox)


def test_nothing_is_queued_when_nothing_needs_attention(staff):
    file_case(datetime(2026, 4, 13, 10, tzinfo=UTC))
    assert digest.send_digest(now=NOW) == 0
    assert digests() == []


def test_a_case_due_today_is_at_risk_and_becomes_overdue_the_day_after(staff):
    case = file_case(datetime(2026, 3, 16, 10, tzinfo=UTC))  # due Thu 16 April
    assert digest.send_digest(now=datetime(2026, 4, 16, 7, tzinfo=UTC)) == 2
    assert "1 overdue" not in digests()[0].subject_line and case.reference in digests()[0].body_text
    assert digest.send_digest(now=datetime(2026, 4, 17, 7, tzinfo=UTC)) == 2
    latest = OutboundMessage.objects.filter(template="digest").order_by("-created_at").first()
    assert latest.subject_line.startswith("dsr: 1 overdue, 0 at risk")


def test_a_second_run_on_the_same_day_does_not_send_the_digest_again(staff, cases):
    # django-q2's ORM broker delivers at least once: the scheduled job may run twice.
    assert digest.send_digest(now=NOW) == 2
    assert digest.send_digest(now=NOW + timedelta(hours=3)) == 0
    assert len(digests()) == 2
    assert digest.send_digest(now=NOW + timedelta(days=1)) == 2
    assert len(digests()) == 4


def test_the_daily_digest_job_runs_at_the_current_time(staff, cases):
    with time_machine.travel(NOW, tick=False):
        assert jobs.daily_digest() == "queued=2"
        assert jobs.daily_digest() == "queued=0"
    assert len(digests()) == 2


def test_ensure_schedules_creates_the_daily_digest_schedule_once(settings):
    settings.DSR_DIGEST_HOUR_UTC = 7
    with time_machine.travel(datetime(2026, 4, 15, 9, 30, tzinfo=UTC), tick=False):
        jobs.ensure_schedules()
        jobs.ensure_schedules()
    schedule = Schedule.objects.get(name="dsr.daily_digest")
    assert Schedule.objects.filter(name="dsr.daily_digest").count() == 1
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == ("dsr.jobs.daily_digest", Schedule.DAILY, -1)
    assert schedule.next_run == datetime(2026, 4, 16, 7, 0, tzinfo=UTC)  # 07:00 today has passed
