"""Removal on the operator's decision (issue 13): through the erasure cascade, the video, its thumbnail and what
was made from the requester's photo go, the uploader's own photos stay; the block list refuses a re-encoded
re-upload (451, recorded on the request); copies found by hash are listed and removed once confirmed; notices both
ways; the evidence pack holds every element; a real qcluster killed mid-removal finishes it exactly once."""

from __future__ import annotations

import base64
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from pypdf import PdfReader

from dsr import copies, steps, takedown_notices, takedowns
from dsr.models import (
    BlockedHash,
    DataItem,
    Event,
    OutboundMessage,
    RunState,
    StepRun,
    Takedown,
    TakedownNotice,
    TakedownRemoval,
)
from dsr.roles import Role, create_staff
from tests.factories import jpeg_bytes, reencoded, scene_image
from tests.qcluster import QCluster, require_postgres, wait_for
from tests.takedown_fixtures import Platform, build_platform, upload_photo

T0 = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_indexes():
    copies.reset_indexes()
    yield
    copies.reset_indexes()


def file_for(api: Client, p: Platform, *, reference: bool = True, **extra) -> Takedown:
    body = {"links": [f"https://platform.example/v/{p.video}"], "intimate": True,
            **({"reference_image_base64": base64.b64encode(p.requester_photo_bytes).decode()} if reference else {}),
            "signature_name": "Jane Roe", "signature_attested": True, "good_faith_confirmed": True,
            "good_faith_statement": "This video shows me kissing a stranger. I never agreed to it.",
            "contact_email": "jane@example.org", **extra}
    r = api.post("/api/v1/takedowns", body, content_type="application/json")
    assert r.status_code == 201, r.content
    return Takedown.objects.get(number=r.json()["number"])


def held(api: Client, item: str) -> int:
    return api.get(f"/api/v1/items/{item}/content").status_code


def decide_valid(td: Takedown, op, p: Platform, now: datetime) -> Takedown:
    return takedowns.decide_takedown(td, valid=True, intimate=True, reason="The video shows the requester in an "
                                     "intimate scene made from her photo without consent.",
                                     likeness_item_ids=[p.requester_photo], actor=op, now=now)


@pytest.mark.django_db
def test_a_valid_decision_removes_the_video_its_thumbnail_and_the_requesters_likeness_but_not_the_uploaders_photos(
        api, django_capture_on_commit_callbacks):
    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    with time_machine.travel(T0, tick=False):
        td = file_for(api, p)
    assert held(api, p.video) == 451  # blocked while reviewed
    decided_at = T0 + timedelta(hours=5)
    with time_machine.travel(decided_at, tick=False), django_capture_on_commit_callbacks(execute=True):
        decide_valid(td, op, p, decided_at)
    td.refresh_from_db()
    assert td.state == "removed" and td.removed_at is not None
    for gone in (p.video, p.thumbnail, p.requester_photo, p.requester_embedding):
        assert held(api, gone) == 410, gone
        assert DataItem.objects.get(pk=gone).purged_at is not None
    for stays in (p.own_photo, p.own_embedding):
        assert held(api, stays) == 200, stays
    # The clock: T-TIDA (intimate), met, with its margin; the policy clock the request started on is superseded.
    current = {c.regime: c for c in td.clocks.filter(superseded_at__isnull=True)}
    assert set(current) == {"T-TIDA", "T-UK48", "T-DSA"}
    assert current["T-TIDA"].due_at == datetime(2026, 3, 29, 20, 0, tzinfo=UTC)
    assert current["T-TIDA"].met_at == td.removed_at
    removed = Event.objects.get(kind="takedown.removed", object_id=str(td.pk))
    assert removed.data["regime"] == "T-TIDA" and removed.data["margin_minutes"] > 0
    # The block list holds the photo, the video's frames and the thumbnail; the held index no longer has them.
    blocked = {(str(b.item_id), b.at_ms) for b in BlockedHash.objects.filter(takedown=td)}
    assert {(p.requester_photo, 0), (p.thumbnail, 0), (p.video, 0), (p.video, 1000), (p.video, 2000)} <= blocked
    # Notices both ways.
    outcome = OutboundMessage.objects.get(template="takedown_outcome", to="jane@example.org")
    assert td.number in outcome.body_text and "/takedown/complaint/" in outcome.body_text
    sor = OutboundMessage.objects.get(template="takedown_statement", to=p.uploader_email)
    for part in ("Article 17", "What we did (the measure)", "Scope: removed everywhere", "Duration: permanent",
                 "facts and circumstances", "automated means", "ground for the decision", "TAKE IT DOWN Act",
                 "redress", "out-of-court dispute settlement", "Go to court", p.video):
        assert part in sor.body_text, part
    complaint_link = re.search(r"/takedown/complaint/[\w-]+/", sor.body_text).group(0)
    assert Client().get(complaint_link).status_code == 200
    route = td.complaints.get(token_hash=takedowns.token_hash(complaint_link.split("/")[-2]))
    assert route.party == "uploader" and route.closes_at - td.decided_at >= timedelta(days=182)


