"""Staff sign-in and the admin in a real browser (Debian's chromium through Playwright): in production mode a
sign-in needs a TOTP code (issue 7 §3), and an approver edits the processing register in the admin (§9)."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from dsr.models import Event, Recipient
from dsr.roles import Role, create_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _code(secret: bytes) -> str:
    generator = TOTP(secret, step=30, t0=0, digits=6, drift=0)
    generator.time = timezone.now().timestamp()
    return f"{generator.token():06d}"


def _sign_in(page, base: str, username: str, password: str, start: str = "/staff/") -> None:
    page.goto(base + start)
    assert "/staff/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def test_in_production_mode_a_staff_sign_in_needs_a_totp_code(live_server, page, settings, tmp_path):
    settings.DSR_REQUIRE_2FA = True  # what DSR_ENV=production always sets
    base = live_server.url
    create_staff("nina", "nina-operator-pass", Role.OPERATOR)

    # A first sign-in without an authenticator leads to enrolment, whatever page was asked for.
    _sign_in(page, base, "nina", "nina-operator-pass")
    page.wait_for_url(re.compile(r".*/staff/two-factor/enrol/.*"))
    assert page.locator(".qr svg").count() == 1  # drawn by the server, no script, no remote service
    page.goto(base + "/staff/")
    page.wait_for_url(re.compile(r".*/staff/two-factor/enrol/.*"))
    typed = page.locator("#manual-key").inner_text().replace(" ", "")
    secret = b32decode(typed + "=" * (-len(typed) % 8))
    page.screenshot(path=str(tmp_path / "enrol.png"), full_page=True)
    page.fill("#id_otp_token", _code(secret))
    page.click("button:has-text('Turn on two-factor authentication')")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    page.click("a:has-text('Continue')")
    page.wait_for_url(re.compile(r".*/staff/$"))
    assert page.locator("table.queue, .empty").count() >= 1

    page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r".*/staff/login/.*"))

    # Signing in again: the password alone reaches nothing but the code page.
    _sign_in(page, base, "nina", "nina-operator-pass")
    page.wait_for_url(re.compile(r".*/staff/login/verify/.*"))
    page.goto(base + "/staff/")
    assert "/staff/login/verify/" in page.url
    page.fill("#id_otp_token", codes[0])
    page.click("button:has-text('Verify')")
    page.wait_for_url(re.compile(r".*/staff/$"))
    assert "Recovery code used; 9 left" in page.locator("ul.messages").inner_text()


def test_an_enrolled_user_enters_the_code_from_their_authenticator(live_server, page, settings):
    settings.DSR_REQUIRE_2FA = True
    base = live_server.url
    user = create_staff("omar", "omar-operator-pass", Role.OPERATOR)
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)

    _sign_in(page, base, "omar", "omar-operator-pass")
    page.wait_for_url(re.compile(r".*/staff/login/verify/.*"))
    page.goto(base + "/staff/outbox/")
    page.wait_for_url(re.compile(r".*/staff/login/verify/.*"))
    page.fill("#id_otp_token", _code(device.bin_key))
    page.click("button:has-text('Verify')")
    page.wait_for_url(re.compile(r".*/staff/outbox/$"))
    assert Event.objects.filter(kind="staff.second_factor_verified", object_id=str(user.pk)).exists()


def test_an_approver_edits_a_recipient_in_the_processing_register_through_the_browser(live_server, page, tmp_path):
    base = live_server.url
    dpo = create_staff("dora", "dora-approver-pass", Role.APPROVER)
    recipient = Recipient.objects.order_by("name").first()  # the register as migration 0002 seeds it
    assert recipient is not None

    _sign_in(page, base, "dora", "dora-approver-pass", start="/admin/")
    page.wait_for_url(re.compile(r".*/admin/$"))
    page.click("a:has-text('Recipients')")
    page.wait_for_url(re.compile(r".*/admin/dsr/recipient/$"))
    page.click(f"a:text-is('{recipient.name}')")
    page.wait_for_url(re.compile(rf".*/admin/dsr/recipient/{recipient.pk}/change/$"))
    page.fill("#id_contact", "privacy-desk@processor.example")
    page.fill("#id_transfer_safeguard", "SCCs (2021/914), module 2, plus supplementary measures")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r".*/admin/dsr/recipient/$"))
    assert "was changed successfully" in page.locator("ul.messagelist").inner_text()
    page.screenshot(path=str(tmp_path / "register.png"), full_page=True)

    recipient.refresh_from_db()
    assert recipient.contact == "privacy-desk@processor.example"
    assert recipient.transfer_safeguard.startswith("SCCs (2021/914)")
    event = Event.objects.get(kind="register.changed", object_type="recipient", object_id=str(recipient.pk))
    assert event.actor == f"staff:{dpo.pk}" and event.data == {"fields": ["contact", "transfer_safeguard"]}
