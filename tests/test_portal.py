"""The public portal (issue 11): anyone files a request without an account, proves it is theirs only through the
address on file, and follows it — and an impostor learns nothing and changes nothing."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsr import portal, vault, workflow
from dsr.models import Case, CaseMessage, CaseState, Event, OutboundMessage, PortalFiling, PortalPass, Subject
from dsr.roles import Role, create_staff
from tests.portal_helpers import (
    code_from_outbox,
    file_request,
    form,
    link_from_outbox,
    mask_csrf,
    path_of,
)

pytestmark = pytest.mark.django_db

HEADERS_COMPARED = ("Content-Type", "Content-Language", "Cache-Control", "Content-Security-Policy",
                    "Referrer-Policy", "Vary", "Location", "X-Frame-Options", "X-Content-Type-Options")


@pytest.fixture
def jobs(django_capture_on_commit_callbacks):
    """Runs what a request enqueued once it committed (the filing job, then mail delivery), as the worker would."""

    @contextmanager
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return run


def filed(client: Client, jobs, **overrides):
    with jobs():
        response = file_request(client, **overrides)
    assert response.status_code == 303, response.content.decode()[:3000]
    return response


def signed_in_client(jobs, email: str, **overrides) -> Client:
    client = Client()
    filed(client, jobs, email=email, **overrides)
    with jobs():
        assert client.post("/confirm/", {"code": code_from_outbox(email)}).status_code == 303
    return client


# --- filing and confirming -------------------------------------------------------------------------------------


def test_a_person_files_an_access_request_confirms_with_the_code_and_sees_it_with_its_due_date(jobs):
    client = Client()
    response = filed(client, jobs, email="Ada@Example.org", details="Everything since 2024, please.")
    assert response["Location"] == "/confirm/"
    assert "Check your e-mail" in client.get("/confirm/").content.decode()

    case = Case.objects.get()
    assert (case.kind, case.regimes, case.channel, case.state) == ("access", ["eu_gdpr"], "web_form",
                                                                  CaseState.AWAITING_VERIFICATION)
    assert case.subject.email == "ada@example.org" and case.acknowledged_at is not None
    # One message, to the address (normalised), with the code, the link, the reference and the due date.
    [message] = OutboundMessage.objects.all()
    assert message.to == "ada@example.org" and message.template == "portal_code"
    assert case.reference in message.body_text and "/link/" in message.body_text
    assert len(mail.outbox) == 1

    with jobs():
        response = client.post("/confirm/", {"code": code_from_outbox("ada@example.org")})
    assert response.status_code == 303 and response["Location"] == "/status/"
    case.refresh_from_db()
    assert case.verified_at is not None and case.verification_method == "email_code" and case.verified_by is None
    page = client.get("/status/").content.decode()
    assert case.reference in page
    due = f"{case.due_on:%A} {case.due_on.day} {case.due_on:%B %Y}"
    assert f"We will answer by <strong>{due}</strong>" in page
    assert "General Data Protection Regulation (Article 12(3))" in page


def test_known_and_unknown_addresses_get_byte_identical_pages_also_when_mail_fails(jobs, settings):
    """security.md: 'do you hold data on X?' — the submit and verify answers do not tell."""
    settings.EMAIL_BACKEND = "tests.portal_helpers.RaisingBackend"
    now = timezone.now()
    vault.create_subject(actor="t", now=now, email="known@example.com", account_id="acct-1")
    seen: dict[str, list] = {}
    for address in ("known@example.com", "unknown@example.com"):
        client = Client(enforce_csrf_checks=True)
        page = client.get("/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
        with jobs():
            submit = client.post("/", form(email=address, csrfmiddlewaretoken=token))
        confirm_page = client.get(submit["Location"])
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm_page.content.decode()).group(1)
        real = code_from_outbox(address)
        wrong = client.post("/confirm/", {"code": "999999" if real != "999999" else "111111",
                                          "csrfmiddlewaretoken": token})
        right = client.post("/confirm/", {"code": real, "csrfmiddlewaretoken": token})
        seen[address] = [submit, confirm_page, wrong, right]
    # The mail server really was down for both: the messages are queued, not sent.
    assert set(OutboundMessage.objects.values_list("last_error", flat=True)) == {"ConnectionRefusedError"}
    assert not mail.outbox
    known, unknown = seen["known@example.com"], seen["unknown@example.com"]
    for name, a, b in zip(("submit", "confirmation page", "wrong code", "right code"), known, unknown, strict=True):
        assert a.status_code == b.status_code, name
        for header in HEADERS_COMPARED:
            assert a.headers.get(header) == b.headers.get(header), (name, header)
        body_a, body_b = mask_csrf(a.content), mask_csrf(b.content)
        first_difference = next((i for i, (x, y) in enumerate(zip(body_a, body_b)) if x != y), None)
        assert body_a == body_b, f"{name}: bodies differ at byte {first_difference}"
    assert known[2].status_code == 400 and b"That code is not right" in known[2].content
    assert known[3].status_code == 303 and known[3]["Location"] == "/status/"


def test_the_same_submission_twice_makes_one_case_and_one_message(jobs):
    client = Client()
    filed(client, jobs, email="twice@example.com")
    filed(Client(), jobs, email="TWICE@example.com ")
    assert Case.objects.count() == 1 and PortalFiling.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


def test_the_code_goes_to_the_address_on_file_never_to_another_one(jobs):
    """An agent gives the subject's address: the code goes there, never to the agent, and the agent learns no more
    than the page every filer sees."""
    now = timezone.now()
    vault.create_subject(actor="t", now=now, email="subject@example.com")
    agent = Client()
    with jobs():
        response = agent.post("/", form(email="subject@example.com", on_behalf="on", agent_name="Agency Ltd",
                                        agent_email="agent@agency.example", signature="Ann Agent",
                                        mandate=_pdf_upload()))
    assert response.status_code == 303
    assert {m.to for m in OutboundMessage.objects.all()} == {"subject@example.com"}
    assert not [m for m in mail.outbox if "agent@agency.example" in m.to]


# --- codes and links ---------------------------------------------------------------------------------------------


def test_guessing_codes_locks_the_code_out_after_the_limit(jobs, settings):
    client = Client()
    filed(client, jobs, email="guess@example.com")
    real = code_from_outbox("guess@example.com")
    wrong = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c != real]
    for attempt in range(settings.DSR_PORTAL_CODE_MAX_TRIES):
        response = client.post("/confirm/", {"code": wrong[attempt]})
        assert response.status_code == 400
    assert "Too many wrong codes" in response.content.decode()
    # Locked: even the right code no longer works, and nothing was verified.
    response = client.post("/confirm/", {"code": real})
    assert response.status_code == 400 and "Too many wrong codes" in response.content.decode()
    assert Case.objects.get().verified_at is None
    assert Event.objects.filter(kind="portal.code_refused", data__locked=True).exists()
    # A new code (sent to the address on file) works.
    with jobs():
        assert client.post("/confirm/resend").status_code == 303
    with jobs():
        assert client.post("/confirm/", {"code": code_from_outbox("guess@example.com")}).status_code == 303
    assert Case.objects.get().verified_at is not None


def test_a_used_or_expired_code_is_refused(jobs, settings):
    client = Client()
    filed(client, jobs, email="used@example.com")
    code = code_from_outbox("used@example.com")
    with jobs():
        assert client.post("/confirm/", {"code": code}).status_code == 303
    again = client.post("/confirm/", {"code": code})
    assert again.status_code == 400 and "already used" in again.content.decode()

    late = Client()
    filed(late, jobs, email="late@example.com")
    code = code_from_outbox("late@example.com")
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.DSR_PORTAL_CODE_MINUTES, seconds=1)):
        response = late.post("/confirm/", {"code": code})
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert Case.objects.get(subject__email="late@example.com").verified_at is None


def test_a_link_works_once_and_not_after_it_expires(jobs, settings):
    filed(Client(), jobs, email="link@example.com")
    url = path_of(link_from_outbox("link@example.com"))
    browser = Client()
    # Opening the link (as a mail scanner would) uses nothing up; continuing does.
    assert browser.get(url).status_code == 200 and browser.get(url).status_code == 200
    with jobs():
        response = browser.post(url)
    assert response.status_code == 303 and response["Location"] == "/status/"
    assert Case.objects.get().verified_at is not None
    assert Client().post(url).status_code == 410
    assert Client().get(url).status_code == 410

    filed(Client(), jobs, email="stale@example.com")
    stale = path_of(link_from_outbox("stale@example.com"))
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.DSR_PORTAL_CODE_MINUTES, seconds=1)):
        assert Client().post(stale).status_code == 410
    assert Client().get("/link/not-a-real-token/").status_code == 410


def test_a_link_for_one_subject_shows_nothing_of_another(jobs):
    alice = signed_in_client(jobs, "alice@example.com")
    signed_in_client(jobs, "bob@example.com", choice="erasure")
    bob_case = Case.objects.get(subject__email="bob@example.com")
    page = alice.get("/status/").content.decode()
    assert Case.objects.get(subject__email="alice@example.com").reference in page
    assert bob_case.reference not in page and "bob@" not in page
    for action in ("withdraw", "reply", "confirm", "cancel-erasure", "download"):
        response = alice.post(f"/status/cases/{bob_case.pk}/{action}", {"body": "hello"})
        assert response.status_code == 404, action
    bob_case.refresh_from_db()
    assert bob_case.state != CaseState.CANCELLED and not CaseMessage.objects.exists()
    # Without a sign-in there is nothing at all.
    assert Client().post(f"/status/cases/{bob_case.pk}/withdraw").status_code == 404
    assert "Follow your requests" in Client().get("/status/").content.decode()


def test_a_sign_in_link_is_sent_only_for_an_address_with_requests_and_the_page_is_the_same(jobs):
    filed(Client(), jobs, email="follow@example.com")
    OutboundMessage.objects.all().delete()
    pages = []
    for address in ("follow@example.com", "nobody@example.com"):
        with jobs():
            response = Client().post("/status/sign-in", {"email": address})
        pages.append((response.status_code, response["Location"]))
    assert pages[0] == pages[1] == (303, "/status/?sent=1")
    assert list(OutboundMessage.objects.values_list("to", "template")) == [("follow@example.com", "portal_signin")]
    browser = Client()
    url = path_of(link_from_outbox("follow@example.com", "portal_signin"))
    assert browser.post(url).status_code == 303
    assert Case.objects.get().reference in browser.get("/status/").content.decode()


# --- who must prove what -------------------------------------------------------------------------------------------


def _handoff(api, subject: Subject, *, reauth: datetime | None = None):
    when = (reauth or timezone.now()).isoformat()
    return api.post("/api/v1/portal/handoff", {"subject": {"account_id": subject.account_id},
                                               "reauthenticated_at": when}, content_type="application/json")


def test_an_account_holder_confirms_access_through_the_platforms_hand_off_not_the_code_alone(jobs, api):
    now = timezone.now()
    holder = vault.create_subject(actor="t", now=now, email="holder@example.com", account_id="acct-7")
    other = vault.create_subject(actor="t", now=now, email="other@example.com", account_id="acct-8")
    workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=other, received_at=now, actor="t", now=now)
    client = signed_in_client(jobs, "holder@example.com")
    case = Case.objects.get(subject=holder)
    assert case.verified_at is None  # the code proves the address, not the account
    page = client.get("/status/").content.decode()
    assert "please confirm this request in your account" in page
    assert client.post(f"/status/cases/{case.pk}/confirm").status_code == 409

    response = _handoff(api, holder)
    assert response.status_code == 201, response.content
    url = path_of(response.json()["url"])
    browser = Client()
    assert b"Continue to your privacy requests" in browser.get(url).content
    assert browser.post(url).status_code == 303
    page = browser.get("/status/").content.decode()
    assert case.reference in page and Case.objects.get(subject=other).reference not in page
    assert browser.post(f"/status/cases/{case.pk}/confirm").status_code == 303
    case.refresh_from_db()
    assert case.verification_method == "account_reauth" and case.verified_at is not None
    # Once: the same link is refused; and it expires.
    assert Client().post(url).status_code == 410
    late = path_of(_handoff(api, holder).json()["url"])
    with time_machine.travel(timezone.now() + timedelta(seconds=301)):
        assert Client().post(late).status_code == 410
        assert Client().get(late).status_code == 410
    # A hand-off link is not an e-mail link and vice versa.
    fresh = path_of(_handoff(api, holder).json()["url"])
    assert Client().post(fresh.replace("/handoff/", "/link/")).status_code == 410


def test_the_hand_off_needs_its_scope_and_a_fresh_re_authentication(api, db):
    from io import StringIO

    from django.core.management import call_command

    now = timezone.now()
    holder = vault.create_subject(actor="t", now=now, email="h@example.com", account_id="acct-9")
    assert _handoff(api, holder, reauth=now - timedelta(minutes=10)).status_code == 422
    assert _handoff(api, holder, reauth=now + timedelta(minutes=10)).status_code == 422
    missing = api.post("/api/v1/portal/handoff", {"subject": {"account_id": "nope"},
                                                  "reauthenticated_at": now.isoformat()},
                       content_type="application/json")
    assert missing.status_code == 404
    out = StringIO()
    call_command("create_api_token", "reader", "--scope", "cases:read", stdout=out)
    narrow = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    response = _handoff(narrow, holder)
    assert response.status_code == 403 and response.json()["error"]["required_scope"] == "portal:handoff"
    assert not PortalPass.objects.filter(kind="handoff").exists()


def _pdf_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("mandate.pdf", b"%PDF-1.4\nI, Sam Subject, authorise Agency Ltd. SIGNED-MANDATE-MARKER\n",
                             content_type="application/pdf")


def test_an_agents_request_goes_to_an_operator_and_the_agent_never_receives_anything(jobs):
    agent = Client()
    with jobs():
        response = agent.post("/", form(choice="access", email="sam@example.com", on_behalf="on",
                                        agent_name="Agency Ltd", agent_email="agent@agency.example",
                                        signature="Ann Agent", mandate=_pdf_upload()))
    assert response.status_code == 303
    case = Case.objects.get()
    assert case.filed_by == "agent" and case.agent_name == "Agency Ltd"
    filing = PortalFiling.objects.get()
    assert b"SIGNED-MANDATE-MARKER" not in bytes(filing.mandate_sealed)
    assert b"SIGNED-MANDATE-MARKER" in portal.open_mandate(filing)
    # The agent's browser has no way in: the code went to the subject.
    assert agent.post("/confirm/", {"code": "123456"}).status_code == 400
    assert "Follow your requests" in agent.get("/status/").content.decode()
    assert agent.post(f"/status/cases/{case.pk}/download").status_code == 404
    # The subject confirms directly; identity still waits for an operator to check the mandate (CCPA §7063).
    subject = Client()
    with jobs():
        assert subject.post(path_of(link_from_outbox("sam@example.com"))).status_code == 303
    case.refresh_from_db()
    assert case.verified_at is None and case.state == CaseState.AWAITING_VERIFICATION
    page = subject.get("/status/").content.decode()
    assert "checking the permission you gave your agent" in page and "filed for you by Agency Ltd" in page
    assert Event.objects.filter(kind="case.confirmed_by_subject", object_id=str(case.pk), data__agent=True).exists()
    # Nothing was ever sent to the agent.
    assert not OutboundMessage.objects.filter(to="agent@agency.example").exists()
    assert not [m for m in mail.outbox if "agent@agency.example" in m.to]


def test_an_operator_reads_the_agents_mandate_as_an_attachment(jobs):
    with jobs():
        Client().post("/", form(email="sam@example.com", on_behalf="on", agent_name="Agency Ltd",
                                agent_email="agent@agency.example", signature="Ann Agent", mandate=_pdf_upload()))
    staff = Client()
    staff.force_login(create_staff("op", "pw-operator-123", Role.OPERATOR))
    filing = PortalFiling.objects.get()
    page = staff.get(reverse("staff-case", args=[filing.case_id])).content.decode()
    assert "operator review" in page and "mandate (application/pdf" in page
    response = staff.get(reverse("staff-filing-mandate", args=[filing.pk]))
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    assert b"SIGNED-MANDATE-MARKER" in response.content and response["Cache-Control"] == "no-store"
    assert Event.objects.filter(kind="portal.mandate_viewed").exists()


def test_a_depicted_person_files_an_erasure_of_their_face_data_marked_for_the_operator_queue(jobs):
    client = Client()
    filed(client, jobs, choice="depicted", email="dora@example.com", country="DE",
          content_ref="https://platform.example/v/abc123 — the kissing video at 0:05", good_faith="on",
          signature="Dora Depicted")
    case = Case.objects.get()
    assert (case.kind, case.intake, case.regimes) == ("erasure", "depicted_person", ["eu_gdpr"])
    assert case.subject.kind == Subject.Kind.DEPICTED
    assert "platform.example/v/abc123" in case.details and "face data" in case.details
    with jobs():
        client.post("/confirm/", {"code": code_from_outbox("dora@example.com")})
    case.refresh_from_db()
    assert case.verified_at is None and case.state == CaseState.AWAITING_VERIFICATION  # an operator decides
    staff = Client()
    staff.force_login(create_staff("op", "pw-operator-123", Role.OPERATOR))
    queue = staff.get(reverse("staff-queue")).content.decode()
    row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*{case.reference}(?:(?!</tr>).)*</tr>", queue, re.S).group(0)
    assert "Depicted person" in row


def test_a_depicted_request_needs_where_it_is_the_statement_and_a_signature():
    response = file_request(Client(), choice="depicted", email="d@example.com")
    page = response.content.decode()
    assert response.status_code == 400
    for message in ("Tell us where the photo or video is.", "Please confirm this statement.",
                    "Type your full name as your signature."):
        assert message in page
    assert not PortalFiling.objects.exists()


# --- Global Privacy Control -----------------------------------------------------------------------------------------


def test_a_browser_sending_gpc_gets_an_opt_out_case_that_completes_without_verification(jobs):
    client = Client(HTTP_SEC_GPC="1")
    with jobs():
        response = client.post("/", form(email="gpc@example.com", country="US", us_state="CA"))
    assert response.status_code == 303
    assert "Global Privacy Control" in client.get("/confirm/").content.decode()
    opt_out = Case.objects.get(kind="opt_out_sale_sharing")
    assert (opt_out.channel, opt_out.state, opt_out.regimes) == ("gpc", CaseState.COMPLETED, ["ccpa"])
    assert opt_out.verified_at is None and opt_out.outcome == "complied_full"
    access = Case.objects.get(kind="access")
    assert access.state == CaseState.AWAITING_VERIFICATION and access.regimes == ["ccpa"]
    assert portal.opted_out(opt_out.subject)
    # Once per subject: another signalled visit records nothing new.
    with jobs():
        client.post("/", form(email="gpc@example.com", country="US", us_state="CA", choice="rectification",
                              details="My name is spelt wrong"))
    assert Case.objects.filter(kind="opt_out_sale_sharing").count() == 1


def test_a_signed_in_person_whose_browser_sends_gpc_has_the_opt_out_recorded(jobs):
    client = signed_in_client(jobs, "later@example.com")
    assert not Case.objects.filter(kind="opt_out_sale_sharing").exists()
    with jobs():
        page = client.get("/status/", HTTP_SEC_GPC="1").content.decode()
    case = Case.objects.get(kind="opt_out_sale_sharing")
    assert case.state == CaseState.COMPLETED and case.verified_at is None
    assert "Do not sell or share my data" in page  # shown to the person as done


def test_the_do_not_sell_choice_completes_at_once_without_verification(jobs):
    filed(Client(), jobs, choice="opt_out", email="ca@example.com", country="US", us_state="CA")
    case = Case.objects.get()
    assert case.state == CaseState.COMPLETED and case.verified_at is None
    message = OutboundMessage.objects.get(template="portal_code")
    assert "We do not ask you to prove who you are" in message.body_text


# --- what the law is and when it is due -----------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "state", "choice", "expected"), [
    ("DE", "", "access", ["eu_gdpr"]),
    ("GB", "", "erasure", ["uk_gdpr"]),
    ("US", "CA", "access", ["ccpa"]),
    ("US", "CA", "restriction", ["eu_gdpr"]),  # no CCPA restriction: the controller's own regime applies
    ("US", "OTHER", "access", ["eu_gdpr"]),
    ("ZZ", "", "complaint", ["eu_gdpr"]),
    ("US", "CA", "opt_out", ["ccpa"]),
])
def test_the_regime_follows_where_the_person_lives(country, state, choice, expected):
    kind = portal.resolve_kind(portal.Submission(choice=choice, email="x@example.com", country=country))
    assert portal.infer_regimes(kind, country, state) == expected


def test_do_not_sell_is_offered_to_a_gdpr_person_as_the_marketing_objection_instead():
    response = file_request(Client(), choice="opt_out", country="FR")
    assert response.status_code == 400
    assert "right under California law" in response.content.decode()
    assert not PortalFiling.objects.exists()


@pytest.mark.parametrize(("purpose", "kind"), [
    ("marketing", "direct_marketing_objection"),
    ("face_matching", "consent_withdrawal"),
    ("security", "objection"),
])
def test_an_objection_names_a_purpose_of_the_register_and_engages_its_right(jobs, purpose, kind):
    filed(Client(), jobs, choice="objection", purpose=purpose, email=f"{purpose}@example.com")
    case = Case.objects.get()
    assert case.kind == kind and f"Purpose objected to: {purpose}" in case.details


def test_contract_purposes_are_not_offered_for_objection():
    page = Client().get("/").content.decode()
    assert 'value="marketing"' in page and 'value="service_delivery"' not in page


def test_a_uk_complaint_runs_on_the_uk_cmp_clock_and_the_page_says_so(jobs):
    with time_machine.travel(datetime(2026, 7, 3, 10, 0, tzinfo=UTC), tick=True):
        filed(Client(), jobs, email="uk@example.com", choice="complaint", country="GB",
              details="You ignored my e-mails for weeks.")
        client = Client()
        message = OutboundMessage.objects.get(template="portal_code")
        assert "Your code" not in message.subject_line  # a complaint needs no proof of identity: a link to follow it
        assert client.post(path_of(link_from_outbox("uk@example.com"))).status_code == 303
        case = Case.objects.get()
        assert case.regimes == ["uk_gdpr"] and case.kind == "complaint" and case.due_rule == "P-CMP"
        rules = set(case.deadlines.values_list("rule", flat=True))
        assert rules == {"UK-CMP", "P-CMP"}
        page = client.get("/status/").content.decode()
    assert "Data Protection Act 2018, section 164A" in page
    assert "We acknowledged your complaint." in page  # the code e-mail was the acknowledgement
    assert "this is our own commitment" in page


def test_an_operator_can_correct_the_regime_the_portal_inferred(jobs):
    filed(Client(), jobs, email="moved@example.com", country="IE")
    case = Case.objects.get()
    staff = Client()
    staff.force_login(create_staff("op", "pw-operator-123", Role.OPERATOR))
    response = staff.post(reverse("staff-case-regimes", args=[case.pk]),
                          {"regimes": ["uk_gdpr"], "reason": "Lives in Belfast; gave Ireland by mistake."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.regimes == ["uk_gdpr"] and case.due_rule == "UK-DSR"
    assert Event.objects.filter(kind="case.regimes_changed", object_id=str(case.pk)).exists()


# --- following a request ----------------------------------------------------------------------------------------


def test_an_operators_question_reaches_the_requester_who_answers_on_the_status_page(jobs):
    client = signed_in_client(jobs, "q@example.com", choice="rectification", details="Wrong birthday")
    case = Case.objects.get()
    staff = Client()
    staff.force_login(create_staff("op", "pw-operator-123", Role.OPERATOR))
    with jobs():
        staff.post(reverse("staff-case-message", args=[case.pk]), {"body": "Which date is right?"})
    question = OutboundMessage.objects.get(template="portal_question")
    assert question.to == "q@example.com" and "Which date is right?" in question.body_text
    assert "Which date is right?" in client.get("/status/").content.decode()
    assert client.post(f"/status/cases/{case.pk}/reply", {"body": "<b>12 May</b>"}).status_code == 303
    console = staff.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert "&lt;b&gt;12 May&lt;/b&gt;" in console and "Which date is right?" in console
    assert Event.objects.filter(kind="case.message_from_subject").exists()


def test_a_request_someone_else_filed_in_your_name_can_be_withdrawn_and_is_not_confirmed_by_your_code(jobs):
    mine = Client()
    filed(mine, jobs, email="me@example.com", choice="access")
    filed(Client(), jobs, email="me@example.com", choice="erasure")  # an impostor
    with jobs():
        assert mine.post("/confirm/", {"code": code_from_outbox_for("me@example.com", "access")}).status_code == 303
    erasure = Case.objects.get(kind="erasure")
    assert erasure.verified_at is None  # the code confirmed only the filing it was sent for
    assert mine.post(f"/status/cases/{erasure.pk}/withdraw").status_code == 303
    erasure.refresh_from_db()
    assert erasure.state == CaseState.CANCELLED


def code_from_outbox_for(address: str, kind: str) -> str:
    case = Case.objects.get(subject__email=address, kind=kind)
    message = OutboundMessage.objects.get(to=address, template="portal_code", case=case)
    return re.search(r"^\s+(\d{6})$", message.body_text, re.M).group(1)


def test_mail_to_one_subject_is_limited_per_hour(jobs, settings):
    settings.DSR_PORTAL_MAILS_PER_SUBJECT_HOUR = 2
    for n in range(4):
        filed(Client(), jobs, email="flood@example.com", details=f"variant {n}")
    assert OutboundMessage.objects.filter(to="flood@example.com").count() == 2
    assert Case.objects.filter(subject__email="flood@example.com").count() >= 1
    assert Event.objects.filter(kind="portal.mail_suppressed").exists()


# --- quality: forms, CSRF, headers --------------------------------------------------------------------------------


def test_form_errors_are_listed_and_tied_to_their_fields():
    response = file_request(Client(), email="not-an-address", choice=None)
    page = response.content.decode()
    assert response.status_code == 400
    assert 'class="error-summary"' in page and 'href="#choice-group"' in page and 'href="#id_email"' in page
    assert re.search(r'<input[^>]*aria-describedby="id_email-hint id_email-error"[^>]*aria-invalid="true"', page) or \
        re.search(r'<input[^>]*aria-invalid="true"[^>]*aria-describedby="id_email-hint id_email-error"', page)
    assert 'id="id_email-error"' in page


def test_every_portal_form_needs_its_csrf_token():
    client = Client(enforce_csrf_checks=True)
    for url in ("/", "/confirm/", "/confirm/resend", "/status/sign-in"):
        response = client.post(url, form())
        assert response.status_code == 403, url
        assert b"Please try again" in response.content
    assert not PortalFiling.objects.exists()


def test_portal_pages_are_never_cached_and_carry_the_security_headers():
    response = Client().get("/")
    assert response["Cache-Control"] == "no-store"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert "<script" not in response.content.decode()


def test_the_staff_console_moved_and_slash_is_the_portal():
    assert "Ask us about your personal data" in Client().get("/").content.decode()
    assert Client().get("/staff").url == reverse("staff-queue")


def test_the_portal_holder_erases_what_the_portal_keeps(jobs):
    from dsr import holders

    signed_in_client(jobs, "erase@example.com")
    subject = Subject.objects.get(email="erase@example.com")
    case = Case.objects.get()
    portal.post_message(case, body="a question", from_subject=False, actor="t", now=timezone.now())
    [holder] = [h for h in holders.HOLDERS if h.name == "portal"]
    assert holder.describe(subject)["portal_filings"] == 1
    counts = holder.erase(subject, None)
    assert counts["portal_filings"] == 1 and counts["verification_records"] >= 2 and counts["case_messages"] == 1
    assert holder.describe(subject) == {"portal_filings": 0, "verification_records": 0, "case_messages": 0}
    assert holder.erase(subject, None) == {"portal_filings": 0, "verification_records": 0, "case_messages": 0}


def test_the_reconciler_files_what_a_lost_task_left_and_forgets_stale_sign_in_requests(settings, monkeypatch):
    """A filing whose task was lost (Redis broker, a killed worker) still becomes a case with its one message; a
    'send me a link' request whose task was lost does not keep the address it carries."""
    from dsr import jobs
    from dsr.models import SigninRequest

    monkeypatch.setattr("django_q.conf.Conf.SYNC", False)  # nothing runs inline: the tasks are "lost"
    assert file_request(Client(), email="lost@example.com").status_code == 303
    portal.ask_for_signin("lost@example.com", language="en", now=timezone.now())
    assert not Case.objects.exists() and SigninRequest.objects.count() == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        jobs.reconcile_portal_filings()
    assert Case.objects.filter(subject__email="lost@example.com").count() == 1
    assert OutboundMessage.objects.filter(to="lost@example.com", template="portal_code").count() == 1
    assert not SigninRequest.objects.exists()
    with time_machine.travel(timezone.now() + timedelta(minutes=8)):
        jobs.reconcile_portal_filings()  # again: nothing more
    assert Case.objects.count() == 1 and OutboundMessage.objects.filter(template="portal_code").count() == 1


def test_a_download_is_only_for_the_verified_subject_and_for_account_holders_right_after_the_hand_off():
    from dsr.views.portal_actions import download_allowed

    now = timezone.now()
    holder = vault.create_subject(actor="t", now=now, email="acct@example.com", account_id="acct-dl")
    plain = vault.create_subject(actor="t", now=now, email="plain@example.com")
    access, _ = workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=holder, received_at=now, actor="t",
                                     now=now)
    other, _ = workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=plain, received_at=now, actor="t",
                                    now=now)
    by_code, by_account = portal.Login(str(holder.pk), "email"), portal.Login(str(holder.pk), "account")
    assert not download_allowed(access, by_account, now)  # not verified yet
    workflow.verify_identity(access, method="account_reauth", actor="t", now=now)
    workflow.verify_identity(other, method="email_code", actor="t", now=now)
    access.refresh_from_db()
    other.refresh_from_db()
    assert download_allowed(access, by_account, now)
    assert not download_allowed(access, by_code, now)  # an account holder steps up through the platform
    assert not download_allowed(other, by_account, now)  # someone else's case
    assert download_allowed(other, portal.Login(str(plain.pk), "email"), now)


def test_the_subject_cancels_their_erasure_on_the_status_page_in_its_grace_window_and_everything_is_restored(
        jobs, settings):
    """Issue 9 §2: in the grace window "the operator — and, once the portal exists, the subject — can cancel, and
    cancelling restores everything"; the operator's side is tests/test_erasure.py."""
    from dsr import erasure
    from dsr.models import RunState, SubjectKey
    from tests import factories

    settings.DSR_ERASURE_GRACE_HOURS = 48
    client = signed_in_client(jobs, "leaving@example.com", choice="erasure")
    case = Case.objects.get(subject__email="leaving@example.com")
    assert case.kind == "erasure"
    now = timezone.now()
    photo = factories.photo_item(case.subject, now=now)
    operator = create_staff("op-cancel", "pw-op-12345", Role.OPERATOR)
    if not case.verified_at:
        case = workflow.verify_identity(case, method="email_code", actor=operator, now=now)
    run = erasure.approve_erasure(case, actor=operator, now=now)
    case.subject.refresh_from_db()
    assert case.subject.writes_blocked_at is not None

    page = client.get("/status/").content.decode()
    assert "Cancel the deletion" in page and "Until then you can still cancel" in page
    with jobs():
        response = client.post(f"/status/cases/{case.pk}/cancel-erasure")
    assert response.status_code in (302, 303)
    case.refresh_from_db()
    run.refresh_from_db()
    subject = Subject.objects.get(pk=case.subject_id)
    assert case.state == CaseState.CANCELLED and run.state == RunState.CANCELLED
    assert subject.writes_blocked_at is None and subject.email == "leaving@example.com"
    assert SubjectKey.objects.get(subject=subject).destroyed_at is None
    assert vault.read_item(photo)  # nothing was destroyed
    factories.photo_item(subject, now=now, seed=2)  # and writes are allowed again
    cancelled = Event.objects.get(kind="case.erasure_cancelled", object_id=str(case.pk))
    assert cancelled.actor == portal.ACTOR
    assert "Cancel the deletion" not in client.get("/status/").content.decode()
    # Past the window there is nothing left to cancel: the action is a 404.
    assert client.post(f"/status/cases/{case.pk}/cancel-erasure").status_code == 404