@pytest.mark.django_db
def test_a_reencoded_reupload_of_the_removed_photo_is_refused_451_with_the_match_on_the_request(
        api, django_capture_on_commit_callbacks):
    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    td = file_for(api, p)
    with django_capture_on_commit_callbacks(execute=True):
        decide_valid(td, op, p, datetime.now(UTC))
    copy = reencoded(p.requester_photo_bytes)  # JPEG q70, 90 %, 1 px border
    assert copy != p.requester_photo_bytes
    r = upload_photo(api, p.uploader, copy)
    assert r.status_code == 451, r.content
    assert r.json()["error"]["code"] == "takedown_block_list_match"
    block = td.reupload_blocks.get()
    assert block.distance <= 31 and block.route == "photo_upload"
    assert Event.objects.filter(kind="takedown.reupload_blocked", object_id=str(td.pk)).count() == 1
    assert upload_photo(api, p.uploader, jpeg_bytes(scene_image(seed=77))).status_code == 201  # unrelated: accepted
    client = Client()
    client.force_login(op)
    assert "takedown_block_list_match" not in client.get(f"/staff/takedowns/{td.pk}/").content.decode()
    assert "Re-uploads refused <span class=\"count\">(1)</span>" in client.get(f"/staff/takedowns/{td.pk}/").content \
        .decode()


@pytest.mark.django_db
def test_copies_found_by_hash_are_listed_for_the_operator_and_removed_once_confirmed(
        api, django_capture_on_commit_callbacks):
    p = build_platform(api)
    other = api.post("/api/v1/subjects", {"email": "other@example.com"}, content_type="application/json").json()["id"]
    copy_id = upload_photo(api, other, reencoded(p.requester_photo_bytes)).json()["id"]  # uploaded before the request
    unrelated = upload_photo(api, other, jpeg_bytes(scene_image(seed=66))).json()["id"]
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    td = file_for(api, p, reference=False)
    with django_capture_on_commit_callbacks(execute=True):
        decide_valid(td, op, p, datetime.now(UTC))
    listed = {str(i.item_id): i for i in td.items.filter(role="copy")}
    assert set(listed) == {copy_id}
    assert listed[copy_id].state == "listed" and listed[copy_id].distance <= 31 and len(listed[copy_id].pdq) == 64
    assert held(api, copy_id) == 200  # a candidate is not blocked until a person confirms it

    client = Client()
    client.force_login(op)
    page = client.get(f"/staff/takedowns/{td.pk}/").content.decode()
    assert copy_id in page and "Remove the chosen copies" in page
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/staff/takedowns/{td.pk}/copies", {"action": "confirm", "items": [copy_id]})
    assert r.status_code == 302
    assert held(api, copy_id) == 410 and held(api, unrelated) == 200
    assert td.items.get(item_id=copy_id).state == "removed"
    assert TakedownRemoval.objects.filter(takedown=td).count() == 2
    sor = OutboundMessage.objects.get(template="takedown_statement", to="other@example.com")
    assert "Automated matching (perceptual hashing) was used" in sor.body_text
    assert OutboundMessage.objects.filter(template="takedown_outcome").count() == 1


