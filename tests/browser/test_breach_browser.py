"""The breach desk in a real browser (Debian's chromium driven by Playwright, issue 12 §6): the DPO opens a breach
from the console, sees the 72-hour countdown in the operator's zone and in UTC, decides high risk with the aid's
suggestion on screen, computes the scope from the vault (Art. 34(3)(a) said in words) and downloads the Art. 33
PDF, read back with pdftotext. The board and the breach page are scanned with axe-core (no serious or critical
violation); screenshots and axe reports go to ``$DSR_ARTIFACTS_DIR/breach`` (default var/test-artifacts/breach)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dsr import vault
from dsr.models import Breach, Event, Subject
from dsr.roles import Role, create_staff
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@pytest.fixture
def artifacts() -> Path:
    from django.conf import settings

    root = Path(os.environ.get("DSR_ARTIFACTS_DIR") or Path(settings.BASE_DIR) / "var" / "test-artifacts") / "breach"
    root.mkdir(parents=True, exist_ok=True)
    return root


def scan(page, artifacts: Path, name: str) -> None:
    """axe-core (shipped inside axe-playwright-python, no CDN) on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    violations = results.response["violations"]
    (artifacts / f"{name}.axe.json").write_text(json.dumps(violations, indent=1))
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
           if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"


def seed_vault(now) -> None:
    """Three people whose face embeddings sit in the database (sealed inline), two in Germany, one in California."""
    for email, residence in (("anna@example.com", "DE"), ("ben@example.com", "DE"), ("cara@example.com", "US-CA")):
        s = factories.subject(email, now=now - timedelta(days=30))
        Subject.objects.filter(pk=s.pk).update(residence=residence)
        vault.store_item(vault.NewItem(category="face_embedding", purpose="face_matching",
                                       holders=[(s, "owner")], content=bytes(range(256)) * 8),
                         actor="test", now=now - timedelta(days=20))


def sign_in_as_dpo(page, base: str) -> None:
    """The DPO (an approver, made here) signs in to the console."""
    create_staff("dana", "dana-dpo-pass", Role.APPROVER, email="dana@staff.example")
    page.goto(f"{base}/staff/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", "dana-dpo-pass")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/$"))


