"""The erasure cascade (issue 9 §2-§6) in one process on the real database: gate, manifest, grace window, key
destruction, items and lineage, holders, recipients, sweep, certificate, completion — and cancelling, holds,
partial erasure, platform-filed erasures and tombstones replayed after a restore."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from dsr import audit, emails, erasure, steps, vault, workflow
from dsr.models import (
    Case,
    CaseState,
    Consent,
    DataItem,
    Erasure,
    ErasureState,
    ErasureTarget,
    Event,
    OutboundMessage,
    RunState,
    Step,
    Subject,
    SubjectKey,
    Tombstone,
)
from tests.erasure_kit import (
    Receiver,
    approve,
    build_world,
    erasure_case,
    holdings_of,
    point_recipients_at,
    run_to_end,
    staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    r = Receiver().up()
    yield r
    r.down()


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_an_approved_erasure_gates_waits_out_its_grace_then_erases_everything_and_completes_by_itself(
        receiver, api):
    secrets = point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    vault.record_consent(w.alice, purpose="face_matching", granted_at=now, actor="t", now=now)
    case = erasure_case(w.alice, now, details="Please delete alice@example.com everywhere")
    mail.outbox.clear()

    run = approve(case, now)
    w.alice.refresh_from_db()
    assert w.alice.writes_blocked_at == now  # the gate shuts at approval, before any worker runs
    with pytest.raises(vault.WritesBlocked):
        factories_photo(w.alice, now)
    with pytest.raises(vault.WritesBlocked):  # deriving from her photo would make her data again
        vault.store_item(vault.NewItem(category="thumbnail", purpose="photo_generation", holders=[],
                                       derived_from=[w.alice_photos[0]], content=b"x"), actor="t", now=now)

    steps.advance(run.pk)  # manifest done; the grace step waits for its window
    status = erasure.erasure_status(case)
    assert status["state"] == "grace" and status["cancellable"]
    assert status["current_step"] == "grace"
    manifest = {s["name"]: s for s in status["steps"]}["manifest"]
    assert manifest["counts"] == {"items": 2, "derived": 4, "recipients": 3}
    assert vault.read_item(w.alice_photos[0])  # nothing destroyed during the grace window
    assert not mail.outbox

    run = run_to_end(run, now=now)
    assert run.state == RunState.DONE
    case.refresh_from_db()
    assert case.state == CaseState.COMPLETED and case.outcome == "complied_full"

    # The subject: no identifiers, no key, no holdings, no consents; a tombstone of hashes only.
    w.alice.refresh_from_db()
    assert (w.alice.email, w.alice.account_id) == (None, None) and w.alice.erased_at is not None
    key = SubjectKey.objects.get(subject=w.alice)
    assert key.wrapped == "" and key.destroyed_at is not None
    assert holdings_of(w.alice) == set() and not Consent.objects.filter(subject=w.alice).exists()
    stone = Tombstone.objects.get(subject_id=w.alice.pk)
    assert stone.identifier_hashes and all("alice" not in h for h in stone.identifier_hashes)

    # Her items and everything derived from them are content-free husks; no blob is left.
    gone = [*w.alice_photos, w.embedding, w.thumbnail, w.video, w.video_of_embedding]
    for item in DataItem.objects.filter(pk__in=[i.pk for i in gone]):
        assert item.purged_at is not None and not item.has_content and not item.holders.exists()
    blobs = {i.blob_name for i in gone if i.blob_name}
    assert blobs and not any((w_path := item_path(n)).exists() for n in blobs), w_path
    # Bob keeps his own photo, loses the video, and is told nothing about who asked.
    assert holdings_of(w.bob) == {w.bob_photo.pk}
    assert vault.read_item(w.bob_photo)
    assert not OutboundMessage.objects.filter(to="bob@example.com").exists()
    video = api.get(f"/api/v1/items/{w.video.pk}").json()
    assert video["subjects"] == [] and video["derived_from"] == []
    assert api.get(f"/api/v1/items/{w.video.pk}/content").status_code == 410
    assert api.get(f"/api/v1/items/{w.alice_photos[0].pk}/content").status_code == 410
    assert api.get(f"/api/v1/subjects/{w.alice.pk}").json()["erased"] is True
    assert api.get(f"/api/v1/subjects/{w.alice.pk}/holdings").json()["items"] == []

    # Recipients got one correctly signed notice each; nothing personal in it.
    assert len(receiver.requests) == 3
    for name, secret in secrets.items():
        signed = receiver.verified(secret)
        assert len(signed) <= 1
    assert sum(len(receiver.verified(s)) for s in secrets.values()) == 3
    body = receiver.requests[0]["json"]
    assert body["subject_id"] == str(w.alice.pk) and body["scope"] == "subject"
    assert "alice@example.com" not in str(receiver.requests)

    # Only now the completion notice went out, and its address was then wiped with the sealed contact.
    [notice] = mail.outbox
    assert notice.to == ["alice@example.com"] and case.reference in notice.subject
    assert "erased" in notice.body and "Generated video: 2" in notice.body
    done = Erasure.objects.get(case=case)
    assert done.contact_sealed is None and done.contact_key == ""
    assert not OutboundMessage.objects.exclude(to="").filter(case=case).exists()
    assert Case.objects.get(pk=case.pk).details == ""
    assert not ErasureTarget.objects.exists()

    # The case JSON shows the steps and, at the end, the certificate, which says nothing personal.
    data = api.get(f"/api/v1/cases/{case.pk}").json()["erasure"]
    assert data["state"] == "completed" and data["certificate_url"] == f"/api/v1/cases/{case.pk}/certificate"
    assert {r["status"] for r in data["recipients"]} == {"notified"}
    assert {s["name"]: s["state"] for s in data["steps"]}["shred"] == "done"
    pdf = api.get(data["certificate_url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert case.reference in text and "Generated video" in text and "FaceModel Inference Inc." in text
    assert f"event #{done.evidence['audit_head']['id']}" in text and "Data key destroyed" in text
    assert "alice" not in text.lower() and str(w.alice.pk) not in text
    assert audit.first_break() is None


def item_path(name: str):
    from dsr import storage

    return __import__("pathlib").Path(storage.blob_storage().path(name))


def factories_photo(subject, now):
    from tests import factories

    return factories.photo_item(subject, now=now, seed=77)


def test_cancelling_in_the_grace_window_restores_the_subject_and_cancels_the_case(receiver):
    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now)
    run = approve(case, now)
    steps.advance(run.pk)
    with pytest.raises(workflow.WorkflowError, match="cancel it in its grace window"):
        workflow.cancel_case(case, reason="changed my mind", actor="t", now=now)
    with pytest.raises(workflow.WorkflowError, match="completes by itself"):
        workflow.complete_case(case, actor=staff("op"), now=now)

    erasure.cancel_erasure(case, actor=staff("op"), now=now + timedelta(hours=1), reason="The requester withdrew")
    case.refresh_from_db()
    w.alice.refresh_from_db()
    run.refresh_from_db()
    assert case.state == CaseState.CANCELLED and run.state == RunState.CANCELLED
    assert w.alice.writes_blocked_at is None and w.alice.email == "alice@example.com"
    assert vault.read_item(w.alice_photos[0]) and vault.read_item(w.video)
    factories_photo(w.alice, now)  # writes are allowed again
    kinds = list(Event.objects.for_object("case", case.pk).values_list("kind", flat=True))
    assert kinds[-2:] == ["case.erasure_cancelled", "case.cancelled"]
    assert not receiver.requests and not ErasureTarget.objects.exists()
    # Past the window nothing runs and nothing can be cancelled any more.
    steps.advance(run.pk)
    assert SubjectKey.objects.get(subject=w.alice).destroyed_at is None


def test_after_the_grace_window_the_erasure_cannot_be_cancelled(receiver):
    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now)
    run = approve(case, now)
    with time_machine.travel(now + timedelta(hours=49), tick=True):
        steps.advance(run.pk)
    with pytest.raises(erasure.ErasureError, match="grace window is over|no erasure is running"):
        erasure.cancel_erasure(case, actor=staff("op"), now=now + timedelta(hours=49), reason="Too late now")
    assert Subject.objects.get(pk=w.alice.pk).erased_at is not None


def test_an_erasure_needs_a_verified_or_forced_case_and_one_cascade_at_a_time():
    now = timezone.now()
    w = build_world(now)
    case, _ = workflow.submit_case(kind="erasure", regimes=["eu_gdpr"], subject=w.alice, received_at=now,
                                   actor="t", now=now)
    with pytest.raises(erasure.ErasureError, match="verify the requester's identity first"):
        approve(case, now)
    access, _ = workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=w.alice, received_at=now,
                                     actor="t", now=now)
    with pytest.raises(erasure.ErasureError, match="only an erasure request"):
        approve(access, now)
    workflow.verify_identity(case, method="account_reauth", actor=staff("op"), now=now)
    approve(case, now)
    with pytest.raises(erasure.ErasureError, match="already running"):
        approve(case, now)
    assert Erasure.objects.count() == 1


def test_a_partial_erasure_takes_the_chosen_categories_and_what_was_derived_from_them_only(receiver):
    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now)
    mail.outbox.clear()
    run = approve(case, now, categories=["face_embedding"])
    w.alice.refresh_from_db()
    assert w.alice.writes_blocked_at is None  # only the chosen items are gated
    with pytest.raises(vault.WritesBlocked):
        vault.store_item(vault.NewItem(category="generated_video", purpose="photo_generation", holders=[],
                                       derived_from=[w.embedding], content=b"x"), actor="t", now=now)
    run = run_to_end(run, now=now)
    assert run.state == RunState.DONE
    assert not {s.name for s in Step.objects.filter(run=run)} & {"shred", "holders"}
    gone = DataItem.objects.filter(purged_at__isnull=False).values_list("pk", flat=True)
    assert set(gone) == {w.embedding.pk, w.video_of_embedding.pk}
    assert vault.read_item(w.alice_photos[0]) and vault.read_item(w.video)  # the rest stays readable
    w.alice.refresh_from_db()
    assert w.alice.email == "alice@example.com" and w.alice.erased_at is None
    case.refresh_from_db()
    assert case.state == CaseState.COMPLETED
    [notice] = mail.outbox
    assert "Face embedding (biometric template): 1" in notice.body


def test_a_legal_hold_keeps_its_category_and_the_key_and_the_certificate_and_notice_say_why(receiver, api):
    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now, regimes=("eu_gdpr",))
    dpo, operator = staff("dpo", "approver"), staff("op")
    with pytest.raises(erasure.ErasureError, match="only an approver"):
        erasure.record_hold(case, category="photo", ground="art17_3_e_legal_claims", note="Pending lawsuit 2026/17",
                            actor=operator, now=now)
    with pytest.raises(erasure.ErasureError, match="does not apply"):
        erasure.record_hold(case, category="photo", ground="ccpa_105d_2_security", note="Fraud investigation",
                            actor=dpo, now=now)
    erasure.record_hold(case, category="photo", ground="art17_3_e_legal_claims", note="Pending lawsuit 2026/17",
                        actor=dpo, now=now)
    mail.outbox.clear()
    run = run_to_end(approve(case, now), now=now)
    assert run.state == RunState.DONE
    assert SubjectKey.objects.get(subject=w.alice).destroyed_at is None  # held photos must stay readable
    for photo in w.alice_photos:
        photo.refresh_from_db()
        assert photo.legal_hold and vault.read_item(photo)
    w.embedding.refresh_from_db()
    assert w.embedding.purged_at is not None
    case.refresh_from_db()
    assert case.outcome == "complied_partial" and "legal claims" in case.refusal_reason
    [notice] = mail.outbox
    assert "What we kept, and why" in notice.body and "Uploaded photo (2)" in notice.body
    assert "Art. 17(3)(e)" in notice.body and "supervisory authority" in notice.body
    text = pdf_text(api.get(f"/api/v1/cases/{case.pk}/certificate").content)
    assert "Uploaded photo" in text and "Art. 17(3)(e)" in text and "legal hold" in text
    assert "lawsuit" not in text  # the approver's note is not on the certificate


def test_the_platform_files_a_verified_erasure_whose_grace_window_starts_at_once(receiver, api_token):
    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now, alice_account="acct-alice")
    body = {"kind": "erasure", "regimes": ["eu_gdpr"], "subject": {"account_id": "acct-alice"},
            "verification": {"method": "platform_account", "at": (now - timedelta(minutes=2)).isoformat()}}
    limited = Client(HTTP_AUTHORIZATION=f"Bearer {token_with('cases:write')}")
    refused = limited.post("/api/v1/cases", body, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"]["required_scope"] == "cases:attest_identity"
    assert not Case.objects.exists()
    stale = {**body, "verification": {"method": "platform_account", "at": (now - timedelta(days=3)).isoformat()}}
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert client.post("/api/v1/cases", stale, content_type="application/json").status_code == 422
    access = {**body, "kind": "access"}
    assert client.post("/api/v1/cases", access, content_type="application/json").status_code == 422

    resp = client.post("/api/v1/cases", body, content_type="application/json")
    assert resp.status_code == 201, resp.content
    data = resp.json()
    assert data["verification_method"] == "platform_account"
    assert data["erasure"]["state"] == "grace" and data["erasure"]["grace_ends_at"]
    assert data["erasure"]["certificate_url"] is None
    case = Case.objects.get(pk=data["id"])
    assert case.verified_at is not None and case.verified_by is None
    w.alice.refresh_from_db()
    assert w.alice.writes_blocked_at is not None
    run_to_end(Erasure.objects.get(case=case).run, now=now)
    final = client.get(f"/api/v1/cases/{case.pk}").json()
    assert final["state"] == "completed" and final["erasure"]["certificate_url"]
    assert {s["name"]: s["counts"] for s in final["erasure"]["steps"]}["items"]["erased"] == 2


def token_with(*scopes: str) -> str:
    out = io.StringIO()
    call_command("create_api_token", f"t-{'-'.join(s.replace(':', '') for s in scopes)}",
                 *[a for s in scopes for a in ("--scope", s)], stdout=out)
    return out.getvalue().strip()


def test_replay_erasures_re_erases_a_subject_brought_back_by_a_restored_backup(receiver, tmp_path):
    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now, alice_account="acct-restore")
    models = ["dsr.subject", "dsr.subjectkey", "dsr.dataitem", "dsr.holding", "dsr.derivation"]
    backup = tmp_path / "backup.json"
    call_command("dumpdata", *models, output=str(backup))  # last night's backup, taken before the erasure
    blobs = {p: p.read_bytes() for p in (tmp_path / "blobs").rglob("*.sealed")}
    run_to_end(approve(erasure_case(w.alice, now), now), now=now)
    assert (tmp_path / "tombstones" / f"{w.alice.pk}.json").exists()

    # Disaster: the database and the blob store are restored from that backup (no tombstone rows in it).
    Tombstone.objects.all().delete()
    call_command("loaddata", str(backup), verbosity=0)
    for path, data in blobs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    restored = Subject.objects.get(pk=w.alice.pk)
    assert restored.account_id == "acct-restore" and vault.read_item(DataItem.objects.get(pk=w.alice_photos[0].pk))

    out = io.StringIO()
    call_command("replay_erasures", stdout=out)
    assert "re-erased 1 subject" in out.getvalue()
    restored.refresh_from_db()
    assert (restored.email, restored.account_id) == (None, None) and restored.erased_at is not None
    assert SubjectKey.objects.get(subject=restored).wrapped == ""
    assert holdings_of(restored) == set()
    photo = DataItem.objects.get(pk=w.alice_photos[0].pk)
    assert photo.purged_at is not None and not (tmp_path / "blobs" / photo.blob_name).exists() if photo.blob_name \
        else photo.purged_at is not None
    assert not any(p.exists() for p in blobs if p.name.split(".")[0] in
                   {i.blob_name.split("/")[-1].split(".")[0] for i in w.alice_photos})
    assert vault.read_item(DataItem.objects.get(pk=w.bob_photo.pk))  # Bob's own photo was never touched
    out = io.StringIO()
    call_command("replay_erasures", stdout=out)
    assert "re-erased 0 subjects" in out.getvalue()  # idempotent


def test_erasure_states_are_reported_for_the_portal_and_console(receiver):
    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now)
    assert erasure.erasure_status(case) is None
    approve(case, now)
    status = erasure.erasure_status(case)
    assert status["state"] == ErasureState.GRACE and len(status["recipients"]) == 3
    assert {r["status"] for r in status["recipients"]} == {"pending"}


def test_in_the_console_an_unreachable_recipient_needs_attention_until_another_channel_is_recorded(receiver):
    """A recipient without a webhook does not block the other steps; the case waits for an operator to record
    how it was told, then completes, and the certificate can be downloaded from the case page."""
    from django.urls import reverse

    secrets = point_recipients_at(receiver, names=["CloudHost Europe GmbH", "MailRelay Ltd"])
    assert "FaceModel Inference Inc." not in secrets
    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now)
    operator = Client()
    operator.force_login(staff("op"))
    page = operator.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-erasure-approve", args=[case.pk]) in page
    operator.post(reverse("staff-erasure-approve", args=[case.pk]))
    run = run_to_end(Erasure.objects.get(case=case).run, now=now)
    assert run.state == RunState.NEEDS_ATTENTION
    steps_by_name = {s.name: s for s in Step.objects.filter(run=run)}
    assert steps_by_name["sweep"].state == "done" and steps_by_name["complete"].state == "pending"
    case.refresh_from_db()
    assert case.state != CaseState.COMPLETED

    page = operator.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert "needs attention" in page and "FaceModel Inference Inc." in page and "(no webhook)" in page
    face = Erasure.objects.get(case=case).notices.get(recipient__name="FaceModel Inference Inc.")
    url = reverse("staff-erasure-other-channel", args=[case.pk, face.pk])
    assert url in page
    operator.post(url, {"note": "Sent by registered letter, ref 2026/114"})
    run = run_to_end(run, now=now)
    assert run.state == RunState.DONE
    case.refresh_from_db()
    assert case.state == CaseState.COMPLETED
    status = {r["recipient"]: r["status"] for r in erasure.erasure_status(case)["recipients"]}
    assert status == {"CloudHost Europe GmbH": "notified", "MailRelay Ltd": "notified",
                      "FaceModel Inference Inc.": "other_channel"}
    page = operator.get(reverse("staff-case", args=[case.pk])).content.decode()
    pdf = operator.get(reverse("staff-erasure-certificate", args=[case.pk]))
    assert reverse("staff-erasure-certificate", args=[case.pk]) in page and pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert "(another" in text and "channel)" in text, text


def test_a_forced_erasure_approved_by_a_second_person_runs_and_is_recorded_as_forced(receiver):
    point_recipients_at(receiver)
    now = timezone.now()
    depicted = vault.create_subject(actor="t", now=now, email="depicted@example.com", kind="depicted")
    case, _ = workflow.submit_case(kind="erasure", regimes=["eu_gdpr"], subject=depicted, received_at=now,
                                   actor="t", now=now)
    workflow.request_forced_erasure(case, reason="Person only appears in another user's photos.",
                                    actor=staff("op"), now=now)
    with pytest.raises(erasure.ErasureError, match="verify"):
        approve(case, now)
    workflow.approve_forced_erasure(case, actor=staff("dpo", "approver"), now=now)
    mail.outbox.clear()
    run_to_end(approve(case, now), now=now)
    case.refresh_from_db()
    assert case.state == CaseState.COMPLETED and case.verified_at is None
    assert Event.objects.filter(kind="case.completed", object_id=str(case.pk)).get().data["forced"] is True
    [notice] = mail.outbox
    assert notice.to == ["depicted@example.com"] and case.reference in notice.subject


def pdftotext(data: bytes) -> str:
    """poppler's reading of a PDF, whitespace folded (a reader independent of pypdf)."""
    import subprocess

    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    return " ".join(out.stdout.decode().split())


