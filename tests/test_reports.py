"""CCPA §7101 request log and §7102 metrics: figures worked out by hand, on the page, in the CSV and the PDF;
and a PDF renderer that never fetches anything."""

from __future__ import annotations

import csv
import io
import re
import socket
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from pypdf import PdfReader

from dsr import exports, steps, workflow
from dsr.models import Case, CcpaMetricsPublication, Channel, Event, FiledBy, Outcome
from dsr.pdf import LocalOnlyFetcher, PdfRenderFailed, RemoteFetchRefused, render_pdf, render_pdf_isolated
from dsr.reports import LOG_COLUMNS, ReportError, ccpa_metrics, ccpa_request_log, publish_ccpa_metrics
from dsr.roles import Role, create_staff
from tests import factories

# The views read the clock only for the default year and the generation stamp: freeze it in March 2026.
VIEW_NOW = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)


def utc(y: int, m: int, d: int, h: int = 18, mi: int = 0) -> datetime:
    """18:00 UTC is 10:00 PST / 11:00 PDT: the same calendar date in Los Angeles."""
    return datetime(y, m, d, h, mi, tzinfo=UTC)


# --- the year 2025, case by case ----------------------------------------------------------------------------
#
# All CCPA (time zone America/Los_Angeles). "days" = LA receipt date → LA substantive-response date.
#
# delete (erasure)
#   D1 10 Jan → complied in whole 20 Jan                       10 days
#   D2  1 Feb → complied in part 21 Feb                        20 days
#   D3  3 Mar → extended 1 Apr → complied in whole 17 Apr      45 days (Mar 3 + 28 = Mar 31, + 17 = Apr 17)
#   D4  1 Apr → denied, unverifiable, 6 Apr                     5 days
#   D5 20 Dec → pending
#   ⇒ delete: 5 received; 2 whole + 1 part = 3 complied; 1 denied (unverifiable); 1 pending;
#     days 5, 10, 20, 45 → median (10 + 20) / 2 = 15.0; mean 80 / 4 = 20.0
# know (access)
#   K1  5 May (EU GDPR + CCPA) → complied in whole 19 May      14 days
#   K2  2 Jun by an authorized agent → complied in part 2 Jul  30 days (June has 30 days)
#   K3  1 Jul → denied, exempt information, 8 Jul               7 days
#   K4  1 Aug → denied, not a consumer, 4 Aug                   3 days
#   K5  1 Sep → withdrawn 5 Sep (no substantive response)
#   ⇒ know: 5 received; 1 whole + 1 part = 2 complied; 2 denied (1 exempt, 1 not a consumer); 1 withdrawn;
#     days 3, 7, 14, 30 → median (7 + 14) / 2 = 10.5; mean 54 / 4 = 13.5
# correct (rectification)
#   C1  1 Oct → complied in whole 31 Oct                       30 days
#   ⇒ correct: 1 received; 1 complied; 0 denied; median 30.0; mean 30.0
# opt-out (sale/sharing)
#   O1 15 Jan (GPC) → complied 16 Jan                            1 day
#   O2 10 Feb → complied 13 Feb 06:00 UTC = 12 Feb 22:00 PST     2 days (3 if counted in UTC)
#   O3 20 Mar → denied, fraud (reason "other"), 27 Mar          7 days
#   O4 31 Dec 22:00 PST = 1 Jan 2026 06:00 UTC → pending: counts in 2025
#   ⇒ opt-out: 4 received; 2 complied; 1 denied (other); 1 pending;
#     days 1, 2, 7 → median 2.0; mean 10 / 3 = 3.33…
# limit (sensitive PI)
#   L1  3 Nov → pending ⇒ limit: 1 received; 0 complied; 0 denied; no response → median and mean "—"
#
# Not in 2025:
#   B1 delete received 31 Dec 2024 23:30 PST (= 1 Jan 2025 07:30 UTC) → complied 5 Jan 2025: counts in 2024
#      (2024: delete 1 received, 1 complied, days Dec 31 → Jan 5 = 5 → median 5.0, mean 5.0)
#   G1 access under EU GDPR only, 5 May 2025, complied: not a CCPA request, never counted or logged.
#
# 2025 CCPA requests: 5 + 5 + 1 + 4 + 1 = 16; the whole log adds B1 → 17 rows.

