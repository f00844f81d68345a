"""The breach desk in the operator console (issue 12 §6): the board's order and its countdowns in the operator's
zone and in UTC at a frozen time, overdue rows marked, why no subject notice is needed said in words; the breach
page's register entry, deadlines, timeline and who decided what; forms that refuse bad input with the page again,
the errors next to the fields and nothing changed; who may do what; every document download audited."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from dsr import vault
from dsr.models import Breach, BreachAffected, BreachFiling, BreachState, Event, RiskLevel, Subject
from dsr.roles import Role, create_staff
from tests import factories
from tests.breach_board_kit import make_breach

pytestmark = pytest.mark.django_db

AWARE = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)  # Friday night, before the EU clocks go forward (legal-matrix §1.2)
DUE = datetime(2026, 3, 30, 22, 30, tzinfo=UTC)  # aware + 72 h exactly
NOW = datetime(2026, 3, 28, 10, 0, tzinfo=UTC)  # 60 h 30 min before the mark


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _client(username: str, role: Role) -> Client:
    client = Client()
    client.force_login(create_staff(username, f"{username}-breach-pass", role, email=f"{username}@staff.example"))
    return client


@pytest.fixture
def dpo() -> Client:
    return _client("dana", Role.APPROVER)


@pytest.fixture
def operator() -> Client:
    return _client("otto", Role.OPERATOR)


@pytest.fixture
def auditor() -> Client:
    return _client("audrey", Role.AUDITOR)


def text_of(response) -> str:
    """The page's text with tags stripped and whitespace collapsed (what the operator reads)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def board_order(response) -> list[str]:
    return re.findall(r'data-reference="([^"]+)"', response.content.decode())


OPEN_FORM = {
    "facts-title": "Embeddings bucket readable from the internet",
    "facts-description": "A misconfigured bucket exposed sealed face embeddings for four days.",
    "facts-types": ["confidentiality"],
    "facts-categories": ["face_embedding"],
    "facts-systems": ["database"],
    "facts-times_in": "UTC",
    "facts-detected_at": "2026-03-27T21:05",
    "facts-aware_at": "2026-03-27T22:30",
    "facts-aware_basis": "Access log shows downloads from an unknown address.",
    "facts-aware_by": "Security on-call",
    "facts-data_encrypted": "on",
}


def open_by_form(client: Client, **changes) -> tuple[object, Breach | None]:
    form = {**OPEN_FORM, **changes}
    response = client.post(reverse("staff-breach-new"), {k: v for k, v in form.items() if v is not None})
    return response, Breach.objects.order_by("-created_at").first()


# --- the board -------------------------------------------------------------------------------------------------


def test_the_board_lists_open_breaches_by_their_governing_deadline_then_the_closed_ones(dpo, frozen):
    later = make_breach(aware_at=AWARE + timedelta(hours=10), title="later")
    no_clock = make_breach(aware_at=AWARE - timedelta(days=3), title="no clock", deadlines=[
        {"rule": "B-DS", "regime": "eu_gdpr", "due_at": None, "basis": "without undue delay"}])
    overdue = make_breach(aware_at=AWARE - timedelta(days=3), title="overdue")
    first = make_breach(aware_at=AWARE, title="first")
    closed = make_breach(aware_at=AWARE - timedelta(days=30), title="closed", state=BreachState.CLOSED,
                         closed_at=AWARE - timedelta(days=20))

    response = dpo.get(reverse("staff-breaches"))

    assert response.status_code == 200
    assert board_order(response) == [overdue.reference, first.reference, later.reference, no_clock.reference]
    html = response.content.decode()
    assert html.index(no_clock.reference) < html.index(closed.reference)  # closed ones below, under "Closed"
    assert f'class="overdue" data-reference="{overdue.reference}"' in html  # the overdue row is marked
    assert 'class="at-risk"' not in html.split(first.reference)[0]
    text = text_of(response)
    assert "11 h 30 min overdue" in text  # due 27 Mar 22:30 UTC, now 28 Mar 10:00 UTC
    assert "no running clock" in text


