"""The public portal in a real browser (Debian's chromium through Playwright): the journeys of issue 11, in English
and German, with an axe-core scan of every portal page (WCAG 2.2 AA rules and axe's best practices; no serious or
critical violation allowed). Screenshots and axe reports are kept as artifacts in ``$DSR_ARTIFACTS_DIR/portal``,
by default ``var/test-artifacts/portal`` in the checkout (git-ignored; overwritten by the next run).
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from dsr import portal, vault
from dsr.models import Case, OutboundMessage
from dsr.roles import Role, create_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@pytest.fixture
def artifacts() -> Path:
    from django.conf import settings

    root = Path(os.environ.get("DSR_ARTIFACTS_DIR") or Path(settings.BASE_DIR) / "var" / "test-artifacts") / "portal"
    root.mkdir(parents=True, exist_ok=True)
    yield root
    print(f"portal artifacts: {root}")


@pytest.fixture
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def shot(page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def scan(page, axe, artifacts: Path, name: str) -> None:
    """axe-core (shipped inside axe-playwright-python, no CDN) on the page as it is now."""
    results = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    violations = results.response["violations"]
    (artifacts / f"{name}.axe.json").write_text(json.dumps(violations, indent=1))
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
           if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"


def code_for(address: str) -> str:
    message = OutboundMessage.objects.filter(to=address, template="portal_code").order_by("-created_at").first()
    return re.search(r"^\s+(\d{6})$", message.body_text, re.M).group(1)


def link_for(address: str, base: str, template: str = "portal_code") -> str:
    message = OutboundMessage.objects.filter(to=address, template=template).order_by("-created_at").first()
    path = re.search(r"/(?:link|handoff)/[^/\s]+/", message.body_text).group(0)
    return base + path


def fill_access_request(page, email: str, country: str = "IE") -> None:
    page.check("#choice-access")
    page.fill("#id_email", email)
    page.select_option("#id_country", country)


def test_an_access_request_is_filed_confirmed_with_the_mailed_code_and_followed(live_server, page, artifacts, axe):
    base = live_server.url
    page.goto(base + "/")
    assert page.locator("h1").inner_text() == "Ask us about your personal data"
    fill_access_request(page, "journey@example.com")
    page.fill("#id_details", "Everything you hold since I signed up, please.")
    shot(page, artifacts, "access-01-form")
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    assert "Check your e-mail" in page.locator("h1").inner_text()
    shot(page, artifacts, "access-02-check-email")

    page.fill("#id_code", code_for("journey@example.com"))
    page.click("button:has-text('Confirm')")
    page.wait_for_url(re.compile(r".*/status/$"))
    case = Case.objects.get()
    article = page.locator(f"#case-{case.pk}")
    assert case.reference in article.inner_text()
    due = f"{case.due_on:%A} {case.due_on.day} {case.due_on:%B %Y}"
    assert f"We will answer by {due} at the latest." in article.inner_text()
    assert "General Data Protection Regulation (Article 12(3))" in article.inner_text()
    assert "It is confirmed that the request comes from you." in article.inner_text()
    shot(page, artifacts, "access-03-status")
    scan(page, axe, artifacts, "access-03-status")
    case.refresh_from_db()
    assert case.verification_method == "email_code"


def test_a_depicted_person_asks_for_a_videos_removal_and_the_operator_queue_marks_it(live_server, browser, page,
                                                                                    artifacts):
    base = live_server.url
    page.goto(base + "/")
    page.check("#choice-depicted")
    page.fill("#id_email", "dana@example.net")
    page.select_option("#id_country", "FR")
    page.fill("#id_content_ref", "https://platform.example/v/9f3k — a video of me kissing someone I do not know")
    page.check("#id_good_faith")
    page.fill("#id_signature", "Dana Depicted")
    shot(page, artifacts, "depicted-01-form")
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    # The person confirms from the e-mail's link (on another device, say): a button, then the status page.
    page.goto(link_for("dana@example.net", base))
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(r".*/status/$"))
    assert "Our team is checking the photo or video you told us about" in page.content()
    shot(page, artifacts, "depicted-02-status")

    case = Case.objects.get()
    assert case.intake == "depicted_person" and case.kind == "erasure"
    create_staff("olga", "olga-operator-pass", Role.OPERATOR)
    staff = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    staff.goto(base + "/staff/")
    staff.fill("#id_username", "olga")
    staff.fill("#id_password", "olga-operator-pass")
    staff.click("button[type=submit]")
    staff.wait_for_url(re.compile(r".*/staff/$"))
    row = staff.locator("table.queue tr", has=staff.locator(f"a.ref:text-is('{case.reference}')"))
    assert "Depicted person" in row.inner_text()
    shot(staff, artifacts, "depicted-03-operator-queue")
    staff.click(f"a.ref:text-is('{case.reference}')")
    panel = staff.locator("section[aria-labelledby=h-portal]")
    assert "Depicted person." in panel.inner_text() and "subject confirmed" in panel.inner_text()
    assert "platform.example/v/9f3k" in staff.locator("pre.details-text").inner_text()
    shot(staff, artifacts, "depicted-04-operator-case")
    staff.context.close()


def test_the_whole_filing_in_german(live_server, browser, artifacts, axe):
    base = live_server.url
    context = browser.new_context(locale="de-DE", viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Fragen Sie uns zu Ihren personenbezogenen Daten"
    page.check("#choice-rectification")
    page.fill("#id_email", "grete@example.de")
    page.select_option("#id_country", "DE")
    page.click("button:has-text('Anfrage senden')")  # the details are missing: a German error, tied to the field
    assert "Sagen Sie uns in wenigen Worten, was nicht stimmt." in page.locator("#id_details-error").inner_text()
    assert page.locator("#id_details").get_attribute("aria-invalid") == "true"
    shot(page, artifacts, "german-01-error-mobile")
    scan(page, axe, artifacts, "german-01-error-mobile")
    page.fill("#id_details", "Mein Nachname ist falsch geschrieben: Müller, nicht Muller.")
    page.click("button:has-text('Anfrage senden')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    assert page.locator("h1").inner_text() == "Sehen Sie in Ihre E-Mails"
    shot(page, artifacts, "german-02-check-email-mobile")
    message = OutboundMessage.objects.get(template="portal_code")
    assert message.subject_line.startswith("Ihr Code:") and "Wir antworten spätestens am" in message.body_text
    page.fill("#id_code", code_for("grete@example.de"))
    page.click("button:has-text('Bestätigen')")
    page.wait_for_url(re.compile(r".*/status/$"))
    text = page.locator("main").inner_text()
    case = Case.objects.get()
    assert "Berichtigung Ihrer Daten" in text and case.reference in text
    assert "Wir antworten spätestens am" in text and "Datenschutz-Grundverordnung der EU" in text
    shot(page, artifacts, "german-03-status-mobile")
    scan(page, axe, artifacts, "german-03-status-mobile")
    context.close()


def test_every_portal_page_passes_axe_core_without_serious_or_critical_violations(live_server, browser, page,
                                                                                 artifacts, axe, settings):
    base = live_server.url
    visited = []

    def check(name: str) -> None:
        visited.append(name)
        shot(page, artifacts, f"axe-{name}")
        scan(page, axe, artifacts, f"axe-{name}")

    page.goto(base + "/")
    check("home")
    page.click("button:has-text('Send request')")
    assert page.locator(".error-summary").is_visible()
    check("home-errors")

    fill_access_request(page, "axe@example.com")
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    check("confirm")
    page.fill("#id_code", "000000" if code_for("axe@example.com") != "000000" else "111111")
    page.click("button:has-text('Confirm')")
    check("confirm-wrong-code")
    page.click("button:has-text('Send me a new code')")
    page.wait_for_url(re.compile(r".*/confirm/\?resent=1$"))
    check("confirm-resent")

    page.goto(link_for("axe@example.com", base))
    check("link-continue")
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(r".*/status/$"))
    case = Case.objects.get()
    portal.post_message(case, body="Which account e-mail did you use to sign up?", from_subject=False,
                        actor="staff:1", now=timezone.now())
    page.reload()
    check("status")
    page.fill(f"#reply-{case.pk}", "This one, since 2024.")
    page.click("button:has-text('Send')")
    page.wait_for_url(re.compile(r".*/status/\?done=replied.*"))
    check("status-replied")

    page.goto(link_for("axe@example.com", base))  # used: the link no longer works
    check("link-dead")

    holder = vault.create_subject(actor="t", now=timezone.now(), email="holder@example.com", account_id="acct-axe")
    from dsr import workflow

    workflow.submit_case(kind="erasure", regimes=["eu_gdpr"], subject=holder, received_at=timezone.now(),
                         actor="t", now=timezone.now())
    url, _ = portal.mint_handoff(holder, reauthenticated_at=timezone.now(), actor="api:platform",
                                 now=timezone.now())
    page.goto(base + re.sub(r"^https?://[^/]+", "", url))
    check("handoff-continue")
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(r".*/status/$"))
    check("status-account-holder")

    page.click("button:has-text('Sign out')")
    page.goto(base + "/status/")
    check("signin")
    page.fill("#id_email", "axe@example.com")
    page.click("button:has-text('Send me a link')")
    page.wait_for_url(re.compile(r".*/status/\?sent=1$"))
    check("signin-sent")

    # The problem page: a request that needs no account confirmation, confirmed anyway.
    page.goto(link_for("axe@example.com", base, "portal_signin"))
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(r".*/status/$"))
    page.evaluate(f"""() => {{ const f = document.createElement('form'); f.method = 'post';
        f.action = '/status/cases/{case.pk}/confirm';
        f.innerHTML = document.querySelector('input[name=csrfmiddlewaretoken]').outerHTML;
        document.body.appendChild(f); f.submit(); }}""")
    page.wait_for_load_state()
    assert "That did not work" in page.locator("h1").inner_text()
    check("problem")

    # The security-token page: a form sent without its cookie.
    page.context.clear_cookies()
    page.goto(base + "/")
    page.context.clear_cookies()
    fill_access_request(page, "cookies@example.com")
    page.click("button:has-text('Send request')")
    assert "Please try again" in page.locator("h1").inner_text()
    check("csrf")

    # Too many requests from one address.
    settings.DSR_RATE_LIMITS = {**settings.DSR_RATE_LIMITS, "file_ip": "0/3600"}
    page.goto(base + "/")
    fill_access_request(page, "flood@example.com")
    page.click("button:has-text('Send request')")
    assert "Please wait a moment" in page.locator("h1").inner_text()
    check("limited")

    # The same pages in German.
    page.goto(base + "/?lang=de")
    check("home-de")
    assert len(visited) >= 16


def test_a_mobile_visitor_gets_a_single_column_page_with_large_targets(live_server, browser, artifacts):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live_server.url + "/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360  # nothing overflows sideways
    box = page.locator("button:has-text('Send request')").bounding_box()
    assert box["height"] >= 44
    radio = page.locator("label[for=choice-access]").bounding_box()
    assert radio["height"] >= 24  # WCAG 2.2 target size (minimum)
    shot(page, artifacts, "mobile-home")
    context.close()


def test_keyboard_users_see_where_they_are(live_server, page):
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert "Skip to main content" in focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_expired_sessions_and_links_leave_the_browser_with_nothing(live_server, page):
    base = live_server.url
    page.goto(base + "/")
    fill_access_request(page, "late@example.com")
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    link = link_for("late@example.com", base)
    from dsr.models import PortalPass

    PortalPass.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page.goto(link)
    assert "This link no longer works" in page.locator("h1").inner_text()
    assert page.locator("text=late@example.com").count() == 0