# type: (received, whole, part, complied, denied, pending, withdrawn, median, mean)
EXPECTED_2025 = {
    "delete": (5, 2, 1, 3, 1, 1, 0, 15.0, 20.0),
    "correct": (1, 1, 0, 1, 0, 0, 0, 30.0, 30.0),
    "know": (5, 1, 1, 2, 2, 0, 1, 10.5, 13.5),
    "opt-out": (4, 2, 0, 2, 1, 1, 0, 2.0, 10 / 3),
    "limit": (1, 0, 0, 0, 0, 1, 0, None, None),
}
# §7102(a)(2): requests "denied in whole or in part" by reason -- the partial compliances D2 and K2 recorded no
# ground for the part denied, so they count as "other".
EXPECTED_DENIALS_2025 = {  # unverifiable, not_consumer, exempt, other
    "delete": {"unverifiable": 1, "not_consumer": 0, "exempt": 0, "other": 1},
    "correct": {"unverifiable": 0, "not_consumer": 0, "exempt": 0, "other": 0},
    "know": {"unverifiable": 0, "not_consumer": 1, "exempt": 1, "other": 1},
    "opt-out": {"unverifiable": 0, "not_consumer": 0, "exempt": 0, "other": 1},
    "limit": {"unverifiable": 0, "not_consumer": 0, "exempt": 0, "other": 0},
}
# As displayed (one decimal place; "—" when there is no figure): the CSV, the page and the PDF.
SHOWN_2025 = {
    "delete": ("5", "3", "1", "15.0", "20.0"),
    "correct": ("1", "1", "0", "30.0", "30.0"),
    "know": ("5", "2", "2", "10.5", "13.5"),
    "opt-out": ("4", "2", "1", "2.0", "3.3"),
    "limit": ("1", "0", "0", "—", "—"),
}


@pytest.fixture
def dpo(db) -> User:
    return create_staff("dpo-test", "pw-dpo-test-123", Role.APPROVER)


@pytest.fixture
def year_2025(dpo: User) -> dict[str, Case]:
    counter = iter(range(1000))

    def file(kind: str, received: datetime, regimes: tuple[str, ...] = ("ccpa",), **kw) -> Case:
        n = next(counter)
        subject = factories.subject(f"person{n}.{kind}@example.com", now=received)
        case, _ = workflow.submit_case(kind=kind, regimes=list(regimes), subject=subject, received_at=received,
                                       actor="test", now=received, **kw)
        return case

    def verify(case: Case, when: datetime, method: str = "data_points_2") -> None:
        workflow.verify_identity(case, method=method, actor=dpo, now=when)

    def complete(case: Case, when: datetime, outcome: str = Outcome.COMPLIED_FULL, note: str = "") -> Case:
        if case.kind == "access":  # issue 10: the export completes a request to know when its package is ready
            with time_machine.travel(when, tick=False):
                run = exports.start_export(case, actor=dpo, now=when, withheld_note=note)
                steps.advance(run.pk)
            case.refresh_from_db()
            assert case.outcome == outcome
            return case
        if case.kind == "erasure":  # an erasure completes when its cascade ends; these figures need only the close
            return workflow.record_completion(case, outcome=outcome, note=note, actor=dpo, now=when)
        return workflow.complete_case(case, outcome=outcome, note=note, actor=dpo, now=when)

    def refuse(case: Case, when: datetime, ground: str, reason: str) -> Case:
        return workflow.refuse_case(case, ground=ground, reason=reason, actor=dpo, now=when)

    c: dict[str, Case] = {}
    # B1: late evening 31 Dec 2024 in Los Angeles, already 1 Jan 2025 in UTC
    c["B1"] = file("erasure", datetime(2025, 1, 1, 7, 30, tzinfo=UTC))
    verify(c["B1"], utc(2025, 1, 2))
    c["B1"] = complete(c["B1"], utc(2025, 1, 5))

    c["D1"] = file("erasure", utc(2025, 1, 10), channel=Channel.WEB_FORM)
    verify(c["D1"], utc(2025, 1, 12))
    c["D1"] = complete(c["D1"], utc(2025, 1, 20))
    c["D2"] = file("erasure", utc(2025, 2, 1), channel=Channel.EMAIL)
    verify(c["D2"], utc(2025, 2, 3))
    c["D2"] = complete(c["D2"], utc(2025, 2, 21), Outcome.COMPLIED_PARTIAL,
                       note="Invoices kept for tax law; questions to billing@example.com")
    c["D3"] = file("erasure", utc(2025, 3, 3), channel=Channel.PHONE)
    verify(c["D3"], utc(2025, 3, 10))
    workflow.extend_case(c["D3"], reason="Backups on three systems need a coordinated purge.", actor=dpo,
                         now=utc(2025, 4, 1))
    c["D3"] = complete(c["D3"], utc(2025, 4, 17))
    c["D4"] = file("erasure", utc(2025, 4, 1))
    c["D4"] = refuse(c["D4"], utc(2025, 4, 6), "ccpa_unverifiable", "No data point on file matched.")
    c["D5"] = file("erasure", utc(2025, 12, 20))

    c["K1"] = file("access", utc(2025, 5, 5), regimes=("eu_gdpr", "ccpa"), channel=Channel.IN_APP)
    verify(c["K1"], utc(2025, 5, 6), "account_reauth")
    c["K1"] = complete(c["K1"], utc(2025, 5, 19))
    c["K2"] = file("access", utc(2025, 6, 2), channel=Channel.WEB_FORM, filed_by=FiledBy.AGENT,
                   agent_name="Jane Agentname")
    verify(c["K2"], utc(2025, 6, 9), "agent_mandate_confirmed")
    c["K2"] = complete(c["K2"], utc(2025, 7, 2), Outcome.COMPLIED_PARTIAL,
                       note="Specific pieces withheld: third-party photos (rights of others).")
    c["K3"] = file("access", utc(2025, 7, 1))
    c["K3"] = refuse(c["K3"], utc(2025, 7, 8), "ccpa_exempt", "Data held only under a legal hold.")
    c["K4"] = file("access", utc(2025, 8, 1))
    c["K4"] = refuse(c["K4"], utc(2025, 8, 4), "ccpa_not_consumer", "Requester is not a California consumer.")
    c["K5"] = file("access", utc(2025, 9, 1))
    c["K5"] = workflow.cancel_case(c["K5"], reason="Withdrawn by the requester.", actor=dpo, now=utc(2025, 9, 5))

    c["C1"] = file("rectification", utc(2025, 10, 1))
    verify(c["C1"], utc(2025, 10, 2), "data_points_3_declaration")
    c["C1"] = complete(c["C1"], utc(2025, 10, 31))

    c["O1"] = file("opt_out_sale_sharing", utc(2025, 1, 15), channel=Channel.GPC)
    c["O1"] = complete(c["O1"], utc(2025, 1, 16))
    c["O2"] = file("opt_out_sale_sharing", utc(2025, 2, 10), channel=Channel.WEB_FORM)
    c["O2"] = complete(c["O2"], datetime(2025, 2, 13, 6, 0, tzinfo=UTC))  # 12 Feb 22:00 in Los Angeles
    c["O3"] = file("opt_out_sale_sharing", utc(2025, 3, 20))
    c["O3"] = refuse(c["O3"], utc(2025, 3, 27), "ccpa_fraud", "Scripted bulk submissions from one address.")
    c["O4"] = file("opt_out_sale_sharing", datetime(2026, 1, 1, 6, 0, tzinfo=UTC))  # 31 Dec 2025 22:00 PST

    c["L1"] = file("limit_sensitive", utc(2025, 11, 3))

    c["G1"] = file("access", utc(2025, 5, 5), regimes=("eu_gdpr",))
    verify(c["G1"], utc(2025, 5, 6), "email_code")
    c["G1"] = complete(c["G1"], utc(2025, 5, 20))
    return c