def test_the_countdown_is_shown_in_the_operators_zone_and_in_utc_at_a_frozen_time(dpo, frozen, settings):
    breach = make_breach(aware_at=AWARE)

    settings.DSR_OPERATOR_TIME_ZONE = "Europe/Berlin"
    berlin = text_of(dpo.get(reverse("staff-breaches")))
    # 72 h of wall clock across the change to summer time: 23:30 CET + 72 h = 00:30 CEST, not 23:30
    assert "B-SA" in berlin and "Art. 33 — supervisory authority, 72 h" in berlin
    assert "Tue 31 Mar 2026 00:30 CEST" in berlin
    assert "Mon 30 Mar 2026 22:30 UTC" in berlin
    assert "60 h 30 min left" in berlin
    assert "countdowns in Europe/Berlin and UTC" in berlin

    settings.DSR_OPERATOR_TIME_ZONE = "America/Los_Angeles"
    la = text_of(dpo.get(reverse("staff-breaches")))
    assert "Mon 30 Mar 2026 15:30 PDT" in la and "Mon 30 Mar 2026 22:30 UTC" in la and "60 h 30 min left" in la

    page = text_of(dpo.get(reverse("staff-breach", args=[breach.pk])))
    assert "Mon 30 Mar 2026 15:30 PDT" in page and "Mon 30 Mar 2026 22:30 UTC" in page
    assert "60 h 30 min left" in page

    frozen.move_to(DUE + timedelta(minutes=90))
    late = dpo.get(reverse("staff-breaches"))
    assert "1 h 30 min overdue" in text_of(late)
    assert f'class="overdue" data-reference="{breach.reference}"' in late.content.decode()


def test_the_board_says_why_no_subject_notice_is_required(dpo, frozen):
    encrypted = make_breach(aware_at=AWARE, title="encrypted", data_encrypted=True, keys_exposed=False,
                            risk_level=RiskLevel.HIGH, risk_rationale="biometric data")
    keys_too = make_breach(aware_at=AWARE, title="keys too", data_encrypted=True, keys_exposed=True,
                           risk_level=RiskLevel.HIGH, risk_rationale="biometric data and the keys")
    response = dpo.get(reverse("staff-breaches"))
    rows = dict(re.findall(r'data-reference="([^"]+)">(.*?)</tr>', response.content.decode(), flags=re.S))
    row_encrypted = " ".join(re.sub(r"<[^>]+>", " ", rows[encrypted.reference]).split())
    assert "Not required — Art. 34(3)(a)" in row_encrypted
    assert "encrypted" in row_encrypted and "not exposed" in row_encrypted
    row_keys = " ".join(re.sub(r"<[^>]+>", " ", rows[keys_too.reference]).split())
    assert "Required: high risk" in row_keys


def test_the_board_costs_the_same_queries_for_thirty_breaches_as_for_three(dpo, frozen):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert dpo.get(reverse("staff-breaches")).status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        make_breach(aware_at=AWARE - timedelta(hours=i))
    few = queries()
    for i in range(27):
        make_breach(aware_at=AWARE - timedelta(hours=3 + i))
    assert queries() == few  # no query per row (Art. 34(3)(a) reads the breach's own fields when no processor is named)


# --- the breach page -------------------------------------------------------------------------------------------


