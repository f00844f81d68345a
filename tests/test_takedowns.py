"""The takedown desk up to the decision (issue 13): intake open to anyone, the request number, exactly what is
missing, the clock from validity, the immediate block, hashing at ingest, the queue with hour clocks first."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from dsr import copies, storage, takedown_intake, takedown_notices, takedowns
from dsr.models import Event, ItemHash, OutboundMessage, Takedown, TakedownClock
from dsr.roles import Role, create_staff
from tests.factories import jpeg_bytes, scene_image
from tests.takedown_fixtures import build_platform

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)  # a Friday evening, before Europe's daylight-saving change


@pytest.fixture(autouse=True)
def _fresh_indexes():
    copies.reset_indexes()
    yield
    copies.reset_indexes()


NOT_HELD = "https://platform.example/v/00000000-0000-4000-8000-000000000000"


def complete_body(**extra) -> dict:
    """All four elements (the location: a link that names no held item, unless the test gives one)."""
    return {"links": [NOT_HELD], "signature_name": "Jane Roe", "signature_attested": True, "good_faith_statement":
            "This video shows me kissing someone; I never agreed to it.", "good_faith_confirmed": True,
            "contact_email": "jane@example.org", **extra}


def file_api(api: Client, body: dict):
    return api.post("/api/v1/takedowns", body, content_type="application/json")


# --- intake -------------------------------------------------------------------------------------------------


def test_a_complete_request_through_the_api_gets_a_number_at_once_and_its_clock_starts_at_receipt(api):
    p = build_platform(api)
    with time_machine.travel(T0, tick=False):
        r = file_api(api, complete_body(item_ids=[p.video], intimate=True))
    assert r.status_code == 201, r.content
    data = r.json()
    assert re.fullmatch(r"TD-[0-9A-F]{8}", data["number"])
    assert data["state"] == "under_review" and data["missing"] == []
    assert data["received_at"] == data["valid_at"] == T0.isoformat()
    clocks = {c["regime"]: c["due_at"] for c in data["clocks"]}
    assert clocks["T-TIDA"] == clocks["T-UK48"] == clocks["T-POLICY"] == "2026-03-29T20:00:00+00:00"
    assert data["governing_due_at"] == "2026-03-29T20:00:00+00:00"
    receipt = OutboundMessage.objects.get(to="jane@example.org")
    assert data["number"] in receipt.subject_line and data["number"] in receipt.body_text
    assert "no longer shown" in receipt.body_text


def test_an_incomplete_request_is_told_exactly_what_is_missing_and_its_clock_starts_when_it_becomes_valid(api):
    p = build_platform(api)
    with time_machine.travel(T0, tick=False):
        r = file_api(api, {"links": [f"https://platform.example/v/{p.video}"], "contact_email": "jane@example.org"})
    assert r.status_code == 201
    data = r.json()
    assert data["state"] == "incomplete" and data["valid_at"] is None and data["clocks"] == []
    assert [m["field"] for m in data["missing"]] == ["signature_name", "signature_attested", "good_faith_statement",
                                                     "good_faith_confirmed"]
    assert {m["element"] for m in data["missing"]} == {"signature", "good_faith"}
    receipt = OutboundMessage.objects.get(to="jane@example.org")
    assert "Type your full name" in receipt.body_text and "/takedown/r/" in receipt.body_text
    # Nothing is blocked before the request is valid.
    assert api.get(f"/api/v1/items/{p.video}/content").status_code == 200

    later = T0 + timedelta(hours=30)
    with time_machine.travel(later, tick=False):
        r = api.post(f"/api/v1/takedowns/{data['number']}/supplement", complete_body(), content_type="application/json")
    assert r.status_code == 200, r.content
    done = r.json()
    assert done["state"] == "under_review"
    assert done["received_at"] == T0.isoformat()  # both instants kept
    assert done["valid_at"] == later.isoformat()
    assert {c["due_at"] for c in done["clocks"] if c["regime"] == "T-POLICY"} == {(later + timedelta(hours=48))
                                                                                 .isoformat()}
    td = Takedown.objects.get(number=data["number"])
    assert "signature_name" in td.valid_note
    # Once complete there is nothing to add.
    again = api.post(f"/api/v1/takedowns/{data['number']}/supplement", complete_body(), content_type="application/json")
    assert again.status_code == 409


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"contact_email": "not an address"}, 400, "contact_email"),
    ({"item_ids": ["nope"]}, 400, "item_ids.0"),
    ({"links": ["javascript:alert(1)"]}, 400, "links.0"),
    ({"links": ["http://["]}, 422, None),
    ({"signature_attested": "yes"}, 400, "signature_attested"),
    ({"item_ids": "x"}, 400, "item_ids"),
    ({"filed_as": "someone"}, 400, "filed_as"),
    ({"reference_image_base64": "%%%"}, 400, "reference_image_base64"),
    ({"reference_image_base64": "aGVsbG8="}, 422, None),  # "hello" is not a picture
    ({"signature_name": "x\ud800"}, 422, None),
])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_is_stored(api, body, status, field):
    r = file_api(api, body)
    assert r.status_code == status, r.content
    error = r.json()["error"]
    assert error["message"]
    if field:
        assert error["field"] == field
    assert not Takedown.objects.exists()
    assert not list(storage.iter_blobs())


def test_the_api_needs_the_takedown_scope(api_token):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_token", "vault-only", "--scope", "vault:write", stdout=out)
    r = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}").post(
        "/api/v1/takedowns", complete_body(), content_type="application/json")
    assert r.status_code == 403 and r.json()["error"]["required_scope"] == "takedowns:write"


def test_a_repeated_idempotency_key_returns_the_first_request(api):
    first = file_api(api, complete_body(idempotency_key="report-button-42"))
    second = file_api(api, complete_body(idempotency_key="report-button-42"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["number"] == second.json()["number"]
    assert Takedown.objects.count() == 1


# --- the block while it is reviewed ----------------------------------------------------------------------------


def test_a_valid_request_blocks_the_depiction_and_what_was_made_from_it_at_once(api):
    p = build_platform(api)
    assert api.get(f"/api/v1/items/{p.video}/content").status_code == 200
    file_api(api, complete_body(links=[f"https://platform.example/v/{p.video}?share=1"]))
    for item in (p.video, p.thumbnail):
        r = api.get(f"/api/v1/items/{item}/content")
        assert r.status_code == 451 and r.json()["error"]["code"] == "blocked_pending_takedown"
    assert api.get(f"/api/v1/items/{p.own_photo}/content").status_code == 200  # the uploader's own photo


def test_the_processing_check_says_not_allowed_for_a_blocked_item(api):
    p = build_platform(api)
    r = api.post("/api/v1/consents", {"subject": p.uploader, "purpose": "photo_generation"},
                 content_type="application/json")
    assert r.status_code == 201
    check = lambda item: api.get(f"/api/v1/subjects/{p.uploader}/processing",  # noqa: E731
                                 {"purpose": "photo_generation", "item": item}).json()
    assert check(p.video)["allowed"] is True
    file_api(api, complete_body(item_ids=[p.video]))
    blocked = check(p.video)
    assert blocked["allowed"] is False
    assert blocked["reasons"] == ["the item is blocked while a takedown request about it is reviewed"]
    assert check(p.own_photo)["allowed"] is True


def test_a_reference_image_locates_the_photo_it_shows_and_is_kept_only_encrypted(
        api, blob_dir, django_capture_on_commit_callbacks):
    p = build_platform(api)
    r = file_api(api, complete_body(reference_image_base64=base64.b64encode(p.requester_photo_bytes).decode()))
    td = Takedown.objects.get(number=r.json()["number"])
    located = {i.item_id: i for i in td.items.all()}
    assert located[uuid.UUID(p.requester_photo)].role == "likeness"
    assert located[uuid.UUID(p.requester_photo)].found_by == "reference"
    assert uuid.UUID(p.own_photo) not in located
    # derived from the requester's photo: the video, its thumbnail, the requester's embedding; blocked at once
    assert {uuid.UUID(p.video), uuid.UUID(p.thumbnail), uuid.UUID(p.requester_embedding)} <= set(located)
    assert api.get(f"/api/v1/items/{p.requester_photo}/content").status_code == 451
    # Sealed under the request's own key: the stored blob is not the picture, and opens only with that key.
    raw = storage.raw_bytes(td.ref_blob_name)
    assert p.requester_photo_bytes[:64] not in raw and b"JFIF" not in raw
    assert takedown_intake.open_reference(td)[:3] == b"\xff\xd8\xff"
    with django_capture_on_commit_callbacks(execute=True):
        takedown_intake.shred_reference(td, why="test", actor="test", now=datetime.now(UTC))
    td.refresh_from_db()
    assert td.ref_key_wrapped == "" and td.ref_pdq  # the hash stays to find copies
    with pytest.raises(takedowns.TakedownError):
        takedown_intake.open_reference(td)
    assert td.ref_blob_name not in {name for name, _ in storage.iter_blobs()}


def test_an_abusive_notifiers_next_request_is_reviewed_without_the_automatic_block(api):
    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    for _ in range(3):
        td = Takedown.objects.get(number=file_api(api, complete_body(item_ids=[p.own_photo])).json()["number"])
        takedowns.decide_takedown(td, valid=False, intimate=False, reason="This is the uploader's own selfie.",
                                  ground="manifestly_unfounded", actor=op, now=datetime.now(UTC))
    assert api.get(f"/api/v1/items/{p.own_photo}/content").status_code == 200  # each refusal lifted its block
    td.refresh_from_db()
    assert td.notifier.manifestly_unfounded == 3
    with pytest.raises(takedowns.TakedownError):
        takedown_notices.mark_notifier_abusive(td, reason="short", actor=op, now=datetime.now(UTC))
    takedown_notices.mark_notifier_abusive(td, reason="Three manifestly unfounded notices after a warning on 1 March.",
                                    actor=op, now=datetime.now(UTC))
    restrictions = OutboundMessage.objects.filter(template="takedown_restriction").count()
    assert restrictions == 3  # each blocked request told the uploader when the block was imposed (DSA Art. 17)
    nxt = Takedown.objects.get(number=file_api(api, complete_body(item_ids=[p.video])).json()["number"])
    assert nxt.review_only and nxt.state == "under_review" and nxt.clocks.exists()
    assert api.get(f"/api/v1/items/{p.video}/content").status_code == 200  # not blocked
    # No block, so no restriction statement (the statement comes with the decision, if any).
    assert OutboundMessage.objects.filter(template="takedown_restriction").count() == restrictions
    assert not nxt.notices.filter(kind="restriction").exists()
    assert Event.objects.filter(kind="takedown.notifier_marked_abusive").count() == 1


def test_a_refusal_lifts_the_block_and_tells_the_requester_why_with_a_complaint_route(api):
    p = build_platform(api)
    op, other = create_staff("op", "pw-op-12345", Role.OPERATOR), create_staff("op2", "pw-op-12345", Role.OPERATOR)
    td = Takedown.objects.get(number=file_api(api, complete_body(item_ids=[p.video])).json()["number"])
    with pytest.raises(takedowns.TakedownError):  # a refusal needs a ground
        takedowns.decide_takedown(td, valid=False, intimate=False, reason="Consent record on file.", actor=op,
                                  now=datetime.now(UTC))
    takedowns.decide_takedown(td, valid=False, intimate=False, reason="A signed consent record for this video is "
                              "on file.", ground="consent_shown", actor=op, now=datetime.now(UTC))
    assert api.get(f"/api/v1/items/{p.video}/content").status_code == 200
    td.refresh_from_db()
    assert td.state == "refused" and td.evidence_until is not None
    assert not TakedownClock.objects.filter(takedown=td, superseded_at__isnull=True).exists()
    outcome = OutboundMessage.objects.get(to="jane@example.org", template="takedown_outcome")
    assert "consented to this publication" in outcome.body_text and "signed consent record" in outcome.body_text
    link = re.search(r"/takedown/complaint/([\w-]+)/", outcome.body_text).group(0)
    page = Client().post(link, {"text": "I never signed anything; the signature is forged."})
    assert page.status_code == 302
    complaint = td.complaints.get(filed_at__isnull=False)  # (the uploader's restriction statement opened one too)
    assert complaint.party == "requester"
    with pytest.raises(takedowns.TakedownError):
        takedown_notices.decide_complaint(complaint, upheld=True, reason="x", actor=other, now=datetime.now(UTC))
    takedown_notices.decide_complaint(complaint, upheld=True, reason="The consent record does not match the person.",
                               actor=other, now=datetime.now(UTC))
    td.refresh_from_db()
    assert td.state == "under_review"  # sent back for a new decision
    assert OutboundMessage.objects.filter(to="jane@example.org", template="takedown_complaint_outcome").exists()


# --- hashing at ingest and the block list ------------------------------------------------------------------------


def test_every_picture_and_video_is_hashed_at_ingest(api):
    p = build_platform(api)
    from django.db.models import Count

    frames = dict(ItemHash.objects.values("item_id").annotate(n=Count("pk")).values_list("item_id", "n"))
    assert frames[uuid.UUID(p.own_photo)] == frames[uuid.UUID(p.requester_photo)] == 1
    assert frames[uuid.UUID(p.thumbnail)] == 1
    assert frames[uuid.UUID(p.video)] == 3  # 3 s of video, one frame a second
    assert uuid.UUID(p.requester_embedding) not in frames  # not a picture


def test_an_upload_matching_the_block_list_is_refused_451_and_recorded_and_an_unrelated_one_is_accepted(api):
    from dsr.models import BlockedHash
    from tests.factories import reencoded
    from tests.takedown_fixtures import upload_photo

    p = build_platform(api)
    td = Takedown.objects.get(number=file_api(api, complete_body(item_ids=[p.video])).json()["number"])
    row = ItemHash.objects.get(item_id=p.requester_photo)
    BlockedHash.objects.create(takedown=td, item_id=row.item_id, category="photo", at_ms=0, h0=row.h0, h1=row.h1,
                               h2=row.h2, h3=row.h3, quality=row.quality, created_at=datetime.now(UTC))
    r = upload_photo(api, p.uploader, reencoded(p.requester_photo_bytes))
    assert r.status_code == 451, r.content
    assert r.json()["error"]["code"] == "takedown_block_list_match"
    block = td.reupload_blocks.get()
    assert block.distance <= 31 and block.route == "photo_upload"
    assert upload_photo(api, p.uploader, jpeg_bytes(scene_image(seed=99))).status_code == 201


# --- the portal ----------------------------------------------------------------------------------------------


def test_anyone_can_file_on_the_portal_and_add_what_is_missing_through_the_private_link(api):
    p = build_platform(api)
    c = Client(enforce_csrf_checks=False)
    assert 'href="/takedown/"' in c.get("/").content.decode()  # from the portal's home page
    assert "I appear in a photo or video and did not agree" in c.get("/takedown/").content.decode()
    with time_machine.travel(T0, tick=False):
        r = c.post("/takedown/", {"filed_as": "individual", "link": f"https://platform.example/v/{p.video}",
                                  "intimate": "yes", "contact_email": "jane@example.org",
                                  "good_faith_statement": "I never agreed to this video.",
                                  "good_faith_confirmed": "on"})
    assert r.status_code == 302 and r["Location"].startswith("/takedown/r/")
    page = c.get(r["Location"])
    html = page.content.decode()
    number = Takedown.objects.get().number
    assert number in html and "Type your full name" in html and page["Cache-Control"] == "no-store"
    later = T0 + timedelta(hours=2)
    with time_machine.travel(later, tick=False):
        r2 = c.post(r["Location"], {"signature_name": "Jane Roe", "signature_attested": "on"})
    assert r2.status_code == 302
    td = Takedown.objects.get()
    assert td.state == "under_review" and td.valid_at == later and td.received_at == T0
    assert "We will decide and act by" in c.get(r["Location"]).content.decode()
    assert Client().get("/takedown/r/not-a-token/").status_code == 404


def test_the_portal_can_open_an_erasure_of_the_persons_own_data_beside_the_takedown(api):
    p = build_platform(api)
    with time_machine.travel(T0, tick=False):
        r = Client().post("/takedown/", {"filed_as": "individual", "item_id": p.video, "intimate": "no",
                                         "contact_email": "jane@example.org", "also_erase_own_data": "on",
                                         "good_faith_statement": "I never agreed to this video.",
                                         "good_faith_confirmed": "on", "signature_name": "Jane Roe",
                                         "signature_attested": "on"})
    assert r.status_code == 302
    td = Takedown.objects.get()
    assert td.erasure_case is not None and td.erasure_case.kind == "erasure"
    rows = takedowns.clocks_view(td)
    day = [c for c in rows if c["unit"] == "days"]
    assert day and day[0]["due_at"] > td.due_at  # the 48-hour clock governs
    assert next(c for c in rows if c.get("governing"))["regime"] == "T-POLICY"


# --- the queue ------------------------------------------------------------------------------------------------


def test_the_queue_shows_hour_clocks_above_day_clocks_with_a_possible_minor_first(api):
    from dsr import vault, workflow

    build_platform(api)
    subject = vault.create_subject(actor="test", now=T0, email="someone@example.com")
    with time_machine.travel(T0, tick=False):
        case, _ = workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=subject, received_at=T0,
                                       actor="test", now=T0)
        early = file_api(api, complete_body()).json()["number"]
    with time_machine.travel(T0 + timedelta(hours=5), tick=False):
        minor = file_api(api, complete_body(minor_suspected=True, contact_email="other@example.org")).json()["number"]
    client = Client()
    client.force_login(create_staff("op", "pw-op-12345", Role.OPERATOR))
    with time_machine.travel(T0 + timedelta(hours=6), tick=False):
        html = client.get("/staff/").content.decode()
    assert html.index(minor) < html.index(early) < html.index(case.reference)
    assert "Takedowns — hour clocks" in html and "possible minor" in html
    # due instants are shown in the operator's zone (the controller's: Ireland), across the DST change
    assert "Sun 29 Mar 21:00 IST" in html  # filed 20:00 GMT


def test_escalation_emails_go_out_24_and_4_hours_before_the_deadline_once_each(api):
    create_staff("op", "pw-op-12345", Role.OPERATOR, email="op@example.com")
    with time_machine.travel(T0, tick=False):
        td = Takedown.objects.get(number=file_api(api, complete_body()).json()["number"])
    due = td.due_at
    assert takedown_notices.send_escalations(now=due - timedelta(hours=25)) == 0
    assert takedown_notices.send_escalations(now=due - timedelta(hours=23, minutes=59)) == 1
    assert takedown_notices.send_escalations(now=due - timedelta(hours=23)) == 0  # once
    assert takedown_notices.send_escalations(now=due - timedelta(hours=3, minutes=59)) == 1
    assert takedown_notices.send_escalations(now=due - timedelta(hours=1)) == 0
    mails = OutboundMessage.objects.filter(template="takedown_escalation", to="op@example.com").order_by("created_at")
    assert [m.subject_line[:8] for m in mails] == ["[24 h le", "[4 h lef"]
    assert td.number in mails[0].body_text


def test_the_removal_form_speaks_the_portals_languages():
    c = Client()
    assert c.get("/takedown/?lang=de").status_code == 302
    page = c.get("/takedown/").content.decode()
    assert "Ich bin auf einem Foto oder Video zu sehen und habe nicht zugestimmt" in page
    r = c.post("/takedown/", {"filed_as": "individual", "contact_email": "jane@example.org"})
    missing = c.get(r["Location"]).content.decode()
    assert "Geben Sie Ihren vollständigen Namen ein" in missing


def test_when_the_evidence_period_ends_the_reference_image_is_shredded_and_the_requesters_words_blanked(
        api, blob_dir, settings, django_capture_on_commit_callbacks):
    """Issue 13 §3: the reference image is "shredded when the evidence period ends" — by the hourly housekeeping
    schedule (dsr.jobs.takedown_housekeeping), not before; the number, decision and hashes stay."""
    from dsr import jobs
    from dsr.models import Complaint

    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    with time_machine.travel(T0, tick=False):
        r = file_api(api, complete_body(item_ids=[p.video], reference_image_base64=base64.b64encode(
            p.requester_photo_bytes).decode()))
    td = Takedown.objects.get(number=r.json()["number"])
    decided = T0 + timedelta(hours=3)
    with time_machine.travel(decided, tick=False):
        takedowns.decide_takedown(td, valid=False, intimate=False, reason="A signed consent record for this video "
                                  "is on file.", ground="consent_shown", actor=op, now=decided)
    td.refresh_from_db()
    assert td.evidence_until == decided + timedelta(days=settings.DSR_TAKEDOWN_EVIDENCE_DAYS)
    blob, pdq = td.ref_blob_name, td.ref_pdq
    assert blob in {name for name, _ in storage.iter_blobs()}

    with time_machine.travel(td.evidence_until - timedelta(minutes=1), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        assert jobs.takedown_housekeeping().startswith("anonymised=0")
    td.refresh_from_db()
    assert td.ref_key_wrapped and td.contact_email == "jane@example.org"  # not a minute early

    with time_machine.travel(td.evidence_until + timedelta(minutes=1), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        assert jobs.takedown_housekeeping().startswith("anonymised=1")
    td.refresh_from_db()
    assert td.ref_key_wrapped == "" and td.anonymised_at is not None
    assert blob not in {name for name, _ in storage.iter_blobs()}
    with pytest.raises(takedowns.TakedownError):
        takedown_intake.open_reference(td)
    assert (td.signature_name, td.good_faith_statement, td.contact_email, td.links) == ("", "", "", [])
    assert not Complaint.objects.filter(takedown=td).exclude(text="").exists()
    # What the evidence is about stays: the number, the decision, the reference hash to find copies.
    assert td.number == r.json()["number"] and td.decision_valid is False and td.ref_pdq == pdq
    assert Event.objects.filter(kind="takedown.anonymised", object_id=str(td.pk)).count() == 1


# --- the requester's language (issue 13: e-mails in the language of the portal they filed on) --------------------


def _template_sentences(english: str) -> list[str]:
    """Fixed sentences of an English mail (no request number, date, address or link in them)."""
    parts = re.split(r"(?<=[.:!?])\s+|\n", english)
    from django.conf import settings

    return [s.strip() for s in parts if len(s.strip()) >= 15 and not re.search(r"\d|@|TD-|https?:", s)
            and s.strip() != settings.DSR_CONTROLLER_NAME]


def _file_on_portal(p, email: str, lang: str):
    c = Client()
    assert c.get(f"/takedown/?lang={lang}").status_code == 302  # the language link sets the portal's cookie
    with time_machine.travel(T0, tick=False):
        r = c.post("/takedown/", {"filed_as": "individual", "item_id": p.video, "intimate": "no",
                                  "contact_email": email, "good_faith_statement": "I never agreed to this video.",
                                  "good_faith_confirmed": "on", "signature_name": "Jana Roe",
                                  "signature_attested": "on"})
    assert r.status_code == 302, r.content
    return Takedown.objects.get(contact_email=email)


def test_a_takedown_filed_on_the_german_portal_gets_german_mails_and_an_english_filer_english_ones(api):
    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    td_en = _file_on_portal(p, "jane@example.org", "en")
    td_de = _file_on_portal(p, "jana@example.de", "de")
    assert (td_en.language, td_de.language) == ("en", "de")
    for td in (td_en, td_de):
        takedowns.decide_takedown(td, valid=False, intimate=False, reason="Consent record 4711, signed by the person, "
                                  "is on file.", ground="consent_shown", actor=op, now=T0 + timedelta(hours=1))
    for template in ("takedown_receipt", "takedown_outcome"):
        en = OutboundMessage.objects.get(template=template, to="jane@example.org")
        de = OutboundMessage.objects.get(template=template, to="jana@example.de")
        sentences = _template_sentences(en.body_text)
        assert len(sentences) >= 4, sentences
        german = f"{de.subject_line}\n{de.body_text}\n{de.body_html}"
        for sentence in sentences + [en.subject_line.split(td_en.number)[0].strip()]:
            assert sentence not in german, (template, sentence)
        assert de.body_text.startswith("Guten Tag,") and td_de.number in de.subject_line
    receipt = OutboundMessage.objects.get(template="takedown_receipt", to="jana@example.de")
    assert receipt.subject_line == f"Wir haben Ihren Antrag {td_de.number} erhalten"
    assert f"Ihre Antragsnummer ist {td_de.number}" in receipt.body_text
    assert "Eingegangen: 27 März 2026, 20:00 UTC" in receipt.body_text  # dates in German too
    assert "Während wir ihn prüfen, wird das Bild oder Video" in receipt.body_text
    outcome = OutboundMessage.objects.get(template="takedown_outcome", to="jana@example.de")
    assert "Wir haben entschieden, das Bild oder Video aus Ihrem Antrag" in outcome.body_text
    assert "Grund: Die abgebildete Person hat dieser Veröffentlichung zugestimmt" in outcome.body_text
    assert "kostenlos bei uns beschweren" in outcome.body_text and "/takedown/complaint/" in outcome.body_text
    en_receipt = OutboundMessage.objects.get(template="takedown_receipt", to="jane@example.org")
    assert en_receipt.subject_line == f"We received your request {td_en.number}"
    assert "Your request number is" in en_receipt.body_text and "Guten Tag" not in en_receipt.body_text
    en_outcome = OutboundMessage.objects.get(template="takedown_outcome", to="jane@example.org")
    assert "Ground: The person depicted consented to this publication" in en_outcome.body_text
    # The uploader's notices are in the uploader's language, not the requester's: unknown here, so English.
    for m in OutboundMessage.objects.filter(to=p.uploader_email, template__in=["takedown_restriction",
                                                                                "takedown_lifted"]):
        assert m.body_text.startswith("Hello,"), m.template
    assert OutboundMessage.objects.filter(to=p.uploader_email, template="takedown_lifted").count() == 2


def test_the_uploaders_statement_is_in_the_language_of_their_portal_filing_and_the_api_files_in_english(api):
    from dsr.models import PortalFiling, Subject

    p = build_platform(api)
    uploader = Subject.objects.get(pk=p.uploader)
    PortalFiling.objects.create(fingerprint="f" * 64, created_at=T0 - timedelta(days=3), choice="access",
                                kind="access", country="DE", email=p.uploader_email, language="de", subject=uploader)
    with time_machine.travel(T0, tick=False):
        td = Takedown.objects.get(number=file_api(api, complete_body(item_ids=[p.video])).json()["number"])
    assert td.language == "en"
    assert OutboundMessage.objects.get(template="takedown_receipt", to="jane@example.org").body_text.startswith(
        "Hello,")
    restriction = OutboundMessage.objects.get(template="takedown_restriction", to=p.uploader_email)
    assert restriction.subject_line.startswith("Begründung: Von Ihnen geteilte Inhalte sind eingeschränkt")
    for part in ("Artikel 17", "vorläufige Einschränkung bis zur Prüfung", "Geltungsbereich",
                 "Voraussichtliche Dauer: bis zu unserer Entscheidung, spätestens bis 29 März 2026, 20:00 UTC",
                 "Tatsachen und Umstände", "automatisch verhängt", "Grund für die Entscheidung",
                 "Rechtsbehelfe", "Streitbeilegungsstelle", "Gehen Sie vor Gericht"):
        assert part in restriction.body_text, part
    assert "temporary restriction" not in restriction.body_text