# --- the metrics, as data -----------------------------------------------------------------------------------


def test_2025_metrics_match_the_figures_worked_out_by_hand(year_2025):
    metrics = ccpa_metrics(2025)
    assert [r.request_type for r in metrics.rows] == ["delete", "correct", "know", "opt-out", "limit"]
    assert metrics.time_zone == "America/Los_Angeles"
    for request_type, m in metrics.by_type().items():
        received, whole, part, complied, denied, pending, withdrawn, median, mean = EXPECTED_2025[request_type]
        assert (m.received, m.complied_whole, m.complied_partial, m.complied, m.denied, m.pending, m.cancelled) == (
            received, whole, part, complied, denied, pending, withdrawn), request_type
        assert m.median_days == median, request_type
        assert m.mean_days == (None if mean is None else pytest.approx(mean)), request_type
        assert m.denials_by_reason == EXPECTED_DENIALS_2025[request_type], request_type


def test_a_request_received_late_on_new_years_eve_in_california_counts_in_the_old_year(year_2025):
    delete_2024 = ccpa_metrics(2024).by_type()["delete"]
    # B1: 31 Dec 2024 23:30 PST → 5 Jan 2025: 5 days
    assert (delete_2024.received, delete_2024.complied, delete_2024.median_days, delete_2024.mean_days) == (
        1, 1, 5.0, 5.0)
    assert ccpa_metrics(2026).by_type()["opt-out"].received == 0  # O4 is 2025 in Los Angeles


def test_the_method_statement_names_the_statistic_and_the_counting_method(year_2025):
    method = ccpa_metrics(2025).method
    assert "median and the mean" in method
    assert "received in the year" in method and "counted as received only" in method
    assert "America/Los_Angeles" in method


# --- the §7101 log ------------------------------------------------------------------------------------------