@pytest.mark.django_db
def test_the_evidence_pack_of_a_removal_holds_every_element(api, django_capture_on_commit_callbacks):
    p = build_platform(api)
    op = create_staff("operator-anna", "pw-op-12345", Role.OPERATOR)
    with time_machine.travel(T0, tick=False):
        td = file_for(api, p)
    with time_machine.travel(T0 + timedelta(hours=2), tick=False), django_capture_on_commit_callbacks(execute=True):
        decide_valid(td, op, p, T0 + timedelta(hours=2))
    upload_photo(api, p.uploader, reencoded(p.requester_photo_bytes))
    client = Client()
    client.force_login(op)
    r = client.get(f"/staff/takedowns/{td.pk}/evidence.pdf")
    assert r.status_code == 200
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(r.content)).pages)
    td.refresh_from_db()
    ref = td.ref_pdq
    for expected in (
        td.number, "2026-03-27 20:00:00 UTC",  # receipt
        "Jane Roe", "attestation", p.video, "kissing a stranger", "jane@example.org",  # the four elements
        "Valid yes", "Intimate depiction yes", "intimate scene made from her photo", "operator-anna",  # decision
        "T-TIDA", "2026-03-29 20:00 UTC", "to spare",  # the clock and the margin
        p.thumbnail, p.requester_photo, p.requester_embedding, "made on this platform",  # what was removed
        ref[:16],  # the reference image's hash
        "photo_upload",  # the re-upload refused
        "Statement of reasons to the uploader", "Outcome to the requester", "Article 17",  # notices
        "Uploader (content removed)",  # complaint route
        "takedown.removed", "erasure",  # audit events
    ):
        assert expected in text, expected
    assert "T-POLICY" in text and "superseded" in text


@pytest.mark.django_db(transaction=True)
def test_a_real_qcluster_killed_during_removal_and_restarted_finishes_the_removal_exactly_once(api, tmp_path: Path):
    require_postgres()
    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    td = file_for(api, p)
    with QCluster(tmp_path, DSR_STEP_LEASE_SECONDS="3") as cluster:
        decide_valid(td, op, p, datetime.now(UTC))
        removal = TakedownRemoval.objects.get(takedown=td, batch=0)

        def mid_removal() -> bool:
            r = TakedownRemoval.objects.get(pk=removal.pk)
            return r.erasure_run_id is not None or steps.Step.objects.filter(run_id=r.run_id, state="running").exists()

        wait_for(mid_removal, timeout=60, interval=0.02, what="the removal to start")
        cluster.kill_all()  # every worker dies at once, in the middle of the removal
        assert TakedownRemoval.objects.get(pk=removal.pk).completed_at is None, "the kill came too late to test"
        cluster.start()

        def finished() -> bool:
            steps.reconcile(datetime.now(UTC))
            return StepRun.objects.get(pk=removal.run_id).state == RunState.DONE

        wait_for(finished, timeout=120, interval=1, what="the removal to finish")
    td.refresh_from_db()
    removal.refresh_from_db()
    assert td.state == "removed" and removal.completed_at is not None
    for gone in (p.video, p.thumbnail, p.requester_photo, p.requester_embedding):
        assert DataItem.objects.get(pk=gone).purged_at is not None
    for stays in (p.own_photo, p.own_embedding):
        assert DataItem.objects.get(pk=stays).purged_at is None
    # exactly once: one cascade, one removal event, one outcome, one statement of reasons, no duplicate hashes
    assert StepRun.objects.filter(kind="erasure").count() == 1
    assert Event.objects.filter(kind="takedown.removed", object_id=str(td.pk)).count() == 1
    assert Event.objects.filter(kind="takedown.erasure_started", object_id=str(td.pk)).count() == 1
    assert TakedownNotice.objects.filter(takedown=td, kind="outcome").count() == 1
    assert TakedownNotice.objects.filter(takedown=td, kind="statement").count() == 1
    assert OutboundMessage.objects.filter(template="takedown_statement").count() == 1
    hashes = list(BlockedHash.objects.filter(takedown=td).values_list("item_id", "at_ms"))
    assert len(hashes) == len(set(hashes)) >= 5
    from dsr import audit

    assert audit.first_break() is None
    assert uuid.UUID(p.video) in {b for b, _ in hashes}


