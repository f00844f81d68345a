"""Staff sign-in: lockout per account and per client address, the same answers for known and unknown usernames,
the second factor (enrolment, codes, recovery codes, reset), and what the audit trail records (issue 7 §3)."""

from __future__ import annotations

import json
import re
from binascii import unhexlify
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dsr import signin, twofactor
from dsr.models import Event
from dsr.roles import Role, create_staff

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-42"
LOGIN = "/staff/login/"


@pytest.fixture
def op() -> User:
    return create_staff("op", PASSWORD, Role.OPERATOR)


def attempt(username: str, password: str, ip: str = "192.0.2.10", client: Client | None = None, **headers):
    client = client or Client()
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def signed_in(response) -> bool:
    return "_auth_user_id" in response.wsgi_request.session


def fail(username: str, times: int, ip: str = "192.0.2.10") -> list:
    return [attempt(username, f"wrong-guess-{i}", ip) for i in range(times)]


# --- lockout ------------------------------------------------------------------------------------------


def test_twenty_wrong_passwords_lock_the_account_and_the_right_password_is_then_refused(op):
    responses = fail("op", 20)

    assert all(not signed_in(r) for r in responses)
    assert responses[0].status_code == 200 and b"Wrong username or password." in responses[0].content
    assert responses[-1].status_code == 429 and b"Signing in is paused for 30 minutes" in responses[-1].content

    right = attempt("op", PASSWORD)
    assert right.status_code == 429 and not signed_in(right)
    assert b"Signing in is paused" in right.content


def test_the_account_lock_holds_from_every_address(op):
    for i in range(20):
        attempt("op", "wrong", ip=f"198.51.100.{i + 1}")
    right = attempt("op", PASSWORD, ip="203.0.113.200")
    assert right.status_code == 429 and not signed_in(right)


def test_the_address_lock_holds_for_every_username(op):
    for i in range(20):
        attempt(f"someone-{i}", "wrong", ip="198.51.100.7")
    from_there = attempt("op", PASSWORD, ip="198.51.100.7")
    assert from_there.status_code == 429 and not signed_in(from_there)

    elsewhere = attempt("op", PASSWORD, ip="203.0.113.9")
    assert elsewhere.status_code == 302 and signed_in(elsewhere)


def test_the_lock_lifts_after_the_lockout_period(op):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        fail("op", 20)
        assert attempt("op", PASSWORD).status_code == 429
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        right = attempt("op", PASSWORD)
    assert right.status_code == 302 and signed_in(right)


def _normalised(response, username: str) -> tuple[int, str]:
    body = response.content.decode()
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", body)
    return response.status_code, body.replace(f'value="{username}"', 'value="NAME"')


def test_a_known_and_an_unknown_username_get_the_same_answers_before_and_after_the_lock(op):
    known = [_normalised(r, "op") for r in fail("op", 12, ip="198.51.100.1")]
    known.append(_normalised(attempt("op", PASSWORD, ip="198.51.100.1"), "op"))
    unknown = [_normalised(r, "ghost") for r in fail("ghost", 12, ip="198.51.100.2")]
    unknown.append(_normalised(attempt("ghost", PASSWORD, ip="198.51.100.2"), "ghost"))

    assert [s for s, _ in known] == [200] * 9 + [429] * 4
    assert known == unknown