def test_the_completion_notice_carries_the_certificate_of_this_erasure_once_and_keeps_no_copy(receiver):
    # Issue 9 §6: a certificate "for the operator and the subject". After a whole-subject erasure the address is
    # wiped, so the notice is the one chance to hand it over.
    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    other = erasure_case(w.bob, now)  # a second erasure: its certificate must not be the one attached
    case = erasure_case(w.alice, now)
    run_to_end(approve(other, now), now=now)
    mail.outbox.clear()
    run = run_to_end(approve(case, now), now=now)
    assert run.state == RunState.DONE
    done = Erasure.objects.get(case=case)

    [notice] = mail.outbox
    assert notice.to == ["alice@example.com"]
    [(name, data, content_type)] = notice.attachments
    assert (name, content_type) == (f"erasure-certificate-{case.reference}.pdf", "application/pdf")
    text = pdftotext(data)
    assert "Certificate of erasure" in text and case.reference in text and other.reference not in text
    assert f"Audit trail head at completion: event #{done.evidence['audit_head']['id']}" in text
    assert done.evidence["audit_head"]["hash"] in text.replace(" ", "")
    assert "Generated video" in text and "Data key destroyed" in text
    assert "alice" not in text.lower() and str(w.alice.pk) not in text
    body = " ".join(notice.body.split())
    assert "Your certificate of erasure is attached to this e-mail (PDF)." in body
    assert "We cannot send it to you again later" in body and "available on request" not in body
    [html] = [c for c, t in notice.alternatives if t == "text/html"]
    assert "Your certificate of erasure is attached" in html

    # Sent once; the outbox keeps the file's name as a record but not its bytes, and no address.
    message = OutboundMessage.objects.get(pk=done.notice_id)
    assert message.sent_at is not None and message.to == "" and message.attachment is None
    assert message.attachment_name == name
    assert not OutboundMessage.objects.filter(attachment__isnull=False).exists()
    assert emails.deliver(str(message.pk)) is False
    assert len(mail.outbox) == 1