def test_the_log_lists_ccpa_requests_only_in_received_order_with_california_dates(year_2025):
    rows = list(ccpa_request_log(None, None))
    refs = {k: c.reference for k, c in year_2025.items()}
    assert len(rows) == 17
    assert refs["G1"] not in {r.reference for r in rows}
    assert refs["K1"] in {r.reference for r in rows}  # EU GDPR + CCPA is a CCPA request
    assert rows[0].reference == refs["B1"] and rows[0].date_of_request == date(2024, 12, 31)
    assert rows[-1].reference == refs["O4"] and rows[-1].date_of_request == date(2025, 12, 31)
    assert [r.date_of_request for r in rows] == sorted(r.date_of_request for r in rows)

    in_2025 = list(ccpa_request_log(date(2025, 1, 1), date(2025, 12, 31)))
    assert len(in_2025) == 16 and refs["B1"] not in {r.reference for r in in_2025}
    assert [r.reference for r in ccpa_request_log(date(2025, 2, 10), date(2025, 2, 10))] == [refs["O2"]]


def test_log_rows_carry_the_7101_fields(year_2025):
    rows = {r.reference: r for r in ccpa_request_log(None, None)}
    o2 = rows[year_2025["O2"].reference]
    assert (o2.nature_of_request, o2.date_of_response, o2.nature_of_response) == (
        "opt-out", date(2025, 2, 12), "complied in whole")
    d4 = rows[year_2025["D4"].reference]
    assert d4.nature_of_response == "denied"
    assert d4.basis_for_denial.startswith("Identity could not be verified")
    assert "No data point on file matched." in d4.basis_for_denial
    d3 = rows[year_2025["D3"].reference]
    assert d3.extension_notice_sent_at == utc(2025, 4, 1) and d3.manner_of_request == "Toll-free phone"
    assert rows[year_2025["D5"].reference].nature_of_response == "pending"
    assert rows[year_2025["K5"].reference].nature_of_response == "cancelled"
    assert rows[year_2025["O1"].reference].manner_of_request == "Global Privacy Control signal"


# --- views --------------------------------------------------------------------------------------------------


@pytest.fixture
def frozen():
    with time_machine.travel(VIEW_NOW, tick=False):
        yield


@pytest.fixture
def auditor_client(client, db, frozen):
    client.force_login(create_staff("auditor-test", "pw-auditor-123", Role.AUDITOR))
    return client


