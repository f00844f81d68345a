"""The portal driving the exports and erasure desks in a real browser: a person downloads their export once and a
second download is refused; a person cancels their erasure in its grace window and their data still reads; the
status page with those actions passes axe-core. Also the journeys no other browser test makes: a browser sending
Sec-GPC, and a whole filing with JavaScript switched off.
Screenshots go to the same artifacts directory as tests/browser/test_portal_browser.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from dsr import vault
from dsr.models import Case, CaseState, OutboundMessage, Subject, SubjectKey
from dsr.roles import Role, create_staff
from tests.browser.test_portal_browser import scan  # the same axe-core scan and rules

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def artifacts() -> Path:
    root = Path(os.environ.get("DSR_ARTIFACTS_DIR") or Path(django_settings.BASE_DIR) / "var" / "test-artifacts")
    root = root / "portal"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def code_for(address: str) -> str:
    message = OutboundMessage.objects.filter(to=address, template="portal_code").order_by("-created_at").first()
    return re.search(r"^\s+(\d{6})$", message.body_text, re.M).group(1)


def file_and_confirm(page, base: str, choice: str, email: str, country: str = "IE", us_state: str = "") -> Case:
    page.goto(base + "/")
    page.check(f"#choice-{choice}")
    page.fill("#id_email", email)
    page.select_option("#id_country", country)
    if us_state:
        page.select_option("#id_us_state", us_state)
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    page.fill("#id_code", code_for(email))
    page.click("button:has-text('Confirm')")
    page.wait_for_url(re.compile(r".*/status/$"))
    return Case.objects.get(subject__email=email, kind="erasure" if choice == "erasure" else choice)


def test_the_export_downloads_once_and_a_second_download_is_refused(live_server, page, artifacts):
    import zipfile

    from dsr import exports

    now = timezone.now()
    subject = vault.create_subject(actor="t", now=now, email="xena@example.com")
    vault.store_item(vault.NewItem(category="photo", purpose="photo_generation", holders=[(subject, "owner")],
                                   content=b"\xff\xd8 a photo of Xena", content_type="image/jpeg"), actor="t", now=now)
    base = live_server.url
    case = file_and_confirm(page, base, "access", "xena@example.com")
    assert case.verified_at is not None
    operator = create_staff("olga", "olga-operator-pass", Role.OPERATOR)
    exports.start_export(case, actor=operator, now=timezone.now())  # runs inline (django-q sync in tests)
    assert exports.export_status(case)["state"] == "ready"
    page.reload()
    article = page.locator(f"#case-{case.pk}")
    assert "The download works once" in article.inner_text()
    page.screenshot(path=str(artifacts / "export-01-ready.png"), full_page=True)
    with page.expect_response(re.compile(r".*/download$")) as answer, page.expect_download() as first:
        page.click(f"#case-{case.pk} button:has-text('Download your data')")
    headers = answer.value.headers
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    assert headers["content-disposition"].startswith("attachment")
    with zipfile.ZipFile(first.value.path()) as zf:
        assert any(n.endswith("manifest.json") for n in zf.namelist())
    # Sent again (a replayed form, a second tab): refused.
    with page.expect_navigation():
        page.evaluate(f"""() => {{ const f = document.createElement('form'); f.method = 'post';
            f.action = '/status/cases/{case.pk}/download';
            f.innerHTML = document.querySelector('input[name=csrfmiddlewaretoken]').outerHTML;
            document.body.appendChild(f); f.submit(); }}""")
    assert "This download was already used or has expired" in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "export-02-second-download-refused.png"), full_page=True)
    page.goto(base + "/status/")
    assert "You already downloaded your data." in page.locator(f"#case-{case.pk}").inner_text()
    assert page.locator(f"#case-{case.pk} button:has-text('Download your data')").count() == 0
    assert exports.export_status(case)["downloads"] == 1


def test_an_erasure_is_cancelled_in_its_grace_window_and_the_data_still_reads(live_server, page, artifacts, axe,
                                                                              monkeypatch):
    from dsr import erasure, exports

    now = timezone.now()
    subject = vault.create_subject(actor="t", now=now, email="wren@example.com")
    original = b"\xff\xd8 a photo of Wren"
    photo = vault.store_item(vault.NewItem(category="photo", purpose="photo_generation",
                                           holders=[(subject, "owner")], content=original, content_type="image/jpeg"),
                             actor="t", now=now)
    base = live_server.url
    # An earlier access request of the same person: its export is queued and not yet built (no worker picks it
    # up here), so its progress shows on the same status page.
    access = file_and_confirm(page, base, "access", "wren@example.com")
    with monkeypatch.context() as m:
        m.setattr("django_q.conf.Conf.SYNC", False)
        exports.start_export(access, actor="t", now=timezone.now())
    case = file_and_confirm(page, base, "erasure", "wren@example.com")
    assert case.verified_at is not None
    # The operator approves; the cascade's first step is the grace window (runs inline here, and waits).
    erasure.approve_erasure(case, actor=create_staff("olga", "olga-operator-pass", Role.OPERATOR),
                            now=timezone.now())
    assert erasure.erasure_status(case)["state"] == "grace"
    page.reload()
    assert "Until then you can still cancel." in page.locator(f"#case-{case.pk}").inner_text()
    assert "We are putting your data together: 0% done." in page.locator(f"#case-{access.pk}").inner_text()
    assert page.locator(f"#case-{access.pk} progress").get_attribute("value") == "0"
    page.screenshot(path=str(artifacts / "erasure-01-grace-window.png"), full_page=True)
    scan(page, axe, artifacts, "erasure-01-grace-window")

    page.click(f"#case-{case.pk} button:has-text('Cancel the deletion')")
    page.wait_for_url(re.compile(r".*/status/\?done=erasure_cancelled.*"))
    assert "The deletion is cancelled. Nothing was deleted." in page.locator("main").inner_text()
    assert "You cancelled the deletion; nothing was deleted." in page.locator(f"#case-{case.pk}").inner_text()
    assert page.locator(f"#case-{case.pk} button:has-text('Cancel the deletion')").count() == 0
    page.screenshot(path=str(artifacts / "erasure-02-cancelled.png"), full_page=True)
    scan(page, axe, artifacts, "erasure-02-cancelled")
    case.refresh_from_db()
    subject.refresh_from_db()
    assert case.state == CaseState.CANCELLED and erasure.erasure_status(case)["state"] == "cancelled"
    assert subject.writes_blocked_at is None and subject.erased_at is None
    assert SubjectKey.objects.get(subject=subject).destroyed_at is None
    assert vault.read_item(photo) == original  # the subject's data still reads


def test_a_browser_sending_gpc_records_an_opt_out_that_completes_without_verification(live_server, browser,
                                                                                       artifacts):
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"}, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server.url + "/")
    page.check("#choice-access")
    page.fill("#id_email", "gale@example.com")
    page.select_option("#id_country", "US")
    page.select_option("#id_us_state", "CA")
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    assert "Global Privacy Control" in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "gpc-01-confirm.png"), full_page=True)
    opt_out = Case.objects.get(kind="opt_out_sale_sharing")
    assert (opt_out.channel, opt_out.state, opt_out.verified_at) == ("gpc", CaseState.COMPLETED, None)
    assert opt_out.subject == Subject.objects.get(email="gale@example.com")
    assert Case.objects.get(kind="access").state == CaseState.AWAITING_VERIFICATION  # the request itself waits
    context.close()


def test_the_whole_journey_works_with_javascript_switched_off(live_server, browser, artifacts):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    base = live_server.url
    page.goto(base + "/")
    page.check("#choice-rectification")
    page.fill("#id_email", "noscript@example.com")
    page.select_option("#id_country", "DE")
    page.click("button:has-text('Send request')")  # the details are missing: the server says so, no script
    assert page.locator("#id_details").get_attribute("aria-invalid") == "true"
    page.fill("#id_details", "My surname is spelt Smyth, not Smith.")
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    page.fill("#id_code", code_for("noscript@example.com"))
    page.click("button:has-text('Confirm')")
    page.wait_for_url(re.compile(r".*/status/$"))
    case = Case.objects.get()
    assert case.kind == "rectification" and case.verified_at is not None
    assert case.reference in page.locator(f"#case-{case.pk}").inner_text()
    page.click(f"#case-{case.pk} summary")  # <details>: opens without script
    page.fill(f"#reply-{case.pk}", "Please also stop the newsletter.")
    page.click(f"#case-{case.pk} button:has-text('Send')")
    page.wait_for_url(re.compile(r".*/status/\?done=replied.*"))
    assert case.thread.get().body == "Please also stop the newsletter."
    page.screenshot(path=str(artifacts / "nojs-01-status.png"), full_page=True)
    context.close()
