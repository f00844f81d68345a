"""Filing requests through POST /api/v1/cases: every date the law sets, with its rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine

from dsr.models import Case, Event, Subject

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)


def _file(api, **body):
    return api.post("/api/v1/cases", json.dumps(body), content_type="application/json")


def _due(payload, regime, purpose):
    return [d["due_on"] for d in payload["due_dates"] if d["regime"] == regime and d["purpose"] == purpose]


@pytest.mark.parametrize("country", ["IE", "DE"])
def test_eu_access_received_5_march_is_due_7_april_for_irish_and_german_controllers(api, settings, country):
    settings.DSR_CONTROLLER_COUNTRY = country
    with time_machine.travel(NOW, tick=False):
        resp = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "a@example.com"},
                     received_at="2026-03-05T10:00:00Z", channel="api")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert _due(body, "eu_gdpr", "response") == ["2026-04-07"]
    assert body["governing_due_on"] == "2026-04-07"
    assert body["state"] == "received"
    rules = {d["rule"] for d in body["due_dates"]}
    assert {"G-ACC", "G-REF"} <= rules
    assert all(set(d) >= {"regime", "rule", "purpose", "due_on"} for d in body["due_dates"])
    again = api.get(f"/api/v1/cases/{body['id']}").json()
    assert again["due_dates"] == body["due_dates"] and again["governing_due_on"] == "2026-04-07"


def test_ccpa_deletion_received_5_march_is_acknowledged_by_19_march_and_answered_by_19_april(api):
    with time_machine.travel(NOW, tick=False):
        resp = _file(api, kind="erasure", regimes=["ccpa"], subject={"account_id": "acct-77"},
                     received_at="2026-03-05T10:00:00Z", channel="api")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert _due(body, "ccpa", "acknowledgement") == ["2026-03-19"]
    assert _due(body, "ccpa", "response") == ["2026-04-19"]
    assert body["governing_due_on"] == "2026-04-19"
    assert {d["rule"] for d in body["due_dates"]} >= {"C-ACK", "C-DEL"}


def test_a_request_under_two_regimes_is_governed_by_the_earliest_response_date(api):
    with time_machine.travel(NOW, tick=False):
        body = _file(api, kind="erasure", regimes=["eu_gdpr", "ccpa"], subject={"email": "both@example.com"},
                     received_at="2026-03-05T10:00:00Z").json()
    assert _due(body, "eu_gdpr", "response") == ["2026-04-07"]
    assert _due(body, "ccpa", "response") == ["2026-04-19"]
    assert body["governing_due_on"] == "2026-04-07" and body["governing_regime"] == "eu_gdpr"


@pytest.mark.parametrize(
    ("kind", "regimes", "needle"),
    [
        ("opt_out_sale_sharing", ["eu_gdpr"], "only under CCPA"),
        ("restriction", ["ccpa"], "CCPA has no"),
        ("teleport", ["eu_gdpr"], "'kind' must be one of: access, "),
        ("access", ["mars_gdpr"], "'regimes.0' must be one of: eu_gdpr, uk_gdpr, ccpa"),
        ("access", [], "regimes"),
    ],
)
def test_a_kind_a_regime_does_not_have_is_refused_clearly_and_nothing_is_created(api, kind, regimes, needle):
    with time_machine.travel(NOW, tick=False):
        resp = _file(api, kind=kind, regimes=regimes, subject={"email": "nobody@example.com"},
                     received_at="2026-03-05T10:00:00Z")
    assert 400 <= resp.status_code < 500
    assert needle in resp.json()["error"]["message"]
    assert Case.objects.count() == 0 and Subject.objects.count() == 0


def test_bad_received_at_and_future_dates_are_refused(api):
    with time_machine.travel(NOW, tick=False):
        naive = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "x@example.com"},
                      received_at="2026-03-05T10:00:00")
        future = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "x@example.com"},
                       received_at="2027-03-05T10:00:00Z")
    assert naive.status_code == 400 and naive.json()["error"]["message"] == "'received_at' must be a valid date-time"
    assert future.status_code == 422 and "future" in future.json()["error"]["message"]
    assert Case.objects.count() == 0


def test_the_same_idempotency_key_files_one_case(api):
    with time_machine.travel(NOW, tick=False):
        first = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "dup@example.com"},
                      received_at="2026-03-05T10:00:00Z", idempotency_key="form-123")
        second = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "dup@example.com"},
                       received_at="2026-03-05T10:00:00Z", idempotency_key="form-123")
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"] and Case.objects.count() == 1


def test_filing_acknowledges_to_the_address_on_file_and_audits(api, django_capture_on_commit_callbacks, mailoutbox):
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        body = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "ack@example.com"},
                     received_at="2026-03-05T10:00:00Z").json()
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ack@example.com"]
    assert "7 April 2026" in mailoutbox[0].body and body["reference"] in mailoutbox[0].subject
    kinds = list(Event.objects.filter(object_id=body["id"]).values_list("kind", flat=True))
    assert kinds == ["case.submitted", "case.acknowledged"]


# --- issue 8: California business days, UK nations, the controller's zone ----------------------------------

CCPA_VECTORS = [
    # (kind, received_at, purpose, due) -- legal-matrix §1.3; Gov. Code §6700/§6701, not a state-employee calendar
    ("opt_out_sale_sharing", "2025-11-20T18:00:00Z", "response", "2025-12-12"),
    ("opt_out_sale_sharing", "2026-06-26T18:00:00Z", "response", "2026-07-17"),
    ("access", "2024-02-14T18:00:00Z", "acknowledgement", "2024-02-29"),
    ("access", "2026-02-06T18:00:00Z", "acknowledgement", "2026-02-25"),
    ("limit_sensitive", "2026-09-04T18:00:00Z", "response", "2026-09-30"),
]


@pytest.mark.parametrize(("kind", "received_at", "purpose", "due"), CCPA_VECTORS)
def test_california_business_day_dates_follow_government_code_6700(api, kind, received_at, purpose, due):
    with time_machine.travel(datetime(2026, 11, 30, 12, tzinfo=UTC), tick=False):
        resp = _file(api, kind=kind, regimes=["ccpa"], subject={"email": "ca@example.com"}, received_at=received_at)
    assert resp.status_code == 201, resp.content
    assert _due(resp.json(), "ccpa", purpose) == [due]


@pytest.mark.parametrize(("nation", "due"), [("scotland", "2026-04-06"), ("england-wales", "2026-04-07"),
                                             ("northern-ireland", "2026-04-07")])
def test_uk_bank_holidays_follow_the_controllers_nation(api, settings, nation, due):
    # +1 month = Fri 3 April 2026, Good Friday everywhere; Easter Monday 6 April is a bank holiday in England,
    # Wales and Northern Ireland, not in Scotland (legal-matrix §2.5 UK-CAL).
    settings.DSR_UK_NATION = nation
    with time_machine.travel(NOW, tick=False):
        body = _file(api, kind="access", regimes=["uk_gdpr"], subject={"email": "uk@example.com"},
                     received_at="2026-03-03T10:00:00Z").json()
    assert _due(body, "uk_gdpr", "response") == [due]


def test_a_german_controller_counts_in_berlin_time_without_setting_a_zone(api, settings):
    # 22:30 UTC on 30 September is 00:30 on 1 October in Berlin (23:30 on 30 September in Dublin).
    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_TIME_ZONE = "DE", None
    with time_machine.travel(datetime(2026, 10, 2, 9, tzinfo=UTC), tick=False):
        body = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "de@example.com"},
                     received_at="2026-09-30T22:30:00Z").json()
    assert _due(body, "eu_gdpr", "response") == ["2026-11-02"]  # Sun 1 Nov -> Mon 2 Nov
    response = next(d for d in body["due_dates"] if d["purpose"] == "response")
    assert "Thu 2026-10-01 (Europe/Berlin)" in response["basis"]
    settings.DSR_CONTROLLER_COUNTRY = "IE"
    with time_machine.travel(datetime(2026, 10, 2, 9, tzinfo=UTC), tick=False):
        body = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "ie@example.com"},
                     received_at="2026-09-30T22:30:00Z").json()
    assert _due(body, "eu_gdpr", "response") == ["2026-10-30"]  # 30 Sept + 1 month, Dublin date


def test_a_controller_subdivision_selects_regional_holidays(api, settings):
    # +1 month = Tue 6 Jan 2026, Epiphany: a public holiday in Bavaria, not in Berlin.
    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_TIME_ZONE = "DE", None
    dates = {}
    for sub in (None, "BY"):
        settings.DSR_CONTROLLER_SUBDIVISION = sub
        with time_machine.travel(datetime(2025, 12, 8, 9, tzinfo=UTC), tick=False):
            body = _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": f"{sub}@example.com"},
                         received_at="2025-12-06T10:00:00Z").json()
        dates[sub] = _due(body, "eu_gdpr", "response")
    assert dates == {None: ["2026-01-06"], "BY": ["2026-01-07"]}

def test_an_identical_filing_without_a_key_returns_the_open_case_until_the_window_ends(api, settings):
    settings.DSR_DUPLICATE_FILING_WINDOW_MINUTES = 60
    body = {"kind": "access", "regimes": ["uk_gdpr", "eu_gdpr"], "subject": {"email": "twice@example.com"}}
    with time_machine.travel(NOW, tick=False):
        first = _file(api, **body)
    with time_machine.travel(NOW.replace(minute=59), tick=False):
        again = _file(api, **{**body, "regimes": ["eu_gdpr", "uk_gdpr"]})  # same regimes, other order
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and Case.objects.count() == 1
    assert Event.objects.filter(kind="case.duplicate_filing_collapsed", object_id=first.json()["id"]).count() == 1
    with time_machine.travel(NOW.replace(hour=10, minute=1), tick=False):
        later = _file(api, **body)
    assert later.status_code == 201 and Case.objects.count() == 2


def test_an_identical_filing_after_the_case_was_closed_is_a_new_case(api):
    from dsr import workflow

    body = {"kind": "access", "regimes": ["eu_gdpr"], "subject": {"email": "closed@example.com"}}
    with time_machine.travel(NOW, tick=False):
        first = _file(api, **body).json()
        workflow.cancel_case(Case.objects.get(pk=first["id"]), reason="filed by mistake, withdrawn", actor="test",
                             now=NOW)
        again = _file(api, **body)
    assert again.status_code == 201 and again.json()["id"] != first["id"]


def test_a_filing_naming_an_email_and_another_subjects_account_id_is_a_409(api):
    _file(api, kind="access", regimes=["eu_gdpr"], subject={"email": "a@example.com", "account_id": "acct-a"})
    _file(api, kind="access", regimes=["eu_gdpr"], subject={"account_id": "acct-b"})
    resp = _file(api, kind="erasure", regimes=["eu_gdpr"], subject={"email": "a@example.com", "account_id": "acct-b"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "identifier_conflict"
    assert Case.objects.count() == 2