# Every English sentence (or label) the erasure completion template and its context can print.
ERASURE_LETTER_ENGLISH = [
    "Hello", "We have completed", "received on", "erasure request", "request to erase", "What we erased",
    "The key that encrypted", "What we kept", "Your rights", "The companies that received",
    "certificate of erasure", "We cannot send it", "A record of this request", "has been erased",
    "Uploaded photo", "Generated video", "Thumbnail", "Face embedding", "legal claims", "Under the EU General",
]


@pytest.mark.parametrize("hold", [False, True], ids=["all-erased", "photos-kept"])
def test_a_german_portal_filers_erasure_completion_letter_is_entirely_german(receiver, hold):
    from dsr.models import PortalFiling

    point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now)
    PortalFiling.objects.create(fingerprint="e" * 64, created_at=now, choice="erasure", kind="erasure",
                                regimes=["eu_gdpr"], country="DE", email=w.alice.email, language="de", case=case,
                                subject=w.alice)
    if hold:
        erasure.record_hold(case, category="photo", ground="art17_3_e_legal_claims", note="Klage 2026/17",
                            actor=staff("dpo", "approver"), now=now)
    mail.outbox.clear()
    assert run_to_end(approve(case, now), now=now).state == RunState.DONE
    assert not PortalFiling.objects.filter(case=case).exists()  # the portal's records went with the holders step
    [notice] = mail.outbox
    [html] = [c for c, t in notice.alternatives if t == "text/html"]
    text = " ".join(f"{notice.subject}\n{notice.body}".split())
    for english in ERASURE_LETTER_ENGLISH:
        assert english.lower() not in text.lower(), english
        assert english.lower() not in html.lower(), english
    assert text.startswith(f"Ihre Anfrage {case.reference} ist erledigt: Ihre Daten wurden gelöscht Guten Tag,")
    assert "Was wir gelöscht haben:" in text and "Erzeugtes Video: 2" in text
    assert "Ihre Löschbescheinigung ist dieser E-Mail als PDF beigefügt." in text
    assert "Wie gesetzlich vorgeschrieben, bewahren wir einen Nachweis dieser Anfrage auf." in text
    if hold:
        assert "Was wir aufbewahrt haben, und warum:" in text and "Hochgeladenes Foto (2): Geltendmachung" in text
        assert "Ihre Rechte:" in text and "Artikel 77" in text
    else:
        assert "Der Schlüssel, mit dem Ihre Daten verschlüsselt waren, wurde vernichtet" in text
