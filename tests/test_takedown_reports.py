"""The evidence pack (a real PDF, read back) and the takedown figures for a period (page and CSV)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from pypdf import PdfReader

from dsr import copies, takedown_intake, takedown_reports, takedowns
from dsr.models import Event, ReuploadBlock, Takedown, TakedownItem
from dsr.roles import Role, create_staff

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_indexes():
    copies.reset_indexes()
    yield


def pdf_text(data: bytes) -> str:
    assert data[:5] == b"%PDF-"
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


def test_the_percentile_is_a_nearest_rank_value():
    assert takedown_reports.percentile([], 0.95) is None
    assert takedown_reports.percentile([3.0], 0.95) == 3.0
    assert takedown_reports.percentile([float(i) for i in range(1, 21)], 0.95) == 19.0
    assert takedown_reports.percentile([float(i) for i in range(1, 101)], 0.95) == 95.0


def _row(n: int, *, received: datetime, valid_after: float | None, removed_after: float | None,
         intimate: bool | None = None, copies_found: int = 0) -> Takedown:
    valid_at = received + timedelta(hours=valid_after) if valid_after is not None else None
    td = Takedown.objects.create(
        number=f"TD-0000{n:04d}", channel="api", received_at=received, created_at=received, valid_at=valid_at,
        state="removed" if removed_after is not None else "under_review",
        decision_valid=True if removed_after is not None else None, decision_intimate=intimate,
        removed_at=valid_at + timedelta(hours=removed_after) if removed_after is not None else None)
    for _ in range(copies_found):
        TakedownItem.objects.create(takedown=td, item_id=uuid.uuid4(), role="copy", found_by="sweep", distance=4,
                                    created_at=received)
    return td


def test_figures_count_requests_received_in_the_period_and_hours_from_validity_to_removal():
    hours = [2.0, 4.0, 6.0, 8.0, 47.0]
    for i, h in enumerate(hours):
        _row(i, received=T0 + timedelta(days=i), valid_after=1.0, removed_after=h, intimate=i % 2 == 0,
             copies_found=1 if i == 0 else 0)
    _row(10, received=T0 + timedelta(days=6), valid_after=None, removed_after=None)  # incomplete
    outside = _row(11, received=T0 - timedelta(days=40), valid_after=0, removed_after=1.0)
    ReuploadBlock.objects.create(takedown=outside, distance=3, pdq="0" * 64, at=T0 + timedelta(days=3), actor="t",
                                 route="photo_upload")
    m = takedown_reports.metrics(T0, T0 + timedelta(days=30))
    assert (m.received, m.complete, m.valid, m.removed, m.intimate) == (6, 5, 5, 5, 3)
    assert m.median_hours == 6.0 and m.p95_hours == 47.0
    assert (m.copies_found, m.reuploads_blocked) == (1, 1)

    client = Client()
    client.force_login(create_staff("aud", "pw-aud-12345", Role.AUDITOR))
    page = client.get("/staff/reports/takedowns/", {"start": "2026-03-02", "end": "2026-03-31"})
    assert page.status_code == 200 and "95th percentile hours to removal" in page.content.decode()
    got = client.get("/staff/reports/takedowns.csv", {"start": "2026-03-02", "end": "2026-03-31"})
    rows = dict(csv.reader(io.StringIO(got.content.decode())))
    assert rows["received"] == "6" and rows["median_hours_to_removal"] == "6.00"
    assert rows["p95_hours_to_removal"] == "47.00" and rows["reuploads_blocked"] == "1"
    assert client.get("/staff/reports/takedowns.csv", {"start": "yesterday"}).status_code == 400


def test_the_evidence_pack_of_a_refused_request_holds_the_elements_the_decision_and_the_notices(api):
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    td, _created, _token = takedown_intake.file_takedown(takedown_intake.Filing(
        signature_name="Jane Roe", signature_attested=True, links=["https://platform.example/v/12345678"],
        good_faith_statement="This clip shows me and I never agreed.", good_faith_confirmed=True,
        contact_email="jane@example.org", intimate=True), channel="portal", actor="portal", now=T0)
    takedowns.decide_takedown(td, valid=False, intimate=False, reason="The link points to no content on this "
                              "platform.", ground="not_located", actor=op, now=T0 + timedelta(hours=3))
    client = Client()
    client.force_login(op)
    r = client.get(f"/staff/takedowns/{td.pk}/evidence.pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    text = pdf_text(r.content)
    for expected in (td.number, "Jane Roe", "https://platform.example/v/12345678", "This clip shows me and I never "
                     "agreed.", "jane@example.org", "T-TIDA", "superseded", "could not be found on the platform",
                     "The link points to no content", "Outcome to the requester", "Receipt with the request number",
                     "takedown.received", "takedown.decided", "Requester (request refused)"):
        assert expected in text, expected
    assert Event.objects.filter(object_id=str(td.pk), kind="takedown.evidence_exported").exists()
