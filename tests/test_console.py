"""The operator console: who may do what, the queue, the case page, and that every change goes through a verb."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import connection
from django.forms.models import model_to_dict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from dsr import erasure, vault, workflow
from dsr.models import Case, CaseState, Event, Holding, OutboundMessage
from dsr.roles import Role, create_staff

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
PASSWORD = "console-test-pass"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def users() -> dict[str, User]:
    return {
        "operator": create_staff("op", PASSWORD, Role.OPERATOR),
        "approver": create_staff("dpo", PASSWORD, Role.APPROVER),
        "auditor": create_staff("aud", PASSWORD, Role.AUDITOR),
        "norole": User.objects.create_user("nobody", password=PASSWORD),
        "requester": create_staff("op2", PASSWORD, Role.OPERATOR),
    }


def client_for(user: User | None, **kw: Any) -> Client:
    client = Client(**kw)
    if user is not None:
        client.force_login(user)
    return client


def file_case(kind: str = "access", regimes: tuple[str, ...] = ("eu_gdpr",), *, received_at: datetime = RECEIVED,
              email: str | None = "", account_id: str | None = None, details: str = "") -> Case:
    if email == "":
        email = f"s{uuid.uuid4().hex[:10]}@example.com"
    subject = vault.create_subject(actor="t", now=received_at, email=email, account_id=account_id)
    case, _ = workflow.submit_case(kind=kind, regimes=list(regimes), subject=subject, received_at=received_at,
                                   actor="t", now=received_at, details=details)
    return case


def _plus_refusal_event(before: tuple[dict[str, Any], int, int, int]) -> tuple[dict[str, Any], int, int, int]:
    """A refused action changes nothing but the audit trail, which gains the refusal (a staff.forbidden event)."""
    return (before[0], before[1] + 1, before[2], before[3])


def snapshot(case: Case) -> tuple[dict[str, Any], int, int, int]:
    case = Case.objects.get(pk=case.pk)
    return (model_to_dict(case), Event.objects.count(), OutboundMessage.objects.count(), case.deadlines.count())


def flashes(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def events_of(case: Case) -> list[str]:
    return list(Event.objects.for_object("case", case.pk).values_list("kind", flat=True))


# --- the permission matrix ---------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    kind: str = "access"
    data: Callable[[dict[str, User]], dict[str, str]] = lambda users: {}
    setup: Callable[[Case, dict[str, User]], None] = lambda case, users: None
    no_email: bool = False
    event: str = ""
    changed: Callable[[Case, dict[str, User]], bool] = lambda case, users: True
    approvers_only: bool = False
    regimes: tuple[str, ...] = ("eu_gdpr",)


def _pause(case: Case, users: dict[str, User]) -> None:
    workflow.pause_case(case, ground="identity", justification="Awaiting the requester's answer", actor="t", now=NOW)


def _verify(case: Case, users: dict[str, User]) -> None:
    workflow.verify_identity(case, method="email_code", actor=users["requester"], now=NOW)


def _force(case: Case, users: dict[str, User]) -> None:
    workflow.request_forced_erasure(case, reason="Appears only in another user's photo", actor=users["requester"],
                                    now=NOW)


def _approve_erasure(case: Case, users: dict[str, User]) -> None:
    _verify(case, users)
    erasure.approve_erasure(case, actor=users["requester"], now=NOW)


ENDPOINTS = [
    Endpoint("staff-case-assign", data=lambda u: {"assignee": str(u["requester"].pk)}, event="case.assigned",
             changed=lambda c, u: c.assignee_id == u["requester"].pk),
    Endpoint("staff-case-request-verification", event="case.verification_requested",
             changed=lambda c, u: c.state == CaseState.AWAITING_VERIFICATION),
    Endpoint("staff-case-verify", data=lambda u: {"method": "email_code"}, event="case.identity_verified",
             changed=lambda c, u: c.verified_at is not None and c.verification_method == "email_code"),
    Endpoint("staff-case-acknowledge", no_email=True, data=lambda u: {"channel": "phone"}, event="case.acknowledged",
             changed=lambda c, u: c.acknowledged_at is not None),
    Endpoint("staff-case-extend", data=lambda u: {"reason": "Many items across several systems"},
             event="case.extended", changed=lambda c, u: c.state == CaseState.EXTENDED),
    Endpoint("staff-case-pause", data=lambda u: {"ground": "identity", "justification": "Awaiting identity info"},
             event="case.paused", changed=lambda c, u: c.state == CaseState.PAUSED and c.pause_ground == "identity"),
    Endpoint("staff-case-relevant-time", regimes=("uk_gdpr",),
             data=lambda u: {"what": "identity", "requested_at": "2026-03-05T12:00", "received_at": "2026-03-06T08:30",
                             "evidence": "Account e-mail confirmed by reply, filed in ticket 4411"},
             event="case.relevant_time_recorded",
             changed=lambda c, u: c.uk_relevant_at == datetime(2026, 3, 6, 8, 30, tzinfo=UTC) and c.due_on.day == 7),
    Endpoint("staff-case-resume", setup=_pause, event="case.resumed",
             changed=lambda c, u: c.state == CaseState.RECEIVED),
    Endpoint("staff-case-unfounded",
             data=lambda u: {"which": "excessive", "justification": "Fifth identical request this month, see log"},
             event="case.marked_unfounded", changed=lambda c, u: c.unfounded == "excessive"),
    Endpoint("staff-case-refuse", data=lambda u: {"ground": "other", "reason": "Explained in the letter"},
             event="case.refused", changed=lambda c, u: c.state == CaseState.REFUSED),
    Endpoint("staff-case-complete", kind="rectification", setup=_verify, data=lambda u: {"outcome": "complied_full"},
             event="case.completed", changed=lambda c, u: c.state == CaseState.COMPLETED),
    Endpoint("staff-case-cancel", data=lambda u: {"reason": "Withdrawn by the requester"}, event="case.cancelled",
             changed=lambda c, u: c.state == CaseState.CANCELLED),
    Endpoint("staff-case-request-forced-erasure", kind="erasure",
             data=lambda u: {"reason": "Appears only in another user's photo"}, event="case.forced_erasure_requested",
             changed=lambda c, u: c.forced_erasure_requested_by_id is not None),
    Endpoint("staff-case-approve-forced-erasure", kind="erasure", setup=_force, approvers_only=True,
             event="case.forced_erasure_approved", changed=lambda c, u: c.forced_erasure_approved_by_id is not None),
    # issue 9: the erasure cascade
    Endpoint("staff-erasure-approve", kind="erasure", setup=_verify, event="case.erasure_approved",
             changed=lambda c, u: c.erasures.filter(state="grace").exists()),
    Endpoint("staff-erasure-cancel", kind="erasure", setup=_approve_erasure, data=lambda u: {"reason": "Withdrawn"},
             event="case.cancelled", changed=lambda c, u: c.state == CaseState.CANCELLED),
    Endpoint("staff-erasure-hold", kind="erasure", approvers_only=True,
             data=lambda u: {"category": "photo", "ground": "art17_3_e_legal_claims", "note": "Lawsuit pending"},
             event="case.hold_recorded", changed=lambda c, u: c.legal_holds.filter(category="photo").exists()),
]
ROLES = ["operator", "approver", "auditor", "anonymous", "norole"]


def _allowed(endpoint: Endpoint, role: str) -> bool:
    return role == "approver" if endpoint.approvers_only else role in ("operator", "approver")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_action_is_allowed_only_to_the_roles_that_may_do_it_and_a_refusal_changes_nothing(
    users, endpoint: Endpoint, role: str
):
    case = file_case(endpoint.kind, endpoint.regimes, email=None if endpoint.no_email else "",
                     account_id="acct-" + uuid.uuid4().hex)
    endpoint.setup(case, users)
    before = snapshot(case)
    url = reverse(endpoint.name, args=[case.pk])

    response = client_for(None if role == "anonymous" else users[role]).post(url, endpoint.data(users))

    case.refresh_from_db()
    if _allowed(endpoint, role):
        assert response.status_code == 302 and response.url == reverse("staff-case", args=[case.pk])
        assert [level for level, _ in flashes(response)] == ["success"], flashes(response)
        assert endpoint.changed(case, users)
        assert events_of(case)[-1] == endpoint.event
        assert Event.objects.filter(kind=endpoint.event, actor=f"staff:{users[role].pk}").exists()
    else:
        if role == "anonymous":
            assert response.status_code == 302 and response.url.startswith(reverse("staff-login") + "?next=")
        else:
            assert response.status_code == 403
            assert b"Nothing was changed" in response.content
            # The refusal itself is the one thing recorded: an audit event with ids only.
            refusal = Event.objects.order_by("-id").first()
            assert (refusal.kind, refusal.actor, refusal.object_type, refusal.object_id) == (
                "staff.forbidden", f"staff:{users[role].pk}", "case", str(case.pk))
            assert refusal.data == {"route": endpoint.name, "method": "POST"}
            before = (before[0], before[1] + 1, *before[2:])
        assert snapshot(case) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_action_endpoints_refuse_get(users, endpoint: Endpoint):
    case = file_case(endpoint.kind)
    before = snapshot(case)
    response = client_for(users["approver"]).get(reverse(endpoint.name, args=[case.pk]))
    assert response.status_code == 405
    assert snapshot(case) == before


def test_the_auditor_can_read_the_queue_the_case_and_the_outbox_but_sees_no_action_forms(users):
    case = file_case("erasure")
    client = client_for(users["auditor"])
    for url in (reverse("staff-queue"), reverse("staff-case", args=[case.pk]), reverse("staff-outbox")):
        response = client.get(url)
        assert response.status_code == 200, url
        forms = re.findall(r'<form method="post" action="([^"]+)"', response.content.decode())
        assert forms == [reverse("staff-logout")], (url, forms)
    assert b"Read-only" in client.get(reverse("staff-case", args=[case.pk])).content


def test_a_user_without_a_role_is_refused_every_page(users):
    case = file_case()
    client = client_for(users["norole"])
    for url in (reverse("staff-queue"), reverse("staff-case", args=[case.pk]), reverse("staff-outbox")):
        assert client.get(url).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(users):
    case = file_case()
    for url in (reverse("home"), reverse("staff-queue"), reverse("staff-case", args=[case.pk]),
                reverse("staff-outbox")):
        response = Client().get(url, follow=True)
        assert response.redirect_chain[-1][0].startswith(reverse("staff-login")), url
        assert response.status_code == 200


def test_an_operator_cannot_approve_a_forced_erasure(users):
    case = file_case("erasure")
    _force(case, users)
    before = snapshot(case)
    response = client_for(users["operator"]).post(reverse("staff-case-approve-forced-erasure", args=[case.pk]))
    assert response.status_code == 403 and snapshot(case) == _plus_refusal_event(before)


def test_the_person_who_requested_a_forced_erasure_cannot_approve_it_too(users):
    case = file_case("erasure")
    client = client_for(users["approver"])
    client.post(reverse("staff-case-request-forced-erasure", args=[case.pk]),
                {"reason": "Appears only in another user's photo"})
    before = snapshot(case)

    response = client.post(reverse("staff-case-approve-forced-erasure", args=[case.pk]))

    assert response.status_code == 302 and response.url == reverse("staff-case", args=[case.pk])
    level, text = flashes(response)[-1]
    assert level == "error" and "second person" in text
    assert snapshot(case) == before
    page = client.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert "You requested it; another approver must approve." in page
    assert reverse("staff-case-approve-forced-erasure", args=[case.pk]) not in page


def test_a_forced_erasure_approved_by_a_second_person_lets_the_erasure_be_approved_without_verification(users):
    case = file_case("erasure")
    operator = client_for(users["operator"])
    operator.post(reverse("staff-case-request-forced-erasure", args=[case.pk]),
                  {"reason": "Appears only in another user's photo"})
    page = operator.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-erasure-approve", args=[case.pk]) not in page and "before approving the erasure" in page
    dpo = client_for(users["approver"])
    page = dpo.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-case-approve-forced-erasure", args=[case.pk]) in page
    dpo.post(reverse("staff-case-approve-forced-erasure", args=[case.pk]))
    page = operator.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-case-complete", args=[case.pk]) not in page  # an erasure completes by itself
    response = operator.post(reverse("staff-erasure-approve", args=[case.pk]))
    assert [level for level, _ in flashes(response)][-1] == "success"
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED and case.verified_at is None
    assert case.erasures.get().state == "grace"
    page = operator.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert "can still be cancelled" in page and reverse("staff-erasure-cancel", args=[case.pk]) in page


def test_a_post_without_a_csrf_token_is_refused(users):
    case = file_case()
    before = snapshot(case)
    client = client_for(users["operator"], enforce_csrf_checks=True)
    response = client.post(reverse("staff-case-extend", args=[case.pk]), {"reason": "Many items to collect"})
    assert response.status_code == 403
    assert snapshot(case) == _plus_refusal_event(before)
    assert Event.objects.order_by("-id").values_list("kind", "actor").first() == (
        "staff.forbidden", f"staff:{users['operator'].pk}")


def test_a_post_with_the_csrf_token_from_the_page_is_accepted(users):
    case = file_case()
    client = client_for(users["operator"], enforce_csrf_checks=True)
    page = client.get(reverse("staff-case", args=[case.pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(reverse("staff-case-extend", args=[case.pk]),
                           {"reason": "Many items to collect", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == CaseState.EXTENDED


def test_console_pages_use_a_same_origin_referrer_policy_so_browsers_send_a_real_origin_with_posts(users):
    # Under "no-referrer" a browser sends "Origin: null" with every form POST and Django's CSRF check refuses
    # it (the login form included); "same-origin" still sends nothing to other sites.
    case = file_case()
    client = client_for(users["operator"], enforce_csrf_checks=True)
    for response in (Client().get(reverse("staff-login")), client.get(reverse("staff-queue")),
                     client.get(reverse("staff-case", args=[case.pk]))):
        assert response["Referrer-Policy"] == "same-origin"
        metas = re.findall(r'<meta name="referrer" content="([^"]+)">', response.content.decode())
        assert metas == ["same-origin"]
    page = client.get(reverse("staff-case", args=[case.pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(reverse("staff-case-extend", args=[case.pk]),
                           {"reason": "Many items to collect", "csrfmiddlewaretoken": token},
                           HTTP_ORIGIN="http://testserver")
    assert response.status_code == 302


def test_every_page_defaults_to_same_origin_and_a_page_can_still_ask_for_no_referrer(users):
    from django.template import engines
    from django.template.loader import render_to_string

    assert '<meta name="referrer" content="same-origin">' in render_to_string("base.html")
    stricter = engines["django"].from_string(
        '{% extends "base.html" %}{% block referrer_policy %}no-referrer{% endblock %}').render({})
    assert '<meta name="referrer" content="no-referrer">' in stricter
    # Pages outside the console (the admin, error pages) get the header too, so their forms post a real Origin.
    approver = client_for(users["approver"])
    for url in ("/admin/login/", "/no-such-page/", reverse("api-openapi")):
        assert approver.get(url)["Referrer-Policy"] == "same-origin", url


# --- header and navigation ---------------------------------------------------------------------------


def test_the_header_shows_the_user_their_role_the_nav_and_a_logout_form(users):
    page = client_for(users["operator"]).get(reverse("staff-queue")).content.decode()
    assert '>op</strong>' in page and '<span class="role">operator</span>' in page
    for name in ("staff-queue", "staff-outbox", "staff-reports"):
        assert f'href="{reverse(name)}"' in page
    assert f'<form method="post" action="{reverse("staff-logout")}">' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert reverse("admin:index") not in page


def test_only_approvers_and_superusers_see_the_register_link(users):
    boss = User.objects.create_user("boss", password=PASSWORD, is_superuser=True)
    for user in (users["approver"], boss):
        assert f'<a href="{reverse("admin:index")}">Register (admin)</a>' in \
            client_for(user).get(reverse("staff-queue")).content.decode()
    for role in ("operator", "auditor"):
        assert reverse("admin:index") not in client_for(users[role]).get(reverse("staff-queue")).content.decode()


def test_home_leads_to_the_queue_and_logout_signs_out(users):
    client = client_for(users["operator"])
    assert client.get(reverse("home")).url == reverse("staff-queue")
    response = client.post(reverse("staff-logout"))
    assert response.status_code == 302
    assert client.get(reverse("staff-queue")).status_code == 302


# --- the queue ---------------------------------------------------------------------------------------


def _rows(page: str) -> list[tuple[str, str]]:
    """(tr class, reference) per queue row, in order."""
    return re.findall(r'<tr class="([^"]*)">\s*<td class="nowrap"><a class="ref" href="[^"]+">(DSR-[0-9A-F]+)</a>',
                      page)


def test_the_queue_lists_open_cases_by_governing_due_date_and_marks_overdue_and_at_risk(users):
    later = file_case(received_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))  # due 2 Apr
    overdue = file_case(received_at=datetime(2026, 1, 20, 12, 0, tzinfo=UTC))  # due 20 Feb
    at_risk = file_case(received_at=datetime(2026, 2, 9, 12, 0, tzinfo=UTC))  # due 9 Mar
    ccpa = file_case(regimes=("ccpa",), received_at=datetime(2026, 2, 1, 12, 0, tzinfo=UTC))  # 45 days: 18 Mar
    closed = file_case(received_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    workflow.cancel_case(closed, reason="duplicate", actor="t", now=NOW)
    today = workflow.local_today(NOW)
    assert overdue.due_on < today <= at_risk.due_on <= today + timedelta(days=5) < ccpa.due_on < later.due_on

    response = client_for(users["operator"]).get(reverse("staff-queue"))
    page = response.content.decode()

    assert _rows(page) == [("overdue", overdue.reference), ("at-risk", at_risk.reference),
                           ("", ccpa.reference), ("", later.reference)]
    late_by = (today - overdue.due_on).days
    left = (at_risk.due_on - today).days
    assert '<span class="badge overdue">Overdue</span>' in page and f"by {late_by} days" in page
    assert '<span class="badge at-risk">At risk</span>' in page and f"{left} days left" in page
    assert f'{overdue.due_on.day} Feb 2026 · <span class="rule">G-ACC</span>' in page
    assert '<b id="count-overdue">1</b>' in page and '<b id="count-at-risk">1</b>' in page
    assert closed.reference not in page


def test_queue_filters_narrow_by_kind_regime_state_assignee_and_urgency(users):
    access = file_case("access")
    erasure = file_case("erasure", ("eu_gdpr", "ccpa"))
    uk = file_case("rectification", ("uk_gdpr",))
    ccpa = file_case("access", ("ccpa",))
    overdue = file_case("access", received_at=datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    workflow.assign_case(erasure, assignee=users["operator"], actor="t", now=NOW)
    workflow.request_verification(uk, actor="t", now=NOW)
    client = client_for(users["approver"])

    def refs(**params: str) -> set[str]:
        page = client.get(reverse("staff-queue"), params).content.decode()
        return {ref for _, ref in _rows(page)}

    everything = {c.reference for c in (access, erasure, uk, ccpa, overdue)}
    assert refs() == everything
    assert refs(kind="access") == {access.reference, ccpa.reference, overdue.reference}
    assert refs(regime="ccpa") == {erasure.reference, ccpa.reference}
    assert refs(regime="eu_gdpr") == {access.reference, erasure.reference, overdue.reference}
    assert refs(regime="uk_gdpr") == {uk.reference}
    assert refs(state="awaiting_verification") == {uk.reference}
    assert refs(assignee=str(users["operator"].pk)) == {erasure.reference}
    assert refs(assignee="unassigned") == everything - {erasure.reference}
    assert refs(urgency="overdue") == {overdue.reference}
    assert refs(kind="access", regime="ccpa") == {ccpa.reference}
    assert refs(kind="nonsense", state="completed") == everything  # unknown values are ignored


def _many_cases(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        file_case(received_at=RECEIVED - timedelta(days=i % 25, hours=i))


def test_the_queue_pages_by_50_and_page_links_keep_the_filters(users):
    _many_cases(60)
    file_case("erasure")
    client = client_for(users["operator"])

    first = client.get(reverse("staff-queue"), {"kind": "access"}).content.decode()
    second = client.get(reverse("staff-queue"), {"kind": "access", "page": "2"}).content.decode()

    assert len(_rows(first)) == 50 and len(_rows(second)) == 10
    assert not set(_rows(first)) & set(_rows(second))
    assert 'href="?kind=access&amp;page=2"' in first
    assert "Cases 51–60 of 60" in second
    due = [Case.objects.get(reference=ref).due_on for _, ref in _rows(first) + _rows(second)]
    assert due == sorted(due)


def test_the_queue_needs_the_same_number_of_queries_for_5_or_50_rows_and_on_every_page(users):
    client = client_for(users["operator"])
    _many_cases(5)
    workflow.assign_case(Case.objects.first(), assignee=users["operator"], actor="t", now=NOW)
    client.get(reverse("staff-queue"))  # warm the session

    def count(**params: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("staff-queue"), params)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    few = count()
    _many_cases(55, start=5)
    for case in Case.objects.all()[:20]:
        workflow.assign_case(case, assignee=users["requester"], actor="t", now=NOW)
    assert len(_rows(client.get(reverse("staff-queue")).content.decode())) == 50
    assert count() == few
    assert count(page="2") == few


# --- the case page -----------------------------------------------------------------------------------


def test_the_case_page_shows_every_due_date_with_its_rule_and_why(users):
    case = file_case("erasure", ("eu_gdpr", "ccpa"))
    page = client_for(users["operator"]).get(reverse("staff-case", args=[case.pk])).content.decode()
    rows = list(case.deadlines.all())
    assert len(rows) >= 4
    for row in rows:
        assert f'<span class="rule">{row.rule}</span>' in page
        assert escape(row.basis) in page
        assert f"{row.due_on.day} {row.due_on:%b %Y}" in page
    assert "Why this date" in page and "governing" in page
    assert case.reference in page and "case.submitted" in page and "case.acknowledged" in page


def test_the_case_page_says_which_calendar_each_regime_used_even_after_the_settings_change(users, settings):
    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_CONTROLLER_SUBDIVISION, settings.DSR_TIME_ZONE = "DE", "BY", None
    settings.DSR_UK_NATION = "scotland"
    case = file_case("access", ("eu_gdpr", "uk_gdpr", "ccpa"))
    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_CONTROLLER_SUBDIVISION, settings.DSR_UK_NATION = "IE", None, \
        "england-wales"
    page = client_for(users["auditor"]).get(reverse("staff-case", args=[case.pk])).content.decode()
    clock = page[page.index('<dd class="clock">'):]
    clock = clock[:clock.index("</dd>")]
    assert "EU GDPR: DE-BY, Europe/Berlin" in clock
    assert "UK GDPR: GB-SCT (Scotland bank holidays), Europe/London" in clock
    assert "CCPA/CPRA: California (Gov. Code §6700/§6701 holidays), America/Los_Angeles" in clock
    assert "business days Monday-Friday minus holidays" in clock
    assert "current settings" not in clock


def test_the_case_page_shows_facts_holdings_and_notices_but_never_the_full_address(users):
    email = "someone.private@example.com"
    case = file_case(email=email)
    vault.store_item(vault.NewItem(category="ip_log", purpose="security", holders=[(case.subject, Holding.Role.OWNER)],
                                   content=b'{"ip": "203.0.113.9"}', content_type="application/json"),
                     actor="t", now=NOW)
    workflow.verify_identity(case, method="account_reauth", actor=users["operator"], now=NOW)
    page = client_for(users["auditor"]).get(reverse("staff-case", args=[case.pk])).content.decode()

    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert case.reference in title and "@" not in title
    assert email not in page and "s***@example.com" in page
    assert case.subject.reference in page
    assert "ip log" in page and "Derived items" in page
    assert "Signed-in session with re-authentication" in page and "by op" in page
    assert "5 Mar 2026 10:00 UTC" in page and "Europe/Dublin" in page
    assert "<details class=\"message\">" in page and "acknowledgement" in page
    ack = OutboundMessage.objects.get(case=case, template="acknowledgement")
    assert escape(ack.subject_line) in page and escape(ack.body_text.strip()[:40]) in page


def test_request_text_is_shown_escaped(users):
    case = file_case(details='<script>alert("x")</script> & <b>bold</b>')
    page = client_for(users["operator"]).get(reverse("staff-case", args=[case.pk])).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>" not in page and "<b>bold" not in page


def test_extending_with_a_reason_shows_the_new_date_the_event_and_the_notice(users):
    case = file_case()
    initial = case.due_on
    client = client_for(users["operator"])

    response = client.post(reverse("staff-case-extend", args=[case.pk]),
                           {"reason": "Several hundred photos to collect"}, follow=True)

    case.refresh_from_db()
    assert case.state == CaseState.EXTENDED and case.due_on > initial
    page = response.content.decode()
    assert "extended; the extension notice is in the outbox" in page
    assert f"<strong>{case.due_on.day} {case.due_on:%b %Y}</strong>" in page
    assert "Extended response" in page
    assert "case.extended" in page
    notice = OutboundMessage.objects.get(case=case, template="extension_notice")
    assert escape(notice.subject_line) in page and "Several hundred photos to collect" in page
    assert reverse("staff-case-extend", args=[case.pk]) not in page  # one extension only


def test_extending_without_a_reason_shows_an_error_and_changes_nothing(users):
    case = file_case()
    before = snapshot(case)
    response = client_for(users["operator"]).post(reverse("staff-case-extend", args=[case.pk]), {"reason": "  "})
    assert response.status_code == 302
    [(level, text)] = flashes(response)
    assert level == "error" and "reason" in text
    assert snapshot(case) == before


def test_extending_after_the_initial_deadline_is_refused(users, frozen):
    case = file_case()
    frozen.move_to(datetime(2026, 4, 20, 9, 0, tzinfo=UTC))
    before = snapshot(case)
    response = client_for(users["operator"]).post(reverse("staff-case-extend", args=[case.pk]),
                                                  {"reason": "Several hundred photos to collect"}, follow=True)
    page = response.content.decode()
    assert '<li class="error">' in page and "has passed" in page
    assert snapshot(case) == before


def test_a_ccpa_case_offers_no_pause_and_says_why(users):
    case = file_case("access", ("ccpa",))
    page = client_for(users["operator"]).get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-case-pause", args=[case.pk]) not in page
    assert "§7021(b)" in page
    response = client_for(users["operator"]).post(reverse("staff-case-pause", args=[case.pk]),
                                                  {"justification": "Awaiting identity information"})
    assert flashes(response)[0][0] == "error"
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED


def test_pausing_and_resuming_moves_the_dates_and_keeps_the_old_ones_as_history(users, frozen):
    case = file_case()
    client = client_for(users["operator"])
    client.post(reverse("staff-case-pause", args=[case.pk]), {"ground": "identity",
                                                         "justification": "Awaiting identity information"})
    page = client.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-case-resume", args=[case.pk]) in page
    assert reverse("staff-case-extend", args=[case.pk]) not in page
    frozen.move_to(NOW + timedelta(days=4))
    client = client_for(users["operator"])  # a new day, a new session (sessions last 8 hours)
    client.post(reverse("staff-case-resume", args=[case.pk]))
    page = client.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert "Superseded dates" in page and "<s>" in page
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED and case.paused_days == 4


def test_an_opt_out_case_offers_no_identity_check_only_not_required(users):
    case = file_case("opt_out_sale_sharing", ("ccpa",))
    page = client_for(users["operator"]).get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-case-request-verification", args=[case.pk]) not in page
    assert re.findall(r'<option value="([a-z_0-9]+)">[^<]*</option>',
                      page.split('id="verify-method"')[1].split("</select>")[0]) == ["not_required"]


def test_assigning_to_someone_who_is_not_staff_is_refused(users):
    case = file_case()
    before = snapshot(case)
    client = client_for(users["operator"])
    for value in (str(users["auditor"].pk), str(users["norole"].pk), "abc"):
        response = client.post(reverse("staff-case-assign", args=[case.pk]), {"assignee": value})
        assert flashes(response)[-1][0] == "error"
    assert snapshot(case) == before
    client.post(reverse("staff-case-assign", args=[case.pk]), {"assignee": str(users["approver"].pk)})
    client.post(reverse("staff-case-assign", args=[case.pk]), {"assignee": ""})
    case.refresh_from_db()
    assert case.assignee is None and events_of(case)[-2:] == ["case.assigned", "case.assigned"]
    page = client.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert "assignee=dpo" in page and "assignee=nobody" in page
    assert '<span class="muted">by</span> op\n' in page


def test_a_closed_case_offers_no_actions(users):
    case = file_case()
    workflow.cancel_case(case, reason="Withdrawn", actor="t", now=NOW)
    page = client_for(users["approver"]).get(reverse("staff-case", args=[case.pk])).content.decode()
    assert "it can no longer change" in page
    assert re.findall(r'<form method="post" action="([^"]+)"', page) == [reverse("staff-logout")]


def test_an_unknown_case_is_404(users):
    assert client_for(users["operator"]).get(reverse("staff-case", args=[uuid.uuid4()])).status_code == 404


# --- the outbox --------------------------------------------------------------------------------------


def test_the_outbox_lists_messages_with_masked_recipients(users):
    case = file_case(email="alice@example.com")
    workflow.extend_case(case, reason="Several hundred photos", actor="t", now=NOW)
    page = client_for(users["auditor"]).get(reverse("staff-outbox")).content.decode()
    assert "a***@example.com" in page and "alice@example.com" not in page
    assert case.reference in page and "extension_notice" in page and "acknowledgement" in page
    assert page.index("extension_notice") < page.index("acknowledgement</td>")  # newest first
    queued = client_for(users["auditor"]).get(reverse("staff-outbox"), {"status": "sent"}).content.decode()
    assert case.reference not in queued