def test_the_breach_page_shows_the_register_entry_deadlines_timeline_and_who_decided(dpo, operator, frozen):
    response, breach = open_by_form(operator)
    assert response.status_code == 302, text_of(response)
    frozen.shift(timedelta(minutes=20))
    assert dpo.post(reverse("staff-breach-risk", args=[breach.pk]),
                    {"risk-level": "high", "risk-rationale": "Face templates of many people."}).status_code == 302

    page = text_of(dpo.get(reverse("staff-breach", args=[breach.pk])))

    for label in ("Incident id", "Detected", "Aware", "Awareness basis", "Facts", "Breach type", "Data categories",
                  "People affected (est.)", "Records affected (est.)", "Jurisdictions", "Consequences", "Risk",
                  "Remedial actions", "Authority notified", "Reasons for delay", "People notified",
                  "Art. 34(3) exception", "Processor involved", "US state notices"):
        assert label in page, label
    assert "[biometric — special category]" in page
    assert "B-SA" in page and "B-DS" in page  # high risk started the Art. 34 clock
    assert "without undue delay" in page
    # the timeline: the register's instants and the audit events, each with who
    assert "Detected (first anomaly)" in page and "Aware — the Art. 33 clock starts" in page
    assert "breach.opened" in page and "breach.risk_assessed" in page
    # who decided what
    decisions = page.split("Who decided what", 1)[1].split("Timeline", 1)[0]
    assert "Opened the breach otto" in decisions
    assert "Decided the risk level dana" in decisions and "decided: high" in decisions


def test_an_operator_opens_a_breach_with_the_form_and_the_72_hour_clock_runs(operator, frozen, settings):
    settings.DSR_OPERATOR_TIME_ZONE = "Europe/Dublin"
    response, breach = open_by_form(operator, **{"facts-times_in": "Europe/Dublin",
                                                 "facts-aware_at": "2026-03-27T22:30",
                                                 "facts-detected_at": "2026-03-27T21:00"})
    assert response.status_code == 302 and response["Location"] == reverse("staff-breach", args=[breach.pk])
    assert breach.aware_at == AWARE  # Dublin is on GMT until 29 March
    assert breach.deadlines.get(rule="B-SA").due_at == DUE
    assert breach.opened_by.startswith("staff:")
    page = text_of(operator.get(response["Location"]))
    assert "60 h 30 min left" in page and "Tue 31 Mar 2026 00:30 IST" not in page
    assert "Mon 30 Mar 2026 23:30 IST" in page  # Dublin is on summer time by the deadline


# --- refusals change nothing -----------------------------------------------------------------------------------


def _state() -> tuple:
    return (Breach.objects.count(), Event.objects.filter(object_type="breach").count(), BreachFiling.objects.count(),
            list(Breach.objects.values_list("risk_level", "risk_rationale", "exception_34_3", "state",
                                            "remedial_actions", "title").order_by("reference")))


@pytest.mark.parametrize("changes, field, message", [
    ({"facts-types": None}, "facts-types", "Choose at least one type of breach."),
    ({"facts-aware_at": "2026-03-27T20:00"}, "facts-aware_at", "before the first anomaly"),
    ({"facts-aware_at": "27/03/2026 22:30"}, "facts-aware_at", "Enter a date and time like"),
    ({"facts-aware_at": "2026-03-29T02:30", "facts-detected_at": "2026-03-29T01:00",
      "facts-times_in": "Europe/Berlin"}, "facts-aware_at", "does not exist in Europe/Berlin"),
    ({"facts-aware_at": "2026-03-28T09:30", "facts-detected_at": "2026-03-28T09:00", "facts-times_in": "UTC"},
     None, None),  # control: a valid form is accepted (so the refusals above are the form's doing)
    ({"facts-aware_at": "2026-03-28T11:00"}, "facts-aware_at", "may not lie in the future"),  # the verb's refusal
    ({"facts-keys_exposed": "on", "facts-data_encrypted": None}, "facts-keys_exposed", "only be exposed"),
    ({"facts-title": ""}, "facts-title", "required"),
], ids=["no-type", "aware-before-detected", "bad-format", "dst-gap", "control", "future", "keys-unencrypted",
        "no-title"])
def test_opening_with_bad_input_shows_the_form_again_with_the_error_and_creates_nothing(
        operator, frozen, settings, changes, field, message):
    settings.DSR_OPERATOR_TIME_ZONE = "Europe/Berlin"
    before = _state()
    response, _ = open_by_form(operator, **changes)
    if field is None:
        assert response.status_code == 302
        return
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}-error"' in html and message in html
    assert 'aria-invalid="true"' in html and "Nothing was changed." in html
    assert _state() == before


