"""The status page driving the other desks (issues 10 and 11), and the portal points no other test shows: an
export's progress while it builds, its download refused once expired, an erasure cancelled from the status page
in its grace window (and not after it), codes and link tokens stored only as keyed hashes, CSRF on every
status-page action, and every choice of the form filing the request it names."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from dsr import erasure, exports, portal, steps, vault
from dsr.models import Case, CaseState, ExportPackage, OutboundMessage, PortalPass, SubjectKey
from dsr.roles import Role, create_staff
from dsr.templatetags.portal_tags import in_words
from tests import factories
from tests.portal_helpers import code_from_outbox, file_request, form, link_from_outbox, path_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(django_capture_on_commit_callbacks):
    @contextmanager
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return run


def signed_in(jobs, email: str, **overrides) -> Client:
    client = Client()
    with jobs():
        assert file_request(client, email=email, **overrides).status_code == 303
    with jobs():
        assert client.post("/confirm/", {"code": code_from_outbox(email)}).status_code == 303
    return client


def signed_in_again(jobs, email: str) -> Client:
    """Back after the sign-in lapsed: 'send me a link', then the link from the mail."""
    client = Client()
    with jobs():
        assert client.post("/status/sign-in", {"email": email}).status_code == 303
    assert client.post(path_of(link_from_outbox(email, "portal_signin"))).status_code == 303
    return client


def article(page: str, case: Case) -> str:
    return re.search(rf'<article class="case" id="case-{case.pk}".*?</article>', page, re.S).group(0)


# --- exports on the status page (issue 10 §3 "progress shows … on the portal's status page"; issue 11 §3) ------


def test_the_status_page_shows_the_exports_progress_then_offers_the_download_until_it_expires(jobs):
    client = signed_in(jobs, "pia@example.com")
    case = Case.objects.get()
    subject = case.subject
    photo = factories.photo_item(subject, now=timezone.now(), seed=5)
    operator = create_staff("exp-op", "pw-for-tests-only", Role.OPERATOR)
    run = exports.start_export(case, actor=operator, now=timezone.now())  # not advanced: the build is pending
    package = ExportPackage.objects.get(case=case)
    ExportPackage.objects.filter(pk=package.pk).update(bytes_total=1000, bytes_done=420, files_total=3, files_done=1)

    building = article(client.get("/status/").content.decode(), case)
    assert "We are putting your data together: 42% done." in building
    assert '<progress max="100" value="42"' in building
    assert "Download your data" not in building
    assert client.post(f"/status/cases/{case.pk}/download").status_code == 410  # nothing to hand over yet

    steps.advance(run.pk)
    package.refresh_from_db()
    assert package.state == "ready"
    ready = article(client.get("/status/").content.decode(), case)
    assert "We are putting your data together" not in ready and "Download your data" in ready
    assert f"Available until {in_words(package.expires_at)}." in ready  # 7 days (issue 10 §3)
    assert package.expires_at - package.ready_at == timedelta(days=7)

    # Past its expiry (before the expiry job has even run) the offer is gone and the download refused.
    with time_machine.travel(package.expires_at + timedelta(seconds=1)):
        client = signed_in_again(jobs, "pia@example.com")  # a week later: the old sign-in has lapsed
        late = article(client.get("/status/").content.decode(), case)
        assert "Download your data" not in late
        response = client.post(f"/status/cases/{case.pk}/download")
        assert response.status_code == 410 and "already used or has expired" in response.content.decode()
    package.refresh_from_db()
    assert package.download_count == 0
    assert vault.read_item(photo)  # nothing else changed


def test_the_status_page_in_german_shows_the_progress_in_german(jobs):
    client = Client(HTTP_ACCEPT_LANGUAGE="de")
    with jobs():
        assert client.post("/", form(email="lena@example.de", country="DE")).status_code == 303
    with jobs():
        assert client.post("/confirm/", {"code": code_from_outbox("lena@example.de")}).status_code == 303
    case = Case.objects.get()
    exports.start_export(case, actor="t", now=timezone.now())
    page = client.get("/status/").content.decode()
    assert "Wir stellen Ihre Daten zusammen: 0 % erledigt." in page


# --- cancelling an erasure from the status page (issue 11 §3) ------------------------------------------------------


def _approved_erasure(jobs, email: str) -> tuple[Client, Case]:
    client = signed_in(jobs, email, choice="erasure")
    case = Case.objects.get(subject__email=email)
    assert case.verified_at is not None  # no account: the code proves the address on file
    erasure.approve_erasure(case, actor=create_staff(f"op-{email[:4]}", "pw-for-tests-only", Role.OPERATOR),
                            now=timezone.now())
    return client, case


def test_an_erasure_is_cancelled_from_the_status_page_in_its_grace_window_and_the_data_still_reads(jobs):
    client, case = _approved_erasure(jobs, "erin@example.com")
    subject = case.subject
    subject.refresh_from_db()
    assert subject.writes_blocked_at is not None  # the gate is up while the window runs
    page = article(client.get("/status/").content.decode(), case)
    assert "Until then you can still cancel." in page and "Cancel the deletion" in page

    response = client.post(f"/status/cases/{case.pk}/cancel-erasure")
    assert response.status_code == 303 and "done=erasure_cancelled" in response["Location"]
    case.refresh_from_db()
    subject.refresh_from_db()
    assert case.state == CaseState.CANCELLED and subject.writes_blocked_at is None
    assert erasure.erasure_status(case)["state"] == "cancelled"
    page = client.get(response["Location"]).content.decode()
    assert "The deletion is cancelled. Nothing was deleted." in page
    assert "You cancelled the deletion; nothing was deleted." in article(page, case)  # the history says so
    assert "Cancel the deletion" not in page
    photo = factories.photo_item(subject, now=timezone.now(), seed=8)  # writes work again
    assert vault.read_item(photo)
    assert SubjectKey.objects.get(subject=subject).destroyed_at is None
    assert client.post(f"/status/cases/{case.pk}/cancel-erasure").status_code == 404  # nothing left to cancel


def test_after_the_grace_window_the_status_page_offers_no_cancel_and_refuses_one(jobs):
    client, case = _approved_erasure(jobs, "late.erin@example.com")
    ends = erasure.active_erasure(case).grace_ends_at
    with time_machine.travel(ends + timedelta(seconds=1)):
        client = signed_in_again(jobs, "late.erin@example.com")
        page = article(client.get("/status/").content.decode(), case)
        assert "Cancel the deletion" not in page
        assert client.post(f"/status/cases/{case.pk}/cancel-erasure").status_code == 404
    case.refresh_from_db()
    assert case.state != CaseState.CANCELLED


# --- codes and links are stored hashed (issue 11 §2) ------------------------------------------------------------


def test_codes_and_link_tokens_are_stored_only_as_keyed_hashes(jobs):
    with jobs():
        assert file_request(Client(), email="hash@example.com").status_code == 303
    code = code_from_outbox("hash@example.com")
    token = link_from_outbox("hash@example.com").rstrip("/").rsplit("/", 1)[1]
    assert len(code) == 6 and len(token) >= 20
    [p] = PortalPass.objects.all()
    assert re.fullmatch(r"[0-9a-f]{64}", p.code_hash) and re.fullmatch(r"[0-9a-f]{64}", p.token_hash)
    with connection.cursor() as cur:  # the whole row as the database holds it
        cur.execute(f"SELECT * FROM {PortalPass._meta.db_table}")
        stored = " ".join(str(v) for row in cur.fetchall() for v in row)
    assert token not in stored and code not in stored
    assert p.expires_at - p.created_at <= timedelta(minutes=60)  # short-lived


# --- CSRF on every status-page action (issue 11 §4 "CSRF everywhere") -----------------------------------------------


def test_every_status_page_action_needs_its_csrf_token(jobs):
    client = signed_in(jobs, "csrf@example.com")
    case = Case.objects.get()
    client.handler.enforce_csrf_checks = True
    for action in ("confirm", "withdraw", "reply", "cancel-erasure", "download"):
        response = client.post(f"/status/cases/{case.pk}/{action}", {"body": "hello"})
        assert response.status_code == 403 and b"Please try again" in response.content, action
    assert client.post("/status/sign-out").status_code == 403
    case.refresh_from_db()
    assert case.state != CaseState.CANCELLED and not case.thread.exists()
    # The same action with its token goes through.
    page = client.get("/status/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(f"/status/cases/{case.pk}/reply", {"body": "hello", "csrfmiddlewaretoken": token})
    assert response.status_code == 303 and case.thread.count() == 1


# --- every choice of the form (issue 11 §1) -----------------------------------------------------------------------


@pytest.mark.parametrize(("choice", "extra", "kind", "regimes"), [
    ("access", {}, "access", ["eu_gdpr"]),
    ("portability", {}, "portability", ["eu_gdpr"]),
    ("erasure", {}, "erasure", ["eu_gdpr"]),
    ("rectification", {"details": "My surname is Smyth"}, "rectification", ["eu_gdpr"]),
    ("objection", {"purpose": "marketing"}, "direct_marketing_objection", ["eu_gdpr"]),
    ("restriction", {"details": "Checking whether my birthday is right"}, "restriction", ["eu_gdpr"]),
    ("opt_out", {"country": "US", "us_state": "CA"}, "opt_out_sale_sharing", ["ccpa"]),
    ("limit", {"country": "US", "us_state": "CA"}, "limit_sensitive", ["ccpa"]),
    ("complaint", {"country": "GB", "details": "No answer for weeks"}, "complaint", ["uk_gdpr"]),
    ("depicted", {"content_ref": "https://platform.example/v/1", "good_faith": "on", "signature": "D. Person"},
     "erasure", ["eu_gdpr"]),
])
def test_every_choice_on_the_form_files_the_request_it_names(jobs, choice, extra, kind, regimes):
    home = Client().get("/").content.decode()
    assert f'id="choice-{choice}"' in home
    with jobs():
        response = file_request(Client(), choice=choice, email=f"{choice}@example.com", **extra)
    assert response.status_code == 303, response.content.decode()[:2000]
    case = Case.objects.get()
    assert (case.kind, case.regimes, case.channel) == (kind, regimes, "web_form")
    assert OutboundMessage.objects.filter(to=f"{choice}@example.com", template="portal_code").count() == 1
    if choice == "depicted":
        assert case.intake == portal.DEPICTED_INTAKE