def test_the_admin_has_no_login_form_of_its_own_to_bypass_the_lockout(op):
    op.is_superuser = True
    op.save()
    client = Client()
    response = client.post("/admin/login/", {"username": "op", "password": PASSWORD}, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 302 and response.url.startswith(LOGIN + "?next=")
    assert not signed_in(response)
    chain = client.get("/admin/", follow=True).redirect_chain
    assert chain[-1][0] == LOGIN + "?next=/admin/"

    fail("op", 20)
    right = attempt("op", PASSWORD, client=client)
    assert right.status_code == 429 and client.get("/admin/").status_code == 302


# --- client address -----------------------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_without_a_configured_proxy(op, settings):
    settings.DSR_TRUSTED_PROXY_COUNT = 0
    for i in range(20):
        attempt(f"guess-{i}", "wrong", ip="192.0.2.50", HTTP_X_FORWARDED_FOR=f"203.0.113.{i + 1}")
    # Every attempt counted against the real peer address, whatever the header claimed.
    response = attempt("op", PASSWORD, ip="192.0.2.50", HTTP_X_FORWARDED_FOR="203.0.113.250")
    assert response.status_code == 429


def test_behind_a_configured_proxy_the_address_it_saw_is_counted(op, settings):
    settings.DSR_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for i in range(20):  # the attacker forges a left-hand entry; the proxy appends the real address
        attempt(f"guess-{i}", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 203.0.113.66")
    locked = attempt("op", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert locked.status_code == 429
    other_client = attempt("op", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.77")
    assert other_client.status_code == 302 and signed_in(other_client)


def test_client_ip_takes_the_entry_written_by_the_outermost_trusted_proxy(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5, 10.0.0.2")
    settings.DSR_TRUSTED_PROXY_COUNT = 0
    assert signin.client_ip(request) == "10.0.0.3"
    settings.DSR_TRUSTED_PROXY_COUNT = 2
    assert signin.client_ip(request) == "203.0.113.5"
    settings.DSR_TRUSTED_PROXY_COUNT = 4  # fewer entries than proxies: not through all of them
    assert signin.client_ip(request) == "10.0.0.3"


# --- audit ------------------------------------------------------------------------------------------


def test_failed_sign_ins_are_audited_with_ids_and_keyed_hashes_only(op):
    fail("op", 3)
    fail("ghost-Name", 2, ip="192.0.2.99")

    events = list(Event.objects.filter(kind="staff.sign_in_failed").order_by("id"))
    assert len(events) == 5
    known, unknown = events[0], events[-1]
    assert (known.object_type, known.object_id) == ("user", str(op.pk))
    assert known.data["username_ref"] == signin.username_ref("op") and known.data["username_ref"].startswith("usr_")
    assert (unknown.object_type, unknown.object_id) == ("", "")
    assert unknown.data["username_ref"] == signin.username_ref("ghost-name")
    assert unknown.data["ip_ref"] == signin.ip_ref("192.0.2.99")
    everything = json.dumps([[e.actor, e.object_id, e.data] for e in Event.objects.all()])
    for secret in ("ghost", "wrong-guess", "192.0.2.99", '"op"'):
        assert secret.lower() not in everything.lower()
    # axes' own table counts the keyed hash, not the typed name
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {
        signin.username_ref("op"), signin.username_ref("ghost-name")}
    assert "wrong-guess" not in json.dumps(list(AccessAttempt.objects.values_list("post_data", flat=True)))


def test_the_lockout_is_audited_once_and_attempts_during_it_are_only_counted(op):
    fail("op", 25)
    kinds = list(Event.objects.filter(kind__startswith="staff.sign_in").values_list("kind", flat=True))
    assert kinds == ["staff.sign_in_failed"] * 9 + ["staff.sign_in_locked"]
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == 25


def test_a_successful_sign_in_is_audited(op):
    attempt("op", PASSWORD)
    event = Event.objects.get(kind="staff.signed_in")
    assert (event.actor, event.object_id, event.data["second_factor"]) == (f"staff:{op.pk}", str(op.pk),
                                                                            "not required")


# --- second factor --------------------------------------------------------------------------------------


def _code(key_hex: str, at=None) -> str:
    generator = TOTP(unhexlify(key_hex), step=30, t0=0, digits=6, drift=0)
    generator.time = (at or timezone.now()).timestamp()
    return f"{generator.token():06d}"


@pytest.fixture
def required(settings):
    settings.DSR_REQUIRE_2FA = True


def _enrol(client: Client) -> tuple[str, list[str]]:
    page = client.get(reverse("staff-2fa-enrol"))
    assert page.status_code == 200 and b"<svg" in page.content
    key = client.session[twofactor.PENDING_KEY]
    done = client.post(reverse("staff-2fa-enrol"), {"otp_token": _code(key), "next": "/staff/"})
    assert done.status_code == 200, done.content
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", done.content.decode())
    return key, codes


def test_in_production_a_staff_user_without_a_device_must_enrol_before_anything_else(op, required):
    client = Client()
    response = attempt("op", PASSWORD, client=client)
    assert response.status_code == 302 and response.url.startswith(reverse("staff-2fa-enrol") + "?next=")
    assert client.get("/staff/").url.startswith(reverse("staff-2fa-enrol"))
    assert client.get("/admin/").url.startswith(reverse("staff-2fa-enrol"))

    wrong = client.post(reverse("staff-2fa-enrol"), {"otp_token": "000000"})
    assert wrong.status_code == 400 and not TOTPDevice.objects.exists()

    key, codes = _enrol(client)

    assert len(codes) == 10 and len(set(codes)) == 10 and all(len(c) == 19 for c in codes)
    assert client.get("/staff/").status_code == 200
    device = TOTPDevice.objects.get(user=op)
    assert device.confirmed and device.key == key
    assert StaticToken.objects.filter(device__user=op).count() == 10
    assert Event.objects.filter(kind="staff.second_factor_enrolled", object_id=str(op.pk)).count() == 1


def test_a_password_alone_cannot_add_a_second_authenticator(op, required):
    first = Client()
    attempt("op", PASSWORD, client=first)
    _enrol(first)

    thief = Client()
    response = attempt("op", PASSWORD, client=thief)
    assert response.url.startswith(reverse("staff-2fa-verify"))
    page = thief.get(reverse("staff-2fa-enrol"))
    assert page.status_code == 302 and page.url.startswith(reverse("staff-2fa-verify"))
    session = thief.session
    session[twofactor.PENDING_KEY] = "ab" * 20
    session.save()
    refused = thief.post(reverse("staff-2fa-enrol"), {"otp_token": _code("ab" * 20)})
    assert refused.status_code == 302 and TOTPDevice.objects.filter(user=op).count() == 1


def test_signing_in_again_needs_a_fresh_code_and_a_replayed_code_is_refused(op, required):
    client = Client()
    attempt("op", PASSWORD, client=client)
    key, _ = _enrol(client)
    used_code = _code(key)
    client.post(reverse("staff-logout"))

    response = attempt("op", PASSWORD, client=client)
    assert response.url.startswith(reverse("staff-2fa-verify"))
    assert client.get("/staff/").url.startswith(reverse("staff-2fa-verify"))

    replay = client.post(reverse("staff-2fa-verify"), {"otp_token": used_code})
    assert replay.status_code == 400 and client.get("/staff/").status_code == 302

    later = timezone.now() + timedelta(seconds=60)
    with time_machine.travel(later, tick=False):
        fresh = client.post(reverse("staff-2fa-verify"), {"otp_token": _code(key, at=later), "next": "/staff/"})
        assert fresh.status_code == 302 and fresh.url == "/staff/"
        assert client.get("/staff/").status_code == 200
    kinds = list(Event.objects.filter(kind__startswith="staff.second_factor").values_list("kind", flat=True))
    assert kinds == ["staff.second_factor_enrolled", "staff.second_factor_failed", "staff.second_factor_verified"]


def test_a_recovery_code_signs_in_once(op, required):
    client = Client()
    attempt("op", PASSWORD, client=client)
    _, codes = _enrol(client)
    client.post(reverse("staff-logout"))

    attempt("op", PASSWORD, client=client)
    used = client.post(reverse("staff-2fa-verify"), {"otp_token": codes[3].upper(), "next": "/staff/"})
    assert used.status_code == 302 and client.get("/staff/").status_code == 200
    assert StaticToken.objects.filter(device__user=op).count() == 9
    assert Event.objects.filter(kind="staff.second_factor_verified").last().data == {
        "device": "recovery", "recovery_codes_left": 9}
    client.post(reverse("staff-logout"))

    attempt("op", PASSWORD, client=client)
    again = client.post(reverse("staff-2fa-verify"), {"otp_token": codes[3]})
    assert again.status_code == 400 and client.get("/staff/").status_code == 302


def test_in_development_2fa_is_optional_but_an_enrolled_user_is_always_asked(op, settings):
    settings.DSR_REQUIRE_2FA = False
    client = Client()
    assert attempt("op", PASSWORD, client=client).url == "/staff/"
    assert client.get("/staff/").status_code == 200
    assert reverse("staff-2fa-enrol").encode() in client.get("/staff/").content  # offered, not forced

    _enrol(client)
    client.post(reverse("staff-logout"))
    assert attempt("op", PASSWORD, client=client).url.startswith(reverse("staff-2fa-verify"))


def test_reset_2fa_removes_the_devices_and_the_user_enrols_again(op, required):
    client = Client()
    attempt("op", PASSWORD, client=client)
    _enrol(client)
    assert client.get("/staff/").status_code == 200

    out = StringIO()
    call_command("reset_2fa", "op", stdout=out)

    assert "second factor reset" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=op).exists() and not StaticDevice.objects.filter(user=op).exists()
    assert client.get("/staff/").url.startswith(reverse("staff-2fa-enrol"))  # the open session lost its mark
    event = Event.objects.get(kind="staff.second_factor_reset")
    assert (event.actor, event.object_id) == ("cli", str(op.pk))
    _enrol(client)
    assert client.get("/staff/").status_code == 200


def test_reset_2fa_names_an_unknown_user_clearly(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("reset_2fa", "nobody")


def test_production_settings_always_require_2fa(tmp_path):
    from tests.test_settings_checks import _manage, _production_env

    env = _production_env(tmp_path, DSR_REQUIRE_2FA="0")
    done = _manage(env, "shell", "-c", "from django.conf import settings; print(settings.DSR_REQUIRE_2FA)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"