@pytest.mark.django_db
def test_a_reencoded_copy_of_the_removed_video_registered_later_is_blocked_after_ingest_and_listed_with_its_hash(
        api, django_capture_on_commit_callbacks):
    """A video cannot be refused at upload (it is hashed by a job after commit, README "Copies"): when its frames
    match the block list it is blocked at once (451), listed on the request as a copy found after ingest, shown in
    the evidence pack with its hash, and removed once the operator confirms it."""
    from tests.factories import mp4_bytes
    from tests.takedown_fixtures import VIDEO_SEEDS, register

    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    td = file_for(api, p)
    with django_capture_on_commit_callbacks(execute=True):
        decide_valid(td, op, p, datetime.now(UTC))
    assert held(api, p.video) == 410

    # The same scenes re-encoded at 90 % size: other bytes, the same pictures once a second.
    scenes = [scene_image(320, 240, seed=s).resize((288, 216)) for s in VIDEO_SEEDS]
    copy_bytes = mp4_bytes([scenes[min(i // 10, 2)] for i in range(30)])
    with django_capture_on_commit_callbacks(execute=True):  # the hashing job runs after the commit
        copy_id = register(api, category="generated_video", parents=[p.own_photo], data=copy_bytes,
                           content_type="video/mp4")
    unrelated_scenes = [scene_image(320, 240, seed=s) for s in (61, 62, 63)]
    with django_capture_on_commit_callbacks(execute=True):
        unrelated = register(api, category="generated_video", parents=[p.own_photo],
                             data=mp4_bytes([unrelated_scenes[min(i // 10, 2)] for i in range(30)]),
                             content_type="video/mp4")

    assert held(api, copy_id) == 451  # blocked at once, before anyone looked
    assert held(api, unrelated) == 200
    row = td.items.get(item_id=copy_id)
    assert (row.role, row.found_by, row.state) == ("copy", "reupload", "listed")
    assert row.blocked_at is not None and row.distance <= 31 and len(row.pdq) == 64
    assert Event.objects.filter(kind="takedown.copy_found_after_ingest", object_id=str(td.pk)).count() == 1
    assert not td.items.filter(item_id=unrelated).exists()
    # DSA Art. 17 (T-DSA): the uploader's statement of reasons goes out as the copy is restricted, saying that
    # automated matching found it; the hashing job run again sends no second one.
    restriction = OutboundMessage.objects.get(template="takedown_restriction", to=p.uploader_email,
                                              body_text__contains=copy_id)
    for part in ("temporary restriction pending review", "Automated matching (perceptual hashing)", td.number,
                 "/takedown/complaint/"):
        assert part in restriction.body_text, part
    copies.hash_stored_item(copy_id, now=datetime.now(UTC))
    assert takedown_notices.notify_restriction(td, [row], tag=f"copy:{copy_id}", now=datetime.now(UTC)) == 0
    assert OutboundMessage.objects.filter(template="takedown_restriction", body_text__contains=copy_id).count() == 1

    client = Client()
    client.force_login(op)
    r = client.get(f"/staff/takedowns/{td.pk}/evidence.pdf")
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(r.content)).pages)
    copies_section = text.split("Copies found by perceptual hash")[1].split("7. Block list")[0].replace(" ", "")
    assert copy_id in copies_section and row.pdq in copies_section  # (table cells wrap inside ids and hashes)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/staff/takedowns/{td.pk}/copies",
                           {"action": "confirm", "items": [copy_id]}).status_code == 302
    assert held(api, copy_id) == 410 and held(api, unrelated) == 200
    assert td.items.get(item_id=copy_id).state == "removed"


# --- DSA Art. 17: the statement of reasons when the restriction is imposed (takedown.md T-DSA) --------------------

RESTRICTION_PARTS = (
    "Article 17",  # a statement of reasons
    "What we did (the measure)", "temporary restriction pending review",  # the measure
    "Scope: access disabled everywhere (all countries)",  # its territorial scope
    "Expected duration: until we decide, by 29 March 2026, 20:00 UTC at the latest",  # its duration
    "facts and circumstances", "we have not yet decided whether it is valid",  # the facts
    "The restriction applies from 27 March 2026, 20:00 UTC",
    "Use of automated means", "applied automatically", "Automated matching (perceptual hashing)",  # automation
    "ground for the decision", "TAKE IT DOWN Act", "terms of use",  # the ground
    "How to challenge it (redress)", "Complain to us, free of charge", "out-of-court dispute settlement",
    "Go to court",  # the redress
)


@pytest.mark.django_db
def test_a_valid_request_sends_the_uploader_a_statement_of_reasons_when_the_block_is_imposed_once_then_the_final_one(
        api, django_capture_on_commit_callbacks):
    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    with time_machine.travel(T0, tick=False):
        td = file_for(api, p)  # the reference image finds the requester's photo by its hash
    assert held(api, p.video) == 451 and td.blocked_at == T0
    restriction = OutboundMessage.objects.get(template="takedown_restriction")
    assert restriction.to == p.uploader_email and restriction.created_at == T0  # at the block, not at removal
    for part in (*RESTRICTION_PARTS, td.number, p.video, p.thumbnail, p.requester_photo):
        assert part in restriction.body_text, part
    assert "statement of reasons" in restriction.subject_line.lower()
    assert not OutboundMessage.objects.filter(template="takedown_restriction", to="jane@example.org").exists()
    assert not OutboundMessage.objects.filter(template="takedown_statement").exists()  # the final one is not due
    notice = TakedownNotice.objects.get(takedown=td, kind="restriction")
    assert notice.party.startswith("uploader:") and notice.message_id == restriction.pk
    # The complaint route it gives works.
    link = re.search(r"/takedown/complaint/[\w-]+/", restriction.body_text).group(0)
    assert Client().get(link).status_code == 200
    # Sent once: the step run again (same tag) sends nothing.
    td.refresh_from_db()
    again = takedown_notices.notify_restriction(td, list(td.items.all()), tag="valid", now=T0 + timedelta(minutes=1))
    assert again == 0

    # The decision: removal, then the final statement (removed, permanent); still one restriction notice.
    decided_at = T0 + timedelta(hours=5)
    with time_machine.travel(decided_at, tick=False), django_capture_on_commit_callbacks(execute=True):
        decide_valid(td, op, p, decided_at)
    td.refresh_from_db()
    assert td.state == "removed"
    final = OutboundMessage.objects.get(template="takedown_statement", to=p.uploader_email)
    assert "Duration: permanent" in final.body_text and "Access had been disabled from 27 March 2026, 20:00" in \
        final.body_text
    assert OutboundMessage.objects.filter(template="takedown_restriction").count() == 1
    assert not OutboundMessage.objects.filter(template="takedown_lifted").exists()


@pytest.mark.django_db
def test_a_refusal_lifts_the_restriction_and_tells_the_uploader_so_once(api):
    p = build_platform(api)
    op = create_staff("op", "pw-op-12345", Role.OPERATOR)
    with time_machine.travel(T0, tick=False):
        td = file_for(api, p, reference=False, intimate=False)
    restriction = OutboundMessage.objects.get(template="takedown_restriction", to=p.uploader_email)
    assert "TAKE IT DOWN" not in restriction.body_text  # not claimed intimate
    assert "Automated matching" not in restriction.body_text  # located by its link, not by a hash
    assert "applied automatically" in restriction.body_text
    refused_at = T0 + timedelta(hours=3)
    with time_machine.travel(refused_at, tick=False):
        takedowns.decide_takedown(td, valid=False, intimate=False, reason="A signed consent record for this "
                                  "video is on file.", ground="consent_shown", actor=op, now=refused_at)
    assert held(api, p.video) == 200
    lifted = OutboundMessage.objects.get(template="takedown_lifted", to=p.uploader_email)
    assert "restriction we told you about is lifted" in lifted.body_text and td.number in lifted.body_text
    assert "We have decided not to act on the notice" in lifted.body_text and p.video in lifted.body_text
    assert "Lifted: 27 March 2026, 23:00 UTC" in lifted.body_text
    assert takedown_notices.notify_lifted(td, why="refused", tag="decision", now=refused_at) == 0
    assert OutboundMessage.objects.filter(template="takedown_lifted").count() == 1
    assert not OutboundMessage.objects.filter(template="takedown_statement").exists()  # nothing was removed