def _csv(resp) -> list[dict[str, str]]:
    body = b"".join(resp.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_log_csv_has_the_7101_columns_and_no_personal_data(auditor_client, year_2025):
    resp = auditor_client.get("/staff/reports/ccpa-log.csv")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    assert resp["Content-Disposition"].startswith("attachment;")
    assert resp["Cache-Control"] == "no-store"
    body = b"".join(resp.streaming_content).decode()
    header = next(csv.reader(io.StringIO(body)))
    assert header == list(LOG_COLUMNS)
    assert header[:8] == ["reference", "date_of_request", "nature_of_request", "manner_of_request", "agent",
                          "date_of_response", "nature_of_response", "basis_for_denial"]
    assert "@" not in body and "example.com" not in body  # D2's note named an address: masked
    assert "Jane" not in body and "Agentname" not in body
    rows = {r["reference"]: r for r in csv.DictReader(io.StringIO(body))}
    assert len(rows) == 17
    assert year_2025["G1"].reference not in rows
    k2 = rows[year_2025["K2"].reference]
    assert k2 == {
        "reference": year_2025["K2"].reference,
        "date_of_request": "2025-06-02",
        "nature_of_request": "know",
        "manner_of_request": "Web form (authorized agent)",
        "agent": "yes",
        "date_of_response": "2025-07-02",
        "nature_of_response": "complied in part",
        "basis_for_denial": "Partly denied: Specific pieces withheld: third-party photos (rights of others).",
        "receipt_ack_sent_at": "2025-06-02T11:00:00-07:00",
        "extension_notice_sent_at": "",
        "verification_level": "agent mandate + subject confirmed directly",
    }
    d2 = rows[year_2025["D2"].reference]
    assert d2["basis_for_denial"] == "Partly denied: Invoices kept for tax law; questions to [e-mail address removed]"
    d3 = rows[year_2025["D3"].reference]
    assert (d3["date_of_response"], d3["extension_notice_sent_at"], d3["agent"]) == (
        "2025-04-17", "2025-04-01T11:00:00-07:00", "no")
    b1 = rows[year_2025["B1"].reference]
    assert (b1["date_of_request"], b1["receipt_ack_sent_at"]) == ("2024-12-31", "2024-12-31T23:30:00-08:00")
    o3 = rows[year_2025["O3"].reference]
    assert o3["nature_of_response"] == "denied" and o3["basis_for_denial"].startswith(
        "Documented good-faith belief of fraud")
    assert o3["verification_level"] == ""


def test_the_log_csv_can_be_limited_to_receipt_dates(auditor_client, year_2025):
    resp = auditor_client.get("/staff/reports/ccpa-log.csv?start=2025-01-01&end=2025-01-31")
    assert resp.status_code == 200
    rows = _csv(resp)
    # B1 is 31 Dec 2024 in Los Angeles; January 2025 holds D1 (10 Jan) and O1 (15 Jan)
    assert [r["reference"] for r in rows] == [year_2025["D1"].reference, year_2025["O1"].reference]
    assert "2025-01-01-to-2025-01-31" in resp["Content-Disposition"]


@pytest.mark.parametrize("query", ["start=2025-13-01", "end=yesterday", "start=20250101",
                                   "start=2025-03-01&end=2025-02-01"])
def test_bad_log_dates_are_refused_with_a_clear_400(auditor_client, db, query):
    resp = auditor_client.get(f"/staff/reports/ccpa-log.csv?{query}")
    assert resp.status_code == 400 and b'action="/staff/reports/ccpa-log.csv"' in resp.content
    assert b"YYYY-MM-DD" in resp.content or b"on or before" in resp.content
    assert resp["Cache-Control"] == "no-store"


def _page_rows(html: str, table_id: str) -> dict[str, list[str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    rows = {}
    for m in re.finditer(r'<tr data-type="([^"]+)">(.*?)</tr>', table, re.S):
        rows[m.group(1)] = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", m.group(2), re.S)]
    return rows


def test_the_metrics_page_shows_the_hand_worked_figures_and_the_method(auditor_client, year_2025):
    resp = auditor_client.get("/staff/reports/ccpa-metrics/?year=2025")
    assert resp.status_code == 200 and resp["Cache-Control"] == "no-store"
    html = resp.content.decode()
    rows = _page_rows(html, "ccpa-metrics")
    for request_type, (received, whole, part, complied, denied, pending, withdrawn, _, _) in EXPECTED_2025.items():
        median, mean = SHOWN_2025[request_type][3:]
        assert rows[request_type] == [str(received), str(whole), str(part), str(complied), str(denied),
                                      str(pending), str(withdrawn), median, mean], request_type
    denials = _page_rows(html, "ccpa-denials")
    assert denials["know"] == ["3", "0", "1", "1", "1"]  # in whole or in part: total, unverifiable, …, other
    assert "median and the mean" in html and "counted as received only" in html
    assert "person0" not in html and "@example.com" not in html


def test_the_metrics_csv_matches(auditor_client, year_2025):
    resp = auditor_client.get("/staff/reports/ccpa-metrics.csv?year=2025")
    assert resp.status_code == 200 and resp["Content-Disposition"] == 'attachment; filename="ccpa-metrics-2025.csv"'
    rows = {r["request_type"]: r for r in _csv(resp)}
    assert list(rows) == ["delete", "correct", "know", "opt-out", "limit"]
    for request_type, (received, whole, part, complied, denied, pending, withdrawn, _, _) in EXPECTED_2025.items():
        r = rows[request_type]
        assert (r["year"], r["received"], r["complied_in_whole"], r["complied_in_part"],
                r["complied_in_whole_or_in_part"], r["denied"], r["pending"], r["withdrawn"]) == (
            "2025", str(received), str(whole), str(part), str(complied), str(denied), str(pending), str(withdrawn))
        median, mean = SHOWN_2025[request_type][3:]
        assert r["median_days_to_substantive_response"] == median.replace("—", "")
        assert r["mean_days_to_substantive_response"] == mean.replace("—", "")
        assert {k: int(r[f"denied_{k}"]) for k in EXPECTED_DENIALS_2025[request_type]} == (
            EXPECTED_DENIALS_2025[request_type])


def test_the_metrics_pdf_is_a_real_pdf_with_the_figures(auditor_client, year_2025, settings):
    settings.DSR_CONTROLLER_NAME = "Acme Photos Inc."
    resp = auditor_client.get("/staff/reports/ccpa-metrics.pdf?year=2025")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/pdf" and resp["Cache-Control"] == "no-store"
    assert resp.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(resp.content))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "Acme Photos Inc." in text and "2025" in text
    assert "Generated 6 March 2026" in text
    assert "Page 1 of" in text
    for label, request_type in [("Requests to delete", "delete"), ("Requests to correct", "correct"),
                                ("Requests to know", "know"), ("sale/sharing", "opt-out"),
                                ("personal information", "limit")]:
        received, complied, denied, median, mean = SHOWN_2025[request_type]
        assert f"{label} {received} {complied} {denied} {median} {mean}" in text, (request_type, text)
    assert "median and the mean" in text
    assert "@" not in text


def test_the_index_links_every_report_and_opens_on_the_current_year(auditor_client, db):
    resp = auditor_client.get("/staff/reports/")
    assert resp.status_code == 200 and resp["Cache-Control"] == "no-store"
    html = resp.content.decode()
    assert '<option value="2026" selected>' in html
    for href in ["/staff/reports/ccpa-log.csv", "/staff/reports/ccpa-metrics/",
                 "/staff/reports/ccpa-metrics.csv?year=2026", "/staff/reports/ccpa-metrics.pdf?year=2026"]:
        assert href in html


def test_on_new_years_eve_in_california_the_current_year_is_still_the_old_one(client, db):
    client.force_login(create_staff("op-nye", "pw-op-nye-123", Role.OPERATOR))
    with time_machine.travel(datetime(2026, 1, 1, 5, 0, tzinfo=UTC), tick=False):  # 31 Dec 2025 21:00 PST
        html = client.get("/staff/reports/").content.decode()
    assert '<option value="2025" selected>' in html


def test_the_metrics_page_without_a_year_shows_the_current_year(auditor_client, db):
    resp = auditor_client.get("/staff/reports/ccpa-metrics/")
    assert resp.status_code == 200
    assert "CCPA §7102 metrics for 2026" in resp.content.decode()
    assert auditor_client.get("/staff/reports/ccpa-metrics.csv").status_code == 200


@pytest.mark.parametrize("year", ["twenty", "25", "2019", "2027", "2025.0", "٢٠٢٥"])
@pytest.mark.parametrize("path", ["/staff/reports/ccpa-metrics/", "/staff/reports/ccpa-metrics.csv",
                                  "/staff/reports/ccpa-metrics.pdf"])
def test_a_bad_year_gives_the_reports_page_with_the_reason_and_the_forms(auditor_client, db, path, year):
    resp = auditor_client.get(path, {"year": year})
    assert resp.status_code == 400 and resp["Content-Type"].startswith("text/html")
    html = resp.content.decode()
    assert "could not be produced" in html and "year" in html
    assert '<form method="get" action="/staff/reports/ccpa-metrics/"' in html  # the normal page, with its form
    assert 'action="/staff/logout/"' in html  # inside the console, not a bare error
    assert resp["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/staff/reports/", "/staff/reports/ccpa-log.csv",
                                  "/staff/reports/ccpa-metrics/?year=2025", "/staff/reports/ccpa-metrics.csv?year=2025",
                                  "/staff/reports/ccpa-metrics.pdf?year=2025"])
def test_anonymous_visitors_are_sent_to_sign_in_and_staff_without_a_role_get_403(client, db, frozen, path):
    resp = client.get(path)
    assert resp.status_code == 302 and resp["Location"].startswith("/staff/login/?next=")
    client.force_login(User.objects.create_user("norole", password="pw-norole-123"))
    resp = client.get(path)
    assert resp.status_code == 403 and b"Not allowed" in resp.content
    assert resp["Cache-Control"] == "no-store"


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.APPROVER, Role.AUDITOR])
def test_every_role_may_see_reports(client, db, frozen, role):
    client.force_login(create_staff(f"u-{role}", "pw-role-12345", role))
    assert client.get("/staff/reports/ccpa-metrics/?year=2025").status_code == 200


