"""The takedown journey in a real browser (Debian's chromium driven by Playwright): a person without an account
files a removal request for a two-person video on the portal, gets a request number, an operator validates it as
intimate, and the video, its thumbnail and the embedding made from the requester's photo are gone while the
uploader's own photos stay; the evidence pack holds every element; both notices are in the outbox."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from dsr import copies
from dsr.models import DataItem, OutboundMessage, Takedown
from dsr.roles import Role, create_staff
from tests.takedown_fixtures import build_platform

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_person_without_an_account_gets_a_two_person_video_removed_and_the_uploaders_photos_stay(
        live_server, page, api, tmp_path):
    copies.reset_indexes()
    p = build_platform(api)
    create_staff("olga", "olga-operator-pass", Role.OPERATOR, email="olga@staff.example")

    # --- the requester, on the portal, without an account
    page.goto(f"{live_server.url}/")
    page.click("#takedown-link a")
    page.wait_for_url(re.compile(r".*/takedown/$"))
    assert "I appear in a photo or video and did not agree" in page.inner_text("h1")
    page.check("input[name=filed_as][value=individual]")
    page.fill("#id_link", f"https://platform.example/v/{p.video}")
    page.set_input_files("#id_reference_image", files=[{"name": "me.jpg", "mimeType": "image/jpeg",
                                                        "buffer": p.requester_photo_bytes}])
    page.check("input[name=intimate][value=yes]")
    page.fill("#id_good_faith_statement", "This video shows me kissing someone. I never agreed to it being made.")
    page.check("#id_good_faith_confirmed")
    page.fill("#id_contact_email", "jane@example.org")
    page.fill("#id_signature_name", "Jane Roe")
    page.check("#id_signature_attested")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/takedown/r/[\w-]+/$"))
    number = page.inner_text("#request-number").strip()
    assert re.fullmatch(r"TD-[0-9A-F]{8}", number)
    assert "Your request is complete" in page.inner_text("#state")
    page.screenshot(path=str(tmp_path / "requester.png"), full_page=True)
    td = Takedown.objects.get(number=number)
    assert td.channel == "portal" and td.valid_at == td.received_at

    # --- the operator validates it as intimate
    page.goto(f"{live_server.url}/staff/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", "olga-operator-pass")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/$"))
    first = page.locator("#takedown-queue table.queue a.ref").first
    assert first.inner_text() == number  # hour clocks above the day clocks
    first.click()
    page.wait_for_url(re.compile(rf".*/staff/takedowns/{td.pk}/$"))
    assert page.locator(f"input[name=likeness][value='{p.requester_photo}']").is_checked()  # found by its hash
    assert page.locator(f"input[name=likeness][value='{p.own_photo}']").is_checked() is False
    page.check("input[name=valid][value=yes]")
    page.check("input[name=intimate][value=yes]")
    page.fill("#reason", "Intimate deepfake of the requester made from her photo; she never consented.")
    page.click("#decision button[type=submit]")
    page.wait_for_url(re.compile(rf".*/staff/takedowns/{td.pk}/$"))
    assert "Removed" in page.inner_text("h1")
    page.screenshot(path=str(tmp_path / "operator.png"), full_page=True)

    # --- gone within the test, and the uploader's own photos stay
    for gone in (p.video, p.thumbnail, p.requester_embedding, p.requester_photo):
        assert DataItem.objects.get(pk=gone).purged_at is not None, gone
        assert api.get(f"/api/v1/items/{gone}/content").status_code == 410
    for stays in (p.own_photo, p.own_embedding):
        assert api.get(f"/api/v1/items/{stays}/content").status_code == 200

    # --- the evidence pack holds every element
    pdf = page.request.get(f"{live_server.url}/staff/takedowns/{td.pk}/evidence.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(" ".join(pg.extract_text().split()) for pg in PdfReader(io.BytesIO(pdf.body())).pages)
    td.refresh_from_db()
    for element in (number, "Public portal", "Jane Roe", "attestation", p.video, "I never agreed to it being made",
                    "jane@example.org", "Valid yes", "Intimate depiction yes", "olga", "T-TIDA", "to spare",
                    p.thumbnail, p.requester_embedding, "made on this platform", td.ref_pdq[:16],
                    "Statement of reasons to the uploader", "Outcome to the requester", "Uploader (content removed)",
                    "takedown.removed"):
        assert element in text, element

    # --- the notices are in the outbox
    outcome = OutboundMessage.objects.get(template="takedown_outcome", to="jane@example.org")
    assert number in outcome.subject_line and "removed" in outcome.body_text
    statement = OutboundMessage.objects.get(template="takedown_statement", to=p.uploader_email)
    assert "Article 17" in statement.body_text and p.video in statement.body_text
    page.goto(f"{live_server.url}/staff/outbox/")
    outbox = page.inner_text("main")
    assert "takedown_outcome" in outbox and "takedown_statement" in outbox