def test_the_dpo_opens_a_breach_sees_the_72_hour_countdown_decides_high_risk_scopes_it_and_downloads_art_33(
        live_server, page, artifacts, settings, tmp_path):
    settings.DSR_OPERATOR_TIME_ZONE = "Europe/Berlin"
    now = timezone.now()
    seed_vault(now)
    base = live_server.url
    sign_in_as_dpo(page, base)
    page.click("header.top nav a:text-is('Breaches')")
    page.wait_for_url(re.compile(r".*/staff/breaches/$"))
    assert "No open breach." in page.inner_text("#open-breaches")
    page.click("#open-breach")
    page.wait_for_url(re.compile(r".*/staff/breaches/new$"))

    # --- open it: aware 30 minutes ago, typed in UTC
    aware = (now - timedelta(minutes=30)).astimezone(UTC).replace(second=0, microsecond=0)
    page.fill("#id_facts-title", "Embeddings table copied by a compromised admin account")
    page.fill("#id_facts-description", "An admin account was phished; the attacker exported the embeddings table.")
    page.check("input[name=facts-types][value=confidentiality]")
    page.check("input[name=facts-categories][value=face_embedding]")
    page.check("input[name=facts-systems][value=database]")
    page.select_option("#id_facts-times_in", "UTC")
    page.fill("#id_facts-detected_at", (aware - timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_facts-aware_at", aware.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_facts-aware_basis", "The database audit log shows a full export by the phished account.")
    page.fill("#id_facts-aware_by", "Security on-call")
    page.check("#id_facts-data_encrypted")
    page.screenshot(path=str(artifacts / "01-open.png"), full_page=True)
    scan(page, artifacts, "01-open")
    page.click("#new-breach button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/breaches/[0-9a-f-]{36}/$"))
    breach = Breach.objects.get()
    assert breach.aware_at == aware and breach.opened_by.startswith("staff:")
    due = breach.deadlines.get(rule="B-SA").due_at
    assert due == aware + timedelta(hours=72)

    # --- the 72-hour countdown, in Berlin time and in UTC
    assert "B-SA" in page.inner_text("#governing")
    assert re.fullmatch(r"7[01] h \d\d min left", page.inner_text("#countdown").strip())
    berlin = due.astimezone(ZoneInfo("Europe/Berlin"))
    assert page.inner_text("#due-local").strip() == f"{berlin:%a} {berlin.day} {berlin:%b %Y %H:%M %Z}"
    assert page.inner_text("#due-utc").strip() == f"{due:%a} {due.day} {due:%b %Y %H:%M} UTC"
    page.screenshot(path=str(artifacts / "02-breach.png"), full_page=True)
    scan(page, artifacts, "02-breach")

    # --- the risk: the aid suggests high (biometric data); the DPO decides high with a rationale
    assert "High risk" in page.inner_text("#suggestion")
    page.check("input[name=risk-level][value=high]")
    page.fill("#id_risk-rationale", "Face templates of every affected person; the account could read them.")
    page.click("#risk button[type=submit]")
    page.wait_for_url(re.compile(rf".*/staff/breaches/{breach.pk}/$"))
    assert page.inner_text("#risk-badge").strip() == "High risk"
    assert "B-DS" in page.inner_text("#deadlines")  # the Art. 34 clock started with the decision

    # --- the scope, computed from the vault
    page.click("#scope-form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/staff/breaches/{breach.pk}/$"))
    assert page.inner_text("#scope-subjects") == "3" and page.inner_text("#scope-items") == "3"
    assert "DE" in page.inner_text("#scope-jurisdictions") and "US-CA" in page.inner_text("#scope-jurisdictions")
    assert "Art. 34(3)(a) applies." in page.inner_text("#art34")
    assert "Not required — Art. 34(3)(a)" in page.inner_text("#subject-notice")
    page.screenshot(path=str(artifacts / "03-scoped.png"), full_page=True)
    scan(page, artifacts, "03-scoped")

    # --- the board: the breach, its rule and countdown
    page.click("header.top nav a:text-is('Breaches')")
    row = page.locator(f"#board tr[data-reference='{breach.reference}']")
    assert "B-SA" in row.inner_text() and "High risk" in row.inner_text() and "3 people" in row.inner_text()
    assert re.search(r"7[01] h \d\d min left", row.inner_text())
    page.screenshot(path=str(artifacts / "04-board.png"), full_page=True)
    scan(page, artifacts, "04-board")
    page.click(f"#board a.ref:text-is('{breach.reference}')")
    page.wait_for_url(re.compile(rf".*/staff/breaches/{breach.pk}/$"))

    # --- the Art. 33 PDF, downloaded and read back
    with page.expect_download() as info:
        page.click("#documents a.doc-art33[data-phase=initial]")
    pdf = tmp_path / "art33.pdf"
    info.value.save_as(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert breach.reference in text
    assert Event.objects.filter(kind="breach.document_downloaded", object_id=str(breach.pk)).count() == 1


def test_the_countdowns_keep_running_on_an_open_page_by_the_servers_clock_and_turn_amber_then_red(
        live_server, page, settings):
    """The page is not reloaded: the browser's clock is moved on (Playwright's clock), the text and the urgency
    follow; the browser's clock starts five hours wrong, and the deadline does not move with it."""
    from tests.breach_board_kit import make_breach

    settings.DSR_OPERATOR_TIME_ZONE = "Europe/Berlin"
    now = timezone.now()
    from tests.breach_board_kit import B_SA_BASIS

    aware = now - timedelta(hours=47, minutes=30)
    breach = make_breach(aware_at=aware, deadlines=[  # B-SA due in 24 h 30 min; a state's 30 days in days
        {"rule": "B-SA", "regime": "eu_gdpr", "authority": "Data Protection Commission (IE)",
         "due_at": aware + timedelta(hours=72), "basis": B_SA_BASIS},
        {"rule": "US-NY", "regime": "us_ny", "authority": "New York residents",
         "due_at": now + timedelta(days=20, hours=5, minutes=10), "basis": "GBL §899-aa: 30 days"}])
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "favicon" not in m.location.get("url", "") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.clock.install(time=now + timedelta(hours=5))  # the operator's machine is five hours fast
    base = live_server.url
    sign_in_as_dpo(page, base)

    page.goto(f"{base}/staff/breaches/{breach.pk}/")
    box = page.locator("#governing")
    assert re.fullmatch(r"24 h (29|30) min left", page.inner_text("#countdown").strip())
    assert "at-risk" not in (box.get_attribute("class") or "")

    page.clock.fast_forward("01:00:00")  # an hour later, same page
    page.wait_for_function("document.querySelector('#countdown').textContent.startsWith('23 h')")
    assert re.fullmatch(r"23 h (29|30) min left", page.inner_text("#countdown").strip())
    assert "at-risk" in box.get_attribute("class")
    row = page.locator("#deadlines tr[data-rule='B-SA']")
    assert "at-risk" in row.get_attribute("class") and "23 h" in row.inner_text()
    state_row = page.locator("#deadlines tr[data-rule='US-NY']")
    assert "20 d 4 h left" in state_row.inner_text()  # whole days past 96 h, as the server writes them
    assert "at-risk" not in (state_row.get_attribute("class") or "")

    page.clock.fast_forward("24:00:00")  # past the 72-hour mark
    page.wait_for_function("document.querySelector('#countdown').textContent.endsWith('overdue')")
    assert re.fullmatch(r"0 h (29|30|31) min overdue", page.inner_text("#countdown").strip())
    assert "overdue" in box.get_attribute("class") and "at-risk" not in box.get_attribute("class")

    # The board ticks the same way.
    page.goto(f"{base}/staff/breaches/")
    board_row = page.locator(f"#board tr[data-reference='{breach.reference}']")
    assert re.search(r"24 h (29|30) min left", board_row.inner_text())
    page.clock.fast_forward("02:00:00")
    page.wait_for_function(
        f"document.querySelector(\"#board tr[data-reference='{breach.reference}'] [data-due]\")"
        ".textContent.startsWith('22 h')")
    assert "at-risk" in board_row.get_attribute("class")
    assert errors == []  # the script loads under the CSP and runs without error