def test_reports_are_read_only(auditor_client, db):
    assert auditor_client.post("/staff/reports/ccpa-metrics.csv?year=2025").status_code == 405


# --- the PDF renderer fetches nothing -----------------------------------------------------------------------

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
HOSTILE = """<!doctype html><html><head>
<link rel="stylesheet" href="file:///etc/passwd">
<style>@import url("https://example.com/evil.css"); body { background: url(ftp://127.0.0.1/x.png); }</style>
</head><body>
<p>Hello {{ name }}</p>
<img src="http://127.0.0.1:9/x.png">
<img src="file:///etc/hostname">
<img src="data:image/png;base64,PIXEL">
{{ injected|safe }}
</body></html>"""


@pytest.fixture
def hostile_template(settings, tmp_path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "hostile.html").write_text(HOSTILE.replace("PIXEL", PIXEL))
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path / "tpl", *settings.TEMPLATES[0]["DIRS"]]}]
    return "hostile.html"


def test_render_pdf_refuses_every_url_but_data_and_opens_no_connection(hostile_template, monkeypatch):
    connections: list[object] = []

    def no_network(*args, **kwargs):
        connections.append(args)
        raise AssertionError("render_pdf opened a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: no_network(*a))
    fetcher = LocalOnlyFetcher()
    pdf = render_pdf(hostile_template, {"name": "Ann", "injected": '<img src="https://169.254.169.254/latest">'},
                     fetcher=fetcher)
    assert pdf.startswith(b"%PDF-")
    assert set(fetcher.refused) >= {"http://127.0.0.1:9/x.png", "file:///etc/passwd", "file:///etc/hostname",
                                    "https://example.com/evil.css", "ftp://127.0.0.1/x.png",
                                    "https://169.254.169.254/latest"}
    assert not any(u.startswith("data:") for u in fetcher.refused)
    assert fetcher.served and all(u.startswith("data:image/png") for u in fetcher.served)
    assert connections == []
    assert "Hello Ann" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.png", "https://example.com/", "ftp://example.com/f",
                                 "file:///etc/passwd", "FILE:///etc/passwd", "/etc/passwd", "gopher://x/"])