def test_a_risk_decision_without_a_rationale_is_refused_and_changes_nothing(dpo, frozen):
    breach = make_breach(aware_at=AWARE, risk_suggested=RiskLevel.HIGH,
                         risk_suggested_reasons=["Face embeddings are biometric data (special category)."])
    before = _state()
    response = dpo.post(reverse("staff-breach-risk", args=[breach.pk]), {"risk-level": "unlikely",
                                                                         "risk-rationale": "  "})
    assert response.status_code == 400
    html = response.content.decode()
    assert "You are overriding the aid" in html and 'id="id_risk-rationale-error"' in html
    assert "Face embeddings are biometric data" in html  # the aid's reasons stay on screen
    assert _state() == before
    response = dpo.post(reverse("staff-breach-risk", args=[breach.pk]), {"risk-level": "bogus",
                                                                         "risk-rationale": "x"})
    assert response.status_code == 400 and _state() == before


def test_a_late_filing_without_a_reason_is_refused_and_a_follow_up_links_to_the_first(dpo, frozen):
    _, breach = open_by_form(_client("otto", Role.OPERATOR))
    frozen.move_to(DUE + timedelta(hours=2))
    before = _state()
    form = {"filing-rule": "B-SA", "filing-authority": "Data Protection Commission", "filing-phase": "initial"}
    response = dpo.post(reverse("staff-breach-filing", args=[breach.pk]), form)
    assert response.status_code == 400
    assert "reasons for the delay" in response.content.decode()
    assert 'id="id_filing-delay_reason-error"' in response.content.decode()
    assert _state() == before

    response = dpo.post(reverse("staff-breach-filing", args=[breach.pk]),
                        {**form, "filing-delay_reason": "Forensics needed the weekend to confirm the scope."})
    assert response.status_code == 302
    first = BreachFiling.objects.get(breach=breach)
    assert first.late and first.delay_reason.startswith("Forensics")
    assert breach.deadlines.get(rule="B-SA").met_at == DUE + timedelta(hours=2)

    # a follow-up must name the filing it completes
    response = dpo.post(reverse("staff-breach-filing", args=[breach.pk]), {**form, "filing-phase": "follow_up"})
    assert response.status_code == 400 and BreachFiling.objects.count() == 1
    response = dpo.post(reverse("staff-breach-filing", args=[breach.pk]),
                        {**form, "filing-phase": "follow_up", "filing-follows": str(first.pk),
                         "filing-submission_ref": "DPC-2026-0042"})
    assert response.status_code == 302
    follow_up = BreachFiling.objects.exclude(pk=first.pk).get()
    assert follow_up.follows_id == first.pk
    if follow_up.document:  # with breachnotices' documents: the stored copy says what it follows and why late
        first_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(bytes(first.document))).pages)
        assert "Forensics needed the weekend" in " ".join(first_text.split())
    page = dpo.get(reverse("staff-breach", args=[breach.pk])).content.decode()
    assert f'href="#filing-{first.pk}"' in page and "late" in page


def test_closing_with_open_deadlines_and_an_empty_remedial_action_are_refused(dpo, operator, frozen):
    _, breach = open_by_form(operator)
    before = _state()
    response = dpo.post(reverse("staff-breach-close", args=[breach.pk]), {"close-confirm": "on"})
    assert response.status_code == 400 and "still open" in response.content.decode()
    response = dpo.post(reverse("staff-breach-close", args=[breach.pk]), {})
    assert response.status_code == 400 and "Tick the box" in response.content.decode()
    response = operator.post(reverse("staff-breach-remedial", args=[breach.pk]), {"remedial-action": "   "})
    assert response.status_code == 400 and "Describe the action taken." in response.content.decode()
    assert _state() == before
    response = operator.post(reverse("staff-breach-remedial", args=[breach.pk]),
                             {"remedial-action": "Bucket made private; access keys rotated."})
    assert response.status_code == 302
    breach.refresh_from_db()
    assert [a["action"] for a in breach.remedial_actions] == ["Bucket made private; access keys rotated."]


