"""Breach documents read back from the real PDFs with pdftotext: the Art. 33 notification holds every §10.2 item
in the form's order, the California AG sample copy has the §10.7 layout and no one's data, and the Art. 33(5)
register (CSV and PDF) every §10.8 field."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from dsr import breach_documents
from dsr.breach_documents import art33_pdf, california_notice_pdf, register_csv, register_pdf
from dsr.breaches import BreachInputError
from dsr.models import Recipient, Subject
from dsr.models.breaches import Breach, BreachAffected, BreachDeadline, BreachFiling, Exception34, RiskLevel
from tests import breach_kit

pytestmark = pytest.mark.django_db
AUTHORITY = "Data Protection Commission (Ireland)"
ON_TIME = breach_kit.T0 + timedelta(hours=20)  # 2026-03-28 18:30 UTC
LATE = breach_kit.T0 + timedelta(hours=80)
State = BreachAffected.NoticeState


def pdf_text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(out.stdout.decode().split())


@pytest.fixture(autouse=True)
def controller(settings):
    settings.DSR_CONTROLLER_NAME = "Example Photo Platform Ltd"
    settings.DSR_CONTROLLER_CONTACT = "privacy@photos.example"
    settings.DSR_CONTROLLER_COUNTRY = "IE"
    settings.DSR_DPO_NAME = "Dr. Dana Schutz"
    settings.DSR_DPO_CONTACT = "dpo@photos.example, +353 1 555 0100"


@pytest.fixture
def incident() -> Breach:
    processor = Recipient.objects.create(name="CloudStore GmbH", service="object storage for photos", country="DE",
                                         contact="security@cloudstore.example")
    b = breach_kit.breach(
        processor=processor, processor_notified_controller_at=datetime(2026, 3, 27, 21, 15, tzinfo=UTC),
        scope_subjects=5, scope_items=30,
        scope_counts={"categories": {"photo": {"subjects": 5, "items": 20},
                                     "face_embedding": {"subjects": 4, "items": 8},
                                     "account_profile": {"subjects": 2, "items": 2}},
                      "jurisdictions": {"DE": 2, "FR": 1, "IE": 1, "US-CA": 1}})
    rows = [*breach_kit.affect(b, 2, residence="DE", prefix="de"), *breach_kit.affect(b, 1, residence="FR"),
            *breach_kit.affect(b, 1, residence="IE"), *breach_kit.affect(b, 1, residence="US-CA", prefix="ca")]
    Subject.objects.filter(pk=rows[2].subject_id).update(kind=Subject.Kind.DEPICTED)
    sent = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    for i, row in enumerate(rows[:2]):
        BreachAffected.objects.filter(pk=row.pk).update(notice_state=State.SENT, notice_channel="email",
                                                        notice_sent_at=sent + timedelta(minutes=i))
    Breach.objects.filter(pk=b.pk).update(scope_subjects=5)
    b.refresh_from_db()
    return b


def expect(text: str, label: str, value: str) -> None:
    """The label, then its value right after it (label above value in the layout). pdftotext joins a line broken
    after a hyphen and drops the hyphen ("DPC-|BN" → "DPCBN"), so hyphens are compared loosely."""
    wanted = f"{label} {value}"
    assert wanted in text or wanted.replace("-", "") in text.replace("-", ""), f"{label!r} → {value!r} not found"


def test_the_art33_pdf_holds_every_checklist_item_with_its_value_in_the_forms_order(incident):
    text = pdf_text(art33_pdf(incident, authority=AUTHORITY, phase="initial", now=ON_TIME))

    titles = ["1. Report, controller and supervisory authority", "2. Nature of the breach (Art. 33(3)(a))",
              "3. Data protection officer or other contact point (Art. 33(3)(b))",
              "4. Likely consequences (Art. 33(3)(c))", "5. Measures taken or proposed (Art. 33(3)(d))",
              "6. Timeline", "7. Cause and attack vector", "8. Special categories and biometric data",
              "9. Encryption and pseudonymisation", "10. Processor involved", "11. Cross-border impact",
              "12. Communication to data subjects (Art. 34)", "13. Timeliness (Art. 33(1))",
              "14. Phased notification (Art. 33(4))"]
    positions = [text.index(t) for t in titles]
    assert positions == sorted(positions)

    # §10.2 item 1: controller and supervisory authority
    expect(text, "Type of report", "Initial notification (Art. 33(4))")
    expect(text, "Breach reference", incident.reference)
    expect(text, "Date of this report", "2026-03-28 18:30 UTC")
    expect(text, "Controller", "Example Photo Platform Ltd")
    expect(text, "Controller contact details", "privacy@photos.example")
    expect(text, "Supervisory authority notified", AUTHORITY)
    expect(text, "Lead supervisory authority (Art. 56)", "Data Protection Commission")
    # item 2: nature, categories and approximate numbers of people and records
    expect(text, "Type of breach", "Confidentiality (disclosure or access)")
    expect(text, "Categories of data subjects", "Account holder: 4; Appears in others' content only: 1")
    expect(text, "Approximate number of data subjects", "5")
    expect(text, "Categories of personal data records",
           "Uploaded photo: 20 records (5 people); Face embedding (biometric template): 8 records (4 people); "
           "Account profile: 2 records (2 people)")
    expect(text, "Approximate number of personal data records", "30")
    # item 3: DPO
    expect(text, "Name", "Dr. Dana Schutz")
    expect(text, "Contact details", "dpo@photos.example, +353 1 555 0100")
    # item 4: consequences (with the risk decision)
    expect(text, "Likely consequences", breach_kit.CONSEQUENCES)
    expect(text, "Risk level", "High risk")
    expect(text, "Rationale", "Face templates cannot be changed; unencrypted copies were downloaded.")
    # item 5: measures
    expect(text, "Measures", breach_kit.MEASURES)
    expect(text, "Remedial actions taken", f"2026-03-28 09:00 — {breach_kit.ACTION}")
    # item 6: the recommended extras
    expect(text, "Breach started", "2026-03-20 08:00 UTC")
    expect(text, "Breach ended", "2026-03-27 21:00 UTC")
    expect(text, "Detected", "2026-03-27 20:05 UTC")
    expect(text, "Controller aware", "2026-03-27 22:30 UTC")
    expect(text, "Awareness based on", "Access logs show downloads with the leaked key from an unknown address.")
    expect(text, "Processor informed the controller", "2026-03-27 21:15 UTC")
    expect(text, "Description of the incident", breach_kit.FACTS)
    expect(text, "Special categories (Art. 9) involved", "Yes — biometric data: face templates used to identify")
    expect(text, "Affected data encrypted", "No")
    expect(text, "Keys exposed", "Yes")
    expect(text, "Data unintelligible to the recipient (Art. 34(3)(a))", "No.")
    expect(text, "Processor", "CloudStore GmbH — object storage for photos (DE); contact: security@cloudstore.example")
    expect(text, "Affected people by residence", "DE: 2; FR: 1; IE: 1; US-CA: 1")
    expect(text, "Other EEA states concerned (Art. 56, cross-border processing)", "Yes: DE, FR")
    expect(text, "Data subjects informed", "Yes, by e-mail: 2 of 5 people told between 2026-03-28 09:00 UTC and "
                                           "2026-03-28 09:01 UTC")
    # item 7: 72 hours met
    expect(text, "72-hour deadline", "2026-03-30 22:30 UTC (B-SA: awareness 2026-03-27 22:30 UTC + 72 hours)")
    expect(text, "Notified within 72 hours", "Yes")
    expect(text, "Reasons for the delay", "Not applicable")
    # item 8: phase
    expect(text, "Phase", "Initial")
    assert "Further information will be provided in phases" in text
    # counts only: no one's address
    assert "@example.com" not in text


def test_a_late_notification_gives_its_reasons_and_says_so_when_they_are_missing(incident):
    text = pdf_text(art33_pdf(incident, authority=AUTHORITY, phase="initial", now=LATE))
    expect(text, "Notified within 72 hours", "No — late")
    expect(text, "Reasons for the delay", "NOT GIVEN — required with a late notification (Art. 33(1))")
    reason = "The storage provider's logs needed three days to be released to us."
    text = pdf_text(art33_pdf(incident, authority=AUTHORITY, phase="initial", now=LATE, delay_reason=reason))
    expect(text, "Notified within 72 hours", "No — late")
    expect(text, "Reasons for the delay", reason)


def test_a_follow_up_links_to_the_initial_notification(incident):
    text = pdf_text(art33_pdf(incident, authority=AUTHORITY, phase="follow_up", now=ON_TIME))
    expect(text, "Follows the notification of", "NO INITIAL NOTIFICATION RECORDED for this authority yet")
    with pytest.raises(BreachInputError):
        art33_pdf(incident, authority=AUTHORITY, phase="bogus", now=ON_TIME)
    initial = BreachFiling.objects.create(breach=incident, rule="B-SA", authority=AUTHORITY, phase="initial",
                                          filed_at=breach_kit.T0 + timedelta(hours=30), filed_by="staff:alice",
                                          submission_ref="DPC-BN-2026-0042")
    text = pdf_text(art33_pdf(incident, authority=AUTHORITY, phase="follow_up", now=LATE))
    expect(text, "Type of report", "Follow-up notification (Art. 33(4))")
    expect(text, "Phase", "Follow-up")
    expect(text, "Follows the notification of", f"2026-03-29 04:30 UTC to {AUTHORITY}, authority reference "
                                                 f"DPC-BN-2026-0042 (dsr filing {initial.pk})")
    expect(text, "Initial notification", "2026-03-29 04:30 UTC")
    expect(text, "Notified within 72 hours", "Yes")  # judged on the initial notification, not this follow-up


def test_the_ico_notification_counts_its_own_72_hours(incident):
    BreachDeadline.objects.create(breach=incident, rule="UK-BR", regime="uk_gdpr", authority="ICO",
                                  started_at=incident.aware_at, due_at=incident.aware_at + timedelta(hours=72),
                                  basis="UK GDPR Art. 33(1)")
    text = pdf_text(art33_pdf(incident, authority="Information Commissioner's Office (ICO)", phase="initial",
                              now=ON_TIME))
    expect(text, "72-hour deadline", "2026-03-30 22:30 UTC (UK-BR:")


def test_people_told_reads_the_exception_when_one_applies(incident):
    Breach.objects.filter(pk=incident.pk).update(exception_34_3=Exception34.UNINTELLIGIBLE,
                                                 exception_rationale="Encrypted copies only; keys never left HSM.")
    incident.refresh_from_db()
    text = pdf_text(art33_pdf(incident, authority=AUTHORITY, phase="initial", now=ON_TIME))
    assert "Not told individually: Art. 34(3) exception (a) data unintelligible" in text
    assert "keys never left HSM." in text


def test_the_california_sample_copy_has_the_notice_layout_and_no_personal_data(incident):
    text = pdf_text(california_notice_pdf(incident, now=ON_TIME))
    assert "Sample copy for the California Attorney General" in text
    assert "California residents affected: 1; notified: 0" in text
    headings = ["Notice of Data Breach", "What Happened", "What Information Was Involved", "What We Are Doing",
                "What You Can Do", "For More Information"]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "Example Photo Platform Ltd · privacy@photos.example" in text
    assert "This notice was not delayed because of a law-enforcement investigation." in text
    assert "stop relying on your face alone" in text
    assert "@example.com" not in text


def test_the_register_csv_has_every_register_field_for_every_breach_and_is_formula_safe(incident):
    quiet = breach_kit.breach(title="=HYPERLINK(\"http://evil.example\")", risk_level=RiskLevel.UNLIKELY,
                              risk_rationale="Encrypted backup tape, keys safe, restored in an hour.",
                              types=["availability"], categories=["preferences"], processor=None)
    BreachFiling.objects.create(breach=incident, rule="B-SA", authority=AUTHORITY, phase="initial",
                                filed_at=LATE, filed_by="staff:alice", submission_ref="DPC-BN-2026-0042", late=True,
                                delay_reason="Logs released late by the processor.")
    BreachDeadline.objects.create(breach=incident, rule="CB-IND", regime="ca_breach", authority="subjects",
                                  started_at=incident.aware_at, due_at=datetime(2026, 4, 27, 6, 59, tzinfo=UTC),
                                  basis="Cal. Civ. Code §1798.82(a)")
    data = register_csv(Breach.objects.filter(pk__in=[incident.pk, quiet.pk]))
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == [name for name, _ in breach_documents.REGISTER_FIELDS]
    for field in ("incident_id", "detected_at", "aware_at", "aware_basis", "description", "breach_types",
                  "data_categories", "subjects_count_est", "records_count_est", "jurisdictions", "effects",
                  "risk_level", "risk_rationale", "risk_assessed_at", "remedial_actions", "sa_notified_at", "sa_refs",
                  "delay_reason", "ds_notified_at", "exception_34_3", "processor_involved", "us_state_notices"):
        assert field in rows[0]
    by_ref = {r["incident_id"]: r for r in rows}
    main = by_ref[incident.reference]
    assert main["aware_at"] == "2026-03-27 22:30 UTC"
    assert main["special_or_biometric"] == "Yes (biometric: face templates)"
    assert main["subjects_count_est"] == "5" and main["records_count_est"] == "30"
    assert main["jurisdictions"] == "DE: 2; FR: 1; IE: 1; US-CA: 1"
    assert main["risk_level"] == "High risk"
    assert main["sa_notified_at"] == f"2026-03-31 06:30 UTC {AUTHORITY} (Initial, late)"
    assert main["sa_refs"] == "DPC-BN-2026-0042" and main["delay_reason"] == "Logs released late by the processor."
    assert main["ds_notified_at"] == "2 of 5 told, 2026-03-28 09:00 UTC – 2026-03-28 09:01 UTC"
    assert main["processor_involved"] == "CloudStore GmbH (DE)"
    assert main["us_state_notices"] == "CB-IND due 2026-04-27 06:59 UTC"
    assert breach_kit.ACTION in main["remedial_actions"]
    other = by_ref[quiet.reference]
    assert other["title"] == "'=HYPERLINK(\"http://evil.example\")"  # neutralised, not a formula
    assert other["risk_level"] == "Unlikely to result in a risk"
    assert other["risk_rationale"] == "Encrypted backup tape, keys safe, restored in an hour."  # B-SKIP reasoning
    assert other["sa_notified_at"] == "" and other["exception_34_3"] == "none"
    assert "@example.com" not in data.decode()


def test_the_register_pdf_has_every_register_field_for_every_breach(incident):
    quiet = breach_kit.breach(risk_level=RiskLevel.UNLIKELY, types=["availability"], categories=["preferences"])
    text = pdf_text(register_pdf(Breach.objects.filter(pk__in=[incident.pk, quiet.pk]), now=ON_TIME))
    assert "Register of personal data breaches (Art. 33(5) GDPR)" in text and "2 entries" in text
    for _, label in breach_documents.REGISTER_FIELDS:
        assert text.count(label) >= 2, label
    expect(text, "Incident", incident.reference)
    expect(text, "Incident", quiet.reference)
    expect(text, "Data subjects (approx.)", "5")
    expect(text, "Risk level", "Unlikely to result in a risk")
    expect(text, "Data subjects notified", "2 of 5 told")
    assert "@example.com" not in text