def test_the_fetcher_refuses_before_any_io(url):
    fetcher = LocalOnlyFetcher()
    with pytest.raises(RemoteFetchRefused):
        fetcher.fetch(url)
    assert fetcher.refused == [url]


def test_the_fetcher_serves_data_uris():
    response = LocalOnlyFetcher().fetch("data:text/plain;base64,aGk=")
    assert response.read() == b"hi"


def test_the_pdf_template_loads_no_external_resources(db):
    from dsr.reports import CcpaMetrics

    html = render_to_string("pdf/ccpa_metrics.html", {
        "metrics": CcpaMetrics(year=2025, time_zone="America/Los_Angeles", rows=[], method="m"), "rows": [],
        "year": 2025, "year_complete": True, "denial_reasons": {}, "controller_name": "X",
        "generated_at": VIEW_NOW})
    assert not re.search(r"(src|href)\s*=|url\(|@import", html)


# --- §7102 publication: frozen figures, differences, the 1 July duty (issue 8 §5) ---------------------------


@pytest.fixture
def dpo_client(client, dpo, frozen):
    client.force_login(dpo)
    return client


def test_a_published_year_does_not_change_when_a_case_of_that_year_is_completed_and_the_difference_shows(
        dpo_client, dpo, year_2025):
    resp = dpo_client.post("/staff/reports/ccpa-metrics/publish", {"year": "2025"})
    assert resp.status_code == 302
    [pub] = CcpaMetricsPublication.objects.filter(year=2025)
    assert (pub.version, pub.published_by_name, pub.published_at) == (1, "dpo-test", VIEW_NOW)
    event = Event.objects.filter(kind="ccpa_metrics.published").get()
    assert event.data == {"year": 2025, "version": 1, "correction": False, "received": 16}

    # D5 (delete, received 20 Dec 2025, pending when published) is completed afterwards.
    workflow.verify_identity(year_2025["D5"], method="data_points_2", actor=dpo, now=VIEW_NOW)
    workflow.record_completion(year_2025["D5"], outcome="complied_full", note="", actor=dpo, now=VIEW_NOW)  # an
    # erasure closes when its cascade ends (tests/test_erasure.py); these figures need only the close
    assert ccpa_metrics(2025).by_type()["delete"].complied_whole == 3  # the live figures moved...

    html = dpo_client.get("/staff/reports/ccpa-metrics/?year=2025").content.decode()
    assert "Published 6 March 2026 by dpo-test (version 1)" in html
    rows = _page_rows(html, "ccpa-metrics")
    assert rows["delete"][:7] == ["5", "2", "1", "3", "1", "1", "0"]  # ...the published ones did not
    changes = re.findall(r'<tr data-type="delete" data-field="([^"]+)">.*?<td class="num">([^<]*)</td>'
                         r'<td class="num">([^<]*)</td>', html, re.S)
    assert ("complied_whole", "2", "3") in changes and ("pending", "1", "0") in changes
    assert ("median_days", "15.0", "20.0") in changes  # days 5, 10, 20, 45, 76 -> 20
    csv_rows = {r["request_type"]: r for r in _csv(dpo_client.get("/staff/reports/ccpa-metrics.csv?year=2025"))}
    assert csv_rows["delete"]["complied_in_whole"] == "2"
    assert csv_rows["delete"]["publication"] == "published 2026-03-06 (version 1)"
    pdf = dpo_client.get("/staff/reports/ccpa-metrics.pdf?year=2025").content
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "published 6 March 2026 (version 1)" in text and "Requests to delete 5 3 1 15.0 20.0" in text


def test_publishing_again_is_a_correction_with_a_reason_and_the_first_version_stays(dpo_client, dpo, year_2025):
    first = publish_ccpa_metrics(2025, actor=dpo, now=VIEW_NOW)
    with pytest.raises(ReportError, match="correction and needs its reason"):
        publish_ccpa_metrics(2025, actor=dpo, now=VIEW_NOW)
    second = publish_ccpa_metrics(2025, actor=dpo, now=VIEW_NOW, correction_reason="D5 was misfiled as pending.")
    assert (first.version, second.version) == (1, 2)
    assert CcpaMetricsPublication.objects.filter(year=2025).count() == 2
    html = dpo_client.get("/staff/reports/ccpa-metrics/?year=2025").content.decode()
    assert "version 2, correction: D5 was misfiled as pending." in html


