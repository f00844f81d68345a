"""Odd query and form values on the console and the reports get a clear answer, never a 500 (issue 7 §10)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from dsr import vault, workflow
from dsr.models import Case, Event
from dsr.roles import Role, create_staff

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
# '²' and '٣' pass str.isdigit(); int('²') raises, int('３') and int('٣') quietly read 3.
ODD_IDS = ["²", "３", "٣", "1²", "-1", " 1", "1 ", "1.0", "0x1", "1e3", "99999999999999999999999", "\x00", "１"]


@pytest.fixture
def operator() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(create_staff("op", "console-input-pass", Role.OPERATOR))
    return client


@pytest.fixture
def case() -> Case:
    subject = vault.create_subject(actor="t", now=NOW, email="odd.input@example.com")
    case, _ = workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=subject, received_at=NOW,
                                   actor="t", now=NOW)
    return case


@pytest.mark.parametrize("value", ODD_IDS)
def test_an_odd_assignee_filter_on_the_queue_is_ignored(operator, case, value):
    response = operator.get(reverse("staff-queue"), {"assignee": value})
    assert response.status_code == 200
    assert case.reference in response.content.decode()  # the filter was dropped, not applied


@pytest.mark.parametrize("param", ["per_page", "page"])
@pytest.mark.parametrize("value", ODD_IDS)
def test_odd_paging_values_on_the_queue_and_outbox_still_show_a_page(operator, case, param, value):
    for url in (reverse("staff-queue"), reverse("staff-outbox")):
        assert operator.get(url, {param: value}).status_code == 200, url


@pytest.mark.parametrize("value", ODD_IDS)
def test_assigning_to_an_odd_id_is_refused_with_a_message_and_changes_nothing(operator, case, value):
    # Make sure a user with id 3 exists, so '３' would have found someone if it were read as 3.
    create_staff("third", "console-input-pass", Role.OPERATOR)
    create_staff("fourth", "console-input-pass", Role.OPERATOR)
    events = Event.objects.count()

    response = operator.post(reverse("staff-case-assign", args=[case.pk]), {"assignee": value})

    assert response.status_code == 302
    assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["error"]
    case.refresh_from_db()
    assert case.assignee is None and Event.objects.count() == events


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=9999-12-31", "start=0001-01-01", "end=0001-01-01",
                                   "start=２０２５-01-01", "start=2025-01-0²"])
def test_report_dates_outside_the_usable_range_are_a_clear_400(operator, query):
    response = operator.get("/staff/reports/ccpa-log.csv?" + query)
    assert response.status_code == 400
    assert b"could not be produced" in response.content  # the reports page with the reason (issue 8 §7)


@pytest.mark.parametrize("year", ["²⁰²⁵", "２０２５", "2025²", "0000", "99999"])
@pytest.mark.parametrize("path", ["/staff/reports/ccpa-metrics/", "/staff/reports/ccpa-metrics.csv",
                                  "/staff/reports/ccpa-metrics.pdf"])
def test_an_odd_year_is_a_clear_400(operator, path, year):
    response = operator.get(path, {"year": year})
    assert response.status_code == 400