def test_editing_the_facts_moves_the_clock_and_bad_edits_change_nothing(operator, frozen):
    _, breach = open_by_form(operator)
    form = {**OPEN_FORM, "facts-aware_at": "2026-03-27T21:30"}
    before = _state()
    bad = operator.post(reverse("staff-breach-edit", args=[breach.pk]), {**form, "facts-detected_at": "x"})
    assert bad.status_code == 400 and _state() == before
    unchanged = operator.post(reverse("staff-breach-edit", args=[breach.pk]), OPEN_FORM)
    assert unchanged.status_code == 400 and "Nothing changed." in unchanged.content.decode()
    assert operator.post(reverse("staff-breach-edit", args=[breach.pk]), form).status_code == 302
    assert breach.deadlines.get(rule="B-SA").due_at == DUE - timedelta(hours=1)


def test_an_exception_needs_its_reason_and_then_the_board_says_why_nobody_is_told(dpo, operator, frozen):
    _, breach = open_by_form(operator, **{"facts-data_encrypted": None})  # unencrypted: 34(3)(a) cannot apply
    assert dpo.post(reverse("staff-breach-risk", args=[breach.pk]),
                    {"risk-level": "high", "risk-rationale": "Readable face templates."}).status_code == 302
    before = _state()
    response = dpo.post(reverse("staff-breach-exception", args=[breach.pk]), {"exc-exception": "b"})
    assert response.status_code == 400 and 'id="id_exc-rationale-error"' in response.content.decode()
    assert _state() == before
    board = text_of(dpo.get(reverse("staff-breaches")))
    assert "Required: high risk (Art. 34(1))" in board

    response = dpo.post(reverse("staff-breach-exception", args=[breach.pk]),
                        {"exc-exception": "b", "exc-rationale": "All templates were revoked and re-enrolled."})
    assert response.status_code == 302
    board = text_of(dpo.get(reverse("staff-breaches")))
    assert ("Not required — Art. 34(3)(b) later measures ensure the high risk is no longer likely: "
            "All templates were revoked and re-enrolled.") in board