def test_only_an_approver_publishes_and_only_a_year_that_is_over(client, db, frozen, year_2025):
    operator = create_staff("op-pub", "pw-op-pub-123", Role.OPERATOR)
    client.force_login(operator)
    assert client.post("/staff/reports/ccpa-metrics/publish", {"year": "2025"}).status_code == 403
    with pytest.raises(ReportError, match="approver"):
        publish_ccpa_metrics(2025, actor=operator, now=VIEW_NOW)
    dpo = User.objects.get(username="dpo-test")
    with pytest.raises(ReportError, match="not over yet"):
        publish_ccpa_metrics(2026, actor=dpo, now=VIEW_NOW)
    assert not CcpaMetricsPublication.objects.exists()
    assert not Event.objects.filter(kind="ccpa_metrics.published").exists()


def test_the_reports_page_tracks_the_1_july_duty_against_the_10_million_threshold(client, db, settings, dpo):
    client.force_login(dpo)
    settings.DSR_CCPA_CONSUMERS_PER_YEAR = 12_000_000
    with time_machine.travel(VIEW_NOW, tick=False):
        html = client.get("/staff/reports/").content.decode()
    assert "§7102 applies" in html and "due by <strong>1 July 2026</strong>" in html
    assert "not published yet, 117 days left" in html
    with time_machine.travel(datetime(2026, 7, 3, 17, tzinfo=UTC), tick=False):
        assert "not published, 2 days overdue" in client.get("/staff/reports/").content.decode()
        publish_ccpa_metrics(2025, actor=dpo, now=datetime(2026, 7, 3, 17, tzinfo=UTC))
        assert "published 3 July 2026 (<span class=\"overdue\">late</span>)" in client.get(
            "/staff/reports/").content.decode()
    settings.DSR_CCPA_CONSUMERS_PER_YEAR = 9_999_999
    with time_machine.travel(VIEW_NOW, tick=False):
        assert "§7102 does not apply" in client.get("/staff/reports/").content.decode()


def test_a_partial_compliance_counts_as_denied_in_part_by_its_recorded_ground(db, dpo):
    subject = factories.subject("part@example.com", now=utc(2025, 5, 1))
    case, _ = workflow.submit_case(kind="access", regimes=["ccpa"], subject=subject, received_at=utc(2025, 5, 1),
                                   actor="t", now=utc(2025, 5, 1))
    workflow.verify_identity(case, method="data_points_2", actor=dpo, now=utc(2025, 5, 2))
    # a request to know completes through its export (issue 10), which records the part withheld the same way
    with pytest.raises(workflow.WorkflowError, match="only recorded for a part withheld"):
        exports.start_export(case, withheld_ground="ccpa_exempt", actor=dpo, now=utc(2025, 5, 3))
    with pytest.raises(workflow.WorkflowError, match="does not apply"):
        exports.start_export(case, withheld_note="Withheld: legal hold items.",
                             withheld_ground="art17_3_e_legal_claims", actor=dpo, now=utc(2025, 5, 3))
    with time_machine.travel(utc(2025, 5, 3), tick=False):
        run = exports.start_export(case, withheld_note="Withheld: legal hold items.", withheld_ground="ccpa_exempt",
                                   actor=dpo, now=utc(2025, 5, 3))
        steps.advance(run.pk)
    know = ccpa_metrics(2025).by_type()["know"]
    assert (know.complied_partial, know.denied, know.denied_in_whole_or_part) == (1, 0, 1)
    assert know.denials_by_reason == {"unverifiable": 0, "not_consumer": 0, "exempt": 1, "other": 0}
    [row] = list(ccpa_request_log(None, None))
    assert row.basis_for_denial == (
        "Partly denied (Exempt information — Civ. Code §1798.145): Withheld: legal hold items.")


def test_the_isolated_renderer_makes_the_same_pdf_in_a_child_that_fetches_nothing(hostile_template):
    # A listener on a local port the hostile document points at: the child must never connect to it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    injected = f'<img src="http://127.0.0.1:{port}/x.png"><link rel="stylesheet" href="http://127.0.0.1:{port}/s">'
    try:
        pdf = render_pdf_isolated(hostile_template, {"name": "Ann", "injected": injected})
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert pdf.startswith(b"%PDF-")
    assert "Hello Ann" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_a_failing_child_renderer_raises_a_clear_error_that_quotes_no_content(settings, tmp_path, monkeypatch):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "p.html").write_text("<p>Secret Person</p>")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path / "tpl", *settings.TEMPLATES[0]["DIRS"]]}]
    monkeypatch.setattr("sys.executable", "/bin/false")  # a renderer that dies without output
    with pytest.raises(PdfRenderFailed) as failed:
        render_pdf_isolated("p.html", {})
    assert "exit 1" in str(failed.value) and "Secret" not in str(failed.value)
