"""An operator works the queue in a real browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dsr import deadlines, vault, workflow
from dsr.roles import Role, create_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_sees_the_queue_in_due_order_and_extends_a_case_with_a_reason(live_server, page, tmp_path):
    # The browser runs on the real clock, so the cases are placed relative to one captured instant.
    now = timezone.now()
    create_staff("olga", "olga-operator-pass", Role.OPERATOR, email="olga@staff.example")
    subject = vault.create_subject(actor="t", now=now, email="requester@example.com")

    def file(days_ago: int, kind: str = "access"):
        received = now - timedelta(days=days_ago)
        case, _ = workflow.submit_case(kind=kind, regimes=["eu_gdpr"], subject=subject, received_at=received,
                                       actor="t", now=received)
        return case

    overdue = file(45)
    soon = file(27)
    fresh = file(1)
    expected_order = [c.reference for c in sorted([fresh, overdue, soon], key=lambda c: (c.due_on, c.received_at))]
    assert expected_order[0] == overdue.reference

    page.goto(f"{live_server.url}/staff/")
    assert "/staff/login/" in page.url
    page.fill("#id_username", "olga")
    page.fill("#id_password", "olga-operator-pass")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/$"))

    refs = page.locator("table.queue a.ref").all_inner_texts()
    assert refs == expected_order
    overdue_row = page.locator("table.queue tr", has=page.locator(f"a.ref:text-is('{overdue.reference}')"))
    assert "overdue" in (overdue_row.get_attribute("class") or "")
    assert "Overdue" in overdue_row.inner_text()
    fresh_row = page.locator("table.queue tr", has=page.locator(f"a.ref:text-is('{fresh.reference}')"))
    assert "Overdue" not in fresh_row.inner_text()
    page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

    page.click(f"a.ref:text-is('{fresh.reference}')")
    page.wait_for_url(re.compile(rf".*/staff/cases/{fresh.pk}/$"))
    initial = fresh.due_on.strftime("%-d %b %Y")
    assert initial in page.locator("table.dates").first.inner_text()

    page.click("summary:has-text('Extend the deadline')")
    page.fill("#extend-reason", "We must search three storage systems and two processors for this request.")
    page.click("form[action$='/extend'] button[type=submit]")
    page.wait_for_url(re.compile(rf".*/staff/cases/{fresh.pk}/$"))

    extended = deadlines.extended_due("eu_gdpr", "access", fresh.received_at, workflow.clock_options()).due_on
    new_date = extended.strftime("%-d %b %Y")
    dates_text = page.locator("table.dates").first.inner_text()
    assert new_date in dates_text
    assert "Extended response" in dates_text or "extended" in dates_text.lower()
    assert "case.extended" in page.locator("ol.timeline").inner_text()
    outbox = page.locator("section[aria-labelledby=h-outbox]")
    assert "extension_notice" in outbox.inner_text()
    outbox.locator("details.message", has_text="extension_notice").locator("summary").click()
    notice = outbox.locator("details.message", has_text="extension_notice").locator("pre").inner_text()
    assert "three storage systems" in notice and extended.strftime("%-d %B %Y") in notice
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)

    fresh.refresh_from_db()
    assert fresh.state == "extended" and fresh.due_on == extended