def test_notices_start_only_for_a_high_risk_breach_with_a_stored_scope(dpo, operator, frozen):
    s = factories.subject("told@example.com", now=AWARE - timedelta(days=10))
    _embedding(s, AWARE - timedelta(days=5))
    _, breach = open_by_form(operator, **{"facts-data_encrypted": None})
    before = _state()
    response = dpo.post(reverse("staff-breach-notices", args=[breach.pk]), {"notices-confirm": "on"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "only when the risk to them is assessed as high" in html and "compute and store who is affected" in html
    assert _state() == before and BreachAffected.objects.count() == 0

    dpo.post(reverse("staff-breach-risk", args=[breach.pk]), {"risk-level": "high", "risk-rationale": "Readable."})
    operator.post(reverse("staff-breach-scope", args=[breach.pk]))
    page = dpo.get(reverse("staff-breach", args=[breach.pk])).content.decode()
    assert "Start the notices" in page
    response = dpo.post(reverse("staff-breach-notices", args=[breach.pk]), {"notices-confirm": "on"})
    assert response.status_code == 302
    assert Event.objects.filter(kind="breach.notices_started", object_id=str(breach.pk)).count() == 1
    page = text_of(dpo.get(reverse("staff-breach", args=[breach.pk])))
    assert "Started the notices to affected people dana" in page
    assert "Sending job:" in page


# --- permissions -----------------------------------------------------------------------------------------------


def test_only_approvers_decide_risk_exceptions_filings_notices_and_closing(operator, auditor, frozen):
    breach = make_breach(aware_at=AWARE)
    before = _state()
    for name, data in (("staff-breach-risk", {"risk-level": "high", "risk-rationale": "x"}),
                       ("staff-breach-exception", {"exc-exception": "a", "exc-rationale": "x"}),
                       ("staff-breach-filing", {"filing-rule": "B-SA", "filing-authority": "DPC",
                                                "filing-phase": "initial"}),
                       ("staff-breach-notices", {"notices-confirm": "on"}),
                       ("staff-breach-close", {"close-confirm": "on"})):
        for client in (operator, auditor):
            assert client.post(reverse(name, args=[breach.pk]), data).status_code == 403, name
    for name in ("staff-breach-edit", "staff-breach-scope", "staff-breach-remedial"):
        assert auditor.post(reverse(name, args=[breach.pk]), {"remedial-action": "x"}).status_code == 403, name
    assert auditor.post(reverse("staff-breach-new"), OPEN_FORM).status_code == 403
    assert auditor.get(reverse("staff-breach-new")).status_code == 403
    assert _state() == before
    assert Event.objects.filter(kind="staff.forbidden").count() == 15  # each refusal is itself audited
    # everyone with a role reads; the page offers only what the role may do
    page = auditor.get(reverse("staff-breach", args=[breach.pk])).content.decode()
    assert "Decide the risk level" not in page and "Edit the facts" not in page
    page = operator.get(reverse("staff-breach", args=[breach.pk])).content.decode()
    assert "Decide the risk level" not in page and "Edit the facts" in page and "Compute the scope" in page


def test_anonymous_visitors_are_sent_to_sign_in_and_get_requests_never_change_anything(frozen):
    breach = make_breach(aware_at=AWARE)
    anonymous = Client()
    for url in (reverse("staff-breaches"), reverse("staff-breach", args=[breach.pk]),
                reverse("staff-breach-register-csv")):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/staff/login/" in response["Location"]
    olga = create_staff("olga", "olga-breach-pass", Role.APPROVER)
    staff = Client()
    staff.force_login(olga)
    assert staff.get(reverse("staff-breach-risk", args=[breach.pk])).status_code == 405
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(olga)
    assert csrf.post(reverse("staff-breach-risk", args=[breach.pk]),
                     {"risk-level": "high", "risk-rationale": "x"}).status_code == 403
    breach.refresh_from_db()
    assert breach.risk_level == ""


def test_the_staff_navigation_links_to_the_board(operator):
    html = operator.get(reverse("staff-queue")).content.decode()
    assert f'href="{reverse("staff-breaches")}"' in html and ">Breaches</a>" in html


# --- documents -------------------------------------------------------------------------------------------------


def _downloads() -> list[Event]:
    return list(Event.objects.filter(kind__in=["breach.document_downloaded", "breach.register_exported"])
                .order_by("id"))


def test_document_downloads_are_audited_with_who_and_what(auditor, operator, frozen):
    _, breach = open_by_form(operator)
    authority = breach.deadlines.get(rule="B-SA").authority

    response = auditor.get(reverse("staff-breach-art33", args=[breach.pk]),
                           {"authority": authority, "phase": "initial"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store" and "attachment" in response["Content-Disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert breach.reference in text
    csv = auditor.get(reverse("staff-breach-register-csv"))
    assert csv.status_code == 200 and breach.reference in csv.content.decode()
    pdf = auditor.get(reverse("staff-breach-register-pdf"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    events = _downloads()
    assert [(e.kind, e.data["document"]) for e in events] == [
        ("breach.document_downloaded", "art33"), ("breach.register_exported", "register_csv"),
        ("breach.register_exported", "register_pdf")]
    assert all(e.actor.startswith("staff:") for e in events)
    assert events[0].object_id == str(breach.pk) and events[0].data["authority"] == authority
    # an unknown authority or phase is a 404 and is not audited as a download
    assert auditor.get(reverse("staff-breach-art33", args=[breach.pk]),
                       {"authority": "Somebody else", "phase": "initial"}).status_code == 404
    assert auditor.get(reverse("staff-breach-art33", args=[breach.pk]),
                       {"authority": authority, "phase": "bogus"}).status_code == 404
    assert len(_downloads()) == 3
    # the download shows on the breach's timeline
    assert "breach.document_downloaded" in text_of(auditor.get(reverse("staff-breach", args=[breach.pk])))


# --- scope ------------------------------------------------------------------------------------------------------


def _embedding(subject: Subject, created: datetime) -> None:
    vault.store_item(vault.NewItem(category="face_embedding", purpose="face_matching", holders=[(subject, "owner")],
                                   content=bytes(range(256)) * 8), actor="test", now=created)


def test_recomputing_the_scope_shows_counts_per_category_and_jurisdiction_and_the_art_34_3_a_reason(
        operator, frozen):
    for email, residence in (("a@example.com", "DE"), ("b@example.com", "DE"), ("c@example.com", "US-CA")):
        s = factories.subject(email, now=AWARE - timedelta(days=10))
        Subject.objects.filter(pk=s.pk).update(residence=residence)
        _embedding(s, AWARE - timedelta(days=5))
    _, breach = open_by_form(operator)
    before_events = Event.objects.filter(kind="breach.scoped").count()

    response = operator.post(reverse("staff-breach-scope", args=[breach.pk]))

    assert response.status_code == 302
    assert Event.objects.filter(kind="breach.scoped").count() == before_events + 1
    assert BreachAffected.objects.filter(breach=breach, in_scope=True).count() == 3
    page = operator.get(reverse("staff-breach", args=[breach.pk]))
    html = page.content.decode()
    assert '<strong id="scope-subjects">3</strong>' in html and '<strong id="scope-items">3</strong>' in html
    scope = text_of(page).split("Scope", 1)[1]
    assert "Art. 34(3)(a) applies." in scope and "were not exposed" in scope
    assert "DE 2" in scope and "US-CA 1" in scope and "Face embedding (biometric template) biometric 3 3" in scope


def test_a_filing_without_an_upload_stores_the_generated_art_33_pdf_and_its_download_is_audited(dpo, frozen):
    _, breach = open_by_form(_client("otto", Role.OPERATOR))
    authority = breach.deadlines.get(rule="B-SA").authority
    response = dpo.post(reverse("staff-breach-filing", args=[breach.pk]),
                        {"filing-rule": "B-SA", "filing-authority": authority, "filing-phase": "initial",
                         "filing-submission_ref": "DPC-BN-77"})
    assert response.status_code == 302
    filing = BreachFiling.objects.get(breach=breach)
    assert not filing.late and bytes(filing.document).startswith(b"%PDF") and len(filing.document_sha256) == 64
    download = dpo.get(reverse("staff-breach-filing-document", args=[breach.pk, filing.pk]))
    assert download.status_code == 200 and download.content == bytes(filing.document)
    event = Event.objects.filter(kind="breach.document_downloaded").get()
    assert event.data["document"] == "filing" and event.data["filing"] == str(filing.pk)
    # a PDF the operator uploads is stored instead; anything else is refused with nothing changed
    before = _state()
    response = dpo.post(reverse("staff-breach-filing", args=[breach.pk]), {
        "filing-rule": "B-SA", "filing-authority": authority, "filing-phase": "follow_up",
        "filing-follows": str(filing.pk), "filing-document": io.BytesIO(b"not a pdf")})
    assert response.status_code == 400 and "Attach the notification as a PDF." in response.content.decode()
    assert _state() == before


# --- notices in doubt ------------------------------------------------------------------------------------------


def test_notices_in_doubt_are_shown_and_only_an_approver_resolves_them_saying_what_was_checked(dpo, operator, frozen):
    from dsr import breach_notices
    from dsr.models import OutboundMessage
    from tests import breach_kit

    breach = breach_kit.breach()
    row = breach_kit.affect(breach, 2, prefix="d")[0]
    BreachAffected.objects.filter(pk=row.pk).update(notice_state="failed", notice_error="in_doubt",
                                                    notice_channel=breach_notices.CHANNEL)
    OutboundMessage.objects.create(id=breach_notices.message_id(breach.pk, row.subject_id),
                                   template=breach_notices.TEMPLATE, to="d.0@example.com", subject_line="Notice",
                                   body_text="Notice", created_at=NOW, last_error="in_doubt")
    url = reverse("staff-breach-in-doubt", args=[breach.pk])
    page = text_of(dpo.get(reverse("staff-breach", args=[breach.pk])))
    assert "1 notice in doubt:" in page and "Check the provider's log" in page
    assert "Resolve the notices in doubt" in page
    assert "Resolve the notices in doubt" not in text_of(operator.get(reverse("staff-breach", args=[breach.pk])))

    assert operator.post(url, {"in_doubt-decision": "delivered", "in_doubt-reason": "log"}).status_code == 403
    refused = dpo.post(url, {"in_doubt-decision": "delivered", "in_doubt-reason": ""})
    assert refused.status_code == 400 and "Say what you checked." in refused.content.decode()
    assert BreachAffected.objects.get(pk=row.pk).notice_state == "failed"

    done = dpo.post(url, {"in_doubt-decision": "delivered", "in_doubt-reason": "Provider log: accepted"})
    assert done.status_code == 302
    row.refresh_from_db()
    assert (row.notice_state, row.notice_error) == ("sent", "")
    event = Event.objects.get(kind="breach.notices_in_doubt_resolved")
    assert event.data == {"decision": "delivered", "count": 1, "reason": "Provider log: accepted"}
    assert "notice in doubt" not in text_of(dpo.get(reverse("staff-breach", args=[breach.pk])))


def test_a_large_scope_is_stored_by_a_job_and_notices_wait_for_it(dpo, operator, frozen, settings):
    """Above DSR_BREACH_SCOPE_INLINE_MAX people the request counts and a job writes the rows: the page says so,
    a second click does not start a second job, notices are refused until it is done, and the stored scope and
    its audit event name the operator who asked."""
    from dsr import steps
    from dsr.models import StepRun

    settings.DSR_BREACH_SCOPE_INLINE_MAX = 2
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        _embedding(factories.subject(email, now=AWARE - timedelta(days=10)), AWARE - timedelta(days=5))
    _, breach = open_by_form(operator, **{"facts-data_encrypted": None})
    dpo.post(reverse("staff-breach-risk", args=[breach.pk]), {"risk-level": "high", "risk-rationale": "Readable."})

    response = operator.post(reverse("staff-breach-scope", args=[breach.pk]), follow=True)
    assert "3 people and 3 items counted; the scope is being stored in the background" in text_of(response)
    assert 'id="scope-job"' in response.content.decode()
    assert BreachAffected.objects.filter(breach=breach).count() == 0  # nothing stored in the request
    operator.post(reverse("staff-breach-scope", args=[breach.pk]))
    runs = StepRun.objects.filter(kind="breach_scope", object_id=str(breach.pk))
    assert runs.count() == 1
    assert dpo.get(reverse("staff-job", args=[runs.get().pk])).status_code == 200
    refused = dpo.post(reverse("staff-breach-notices", args=[breach.pk]), {"notices-confirm": "on"})
    assert refused.status_code == 400 and "being stored in the background" in refused.content.decode()

    assert steps.advance(runs.get().pk) == 1  # what the worker does
    page = dpo.get(reverse("staff-breach", args=[breach.pk])).content.decode()
    assert 'id="scope-job"' not in page and '<strong id="scope-subjects">3</strong>' in page
    assert BreachAffected.objects.filter(breach=breach, in_scope=True).count() == 3
    scoped = Event.objects.get(kind="breach.scoped", object_id=str(breach.pk))
    assert scoped.actor.startswith("staff:") and scoped.actor != "system:steps"
    assert dpo.post(reverse("staff-breach-notices", args=[breach.pk]), {"notices-confirm": "on"}).status_code == 302
