"""The platform API and the encrypted vault, end to end on the real database and real files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from dsr import storage, vault
from dsr.models import DataItem, Event, Subject
from tests import factories

pytestmark = pytest.mark.django_db


def _create_subject(api, **body) -> dict:
    resp = api.post("/api/v1/subjects", json.dumps(body), content_type="application/json")
    assert resp.status_code in (200, 201), resp.content
    return resp.json()


def _upload(api, subject_id: str, data: bytes, name: str = "photo.jpg", **fields):
    return api.post(f"/api/v1/subjects/{subject_id}/photos", {"file": _named(data, name), **fields})


def _named(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _all_stored_bytes(blob_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(blob_dir.rglob("*")) if p.is_file())


def test_requests_without_a_valid_token_are_refused(client):
    assert client.get("/api/v1/subjects/00000000-0000-0000-0000-000000000000").status_code == 401
    bad = client.get("/api/v1/subjects/x", HTTP_AUTHORIZATION="Bearer nope")
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "unauthorized"


def test_token_command_prints_the_token_once_and_stores_only_its_hash(api_token):
    from dsr.models import ApiToken

    row = ApiToken.objects.get(name="test-platform")
    assert api_token.startswith("dsr_") and len(api_token) > 40
    assert api_token not in (row.token_hash, row.prefix)
    assert row.prefix == api_token[:12]


def test_subjects_are_created_once_per_identifier(api):
    first = _create_subject(api, email="Alice@Example.COM")
    again = api.post("/api/v1/subjects", json.dumps({"email": "alice@example.com"}), content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    found = api.post("/api/v1/subjects/lookup", json.dumps({"email": "ALICE@example.com"}),
                     content_type="application/json")
    assert found.json()["id"] == first["id"]
    assert first["reference"].startswith("sub_")


def test_bad_subject_input_gets_a_clear_4xx_and_creates_nothing(api):
    for body in ({}, {"email": "not-an-address"}, {"email": 5}, {"account_id": "a", "kind": "alien"}):
        resp = api.post("/api/v1/subjects", json.dumps(body), content_type="application/json")
        assert resp.status_code == 400, body
        assert resp.json()["error"]["message"]
    assert api.post("/api/v1/subjects", "{nope", content_type="application/json").status_code == 400
    assert Subject.objects.count() == 0


def test_uploaded_photo_is_stored_only_as_ciphertext_and_reads_back_as_the_sanitised_image(api, blob_dir):
    subject = _create_subject(api, email="photo@example.com")
    original = factories.jpeg_bytes(factories.noise_image(800, 600, seed=3))
    resp = _upload(api, subject["id"], original)
    assert resp.status_code == 201, resp.content
    item = DataItem.objects.get(pk=resp.json()["id"])

    content = api.get(f"/api/v1/items/{item.pk}/content")
    assert content.status_code == 200
    assert content["Content-Disposition"].startswith("attachment")
    clean = b"".join(content.streaming_content)
    assert clean[:3] == b"\xff\xd8\xff"
    assert len(clean) == item.size

    raw = storage.raw_bytes(item.blob_name)
    everything = _all_stored_bytes(blob_dir)
    assert raw in everything and len(raw) > len(clean)
    # Neither the JPEG signature nor any recognisable stretch of the image is in storage. (Searching
    # 3 random-looking bytes anywhere would match by chance ~1% of the time, so the signature is checked
    # at the start of every stored file and as the image's whole 8-byte header anywhere.)
    assert not any(p.read_bytes().startswith(b"\xff\xd8\xff") for p in blob_dir.rglob("*") if p.is_file())
    assert clean[:8] not in everything
    for offset in range(0, len(clean) - 32, max(1, len(clean) // 50)):
        assert clean[offset : offset + 32] not in everything
    assert b"JFIF" not in everything


def test_small_items_sealed_in_the_database_hold_no_plaintext(api):
    owner = _create_subject(api, email="meta@example.com")
    canary = b'{"ip": "203.0.113.77", "note": "CANARY-INLINE-4410"}'
    import base64

    resp = api.post("/api/v1/items", json.dumps({
        "category": "ip_log", "purpose": "security", "subjects": [owner["id"]],
        "content_base64": base64.b64encode(canary).decode(), "content_type": "application/json",
    }), content_type="application/json")
    assert resp.status_code == 201, resp.content
    item = DataItem.objects.get(pk=resp.json()["id"])
    assert item.sealed_inline is not None and canary not in bytes(item.sealed_inline)
    assert b"CANARY" not in bytes(item.sealed_inline)
    assert b"".join(api.get(f"/api/v1/items/{item.pk}/content").streaming_content) == canary


def test_a_jpeg_with_exif_gps_xmp_iptc_icc_and_a_comment_comes_back_with_none_of_them(api):
    hostile = factories.hostile_jpeg()
    for canary in (factories.GPS_CANARY.encode(), factories.COMMENT_CANARY, factories.XMP_CANARY,
                   factories.IPTC_CANARY, b"ICC_PROFILE"):
        assert canary in hostile  # the input really carries each kind of metadata
    subject = _create_subject(api, email="gps@example.com")
    resp = _upload(api, subject["id"], hostile)
    assert resp.status_code == 201, resp.content
    clean = b"".join(api.get(f"/api/v1/items/{resp.json()['id']}/content").streaming_content)

    markers = factories.jpeg_markers(clean)
    kinds = {m for m, _ in markers}
    assert 0xFE not in kinds, "COM segment survived"
    assert 0xE1 not in kinds, "APP1 (EXIF/XMP) survived"
    assert 0xE2 not in kinds, "APP2 (ICC) survived"
    assert 0xED not in kinds, "APP13 (IPTC) survived"
    for canary in (factories.GPS_CANARY.encode(), factories.COMMENT_CANARY, factories.XMP_CANARY,
                   factories.IPTC_CANARY, b"CanaryCam", b"Exif", b"ICC_PROFILE", b"Photoshop", b"http://ns.adobe"):
        assert canary not in clean
    img = Image.open(io.BytesIO(clean))
    assert not img.getexif()
    assert not {"exif", "icc_profile", "comment", "xmp", "photoshop"} & set(img.info)
    assert img.size == (400, 300)


@pytest.mark.parametrize(
    ("name", "make", "status"),
    [
        ("100-megapixel PNG of a few KB", lambda: factories.bomb_png(), 422),
        ("SVG", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><script>x</script></svg>', 422),
        ("PDF named .jpg", lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", 422),
        ("truncated JPEG", lambda: factories.jpeg_bytes()[: len(factories.jpeg_bytes()) * 6 // 10], 422),
        ("empty file", lambda: b"", 422),
    ],
)
def test_hostile_or_broken_uploads_are_refused_and_nothing_is_stored(api, blob_dir, name, make, status):
    subject = _create_subject(api, email="bad@example.com")
    events_before = Event.objects.count()
    data = make()
    if name.startswith("100"):
        assert len(data) < 64 * 1024
    resp = _upload(api, subject["id"], data, name="evil.jpg")
    assert resp.status_code == status, (name, resp.content)
    assert 400 <= resp.status_code < 500
    assert resp.json()["error"]["message"]
    assert DataItem.objects.count() == 0
    assert not [p for p in blob_dir.rglob("*") if p.is_file()]
    assert Event.objects.count() == events_before


def test_upload_without_a_file_or_for_an_unknown_subject_is_refused(api):
    subject = _create_subject(api, email="nofile@example.com")
    assert api.post(f"/api/v1/subjects/{subject['id']}/photos", {}).status_code == 400
    missing = _upload(api, "6f1c1b1e-0000-4000-8000-000000000000", factories.jpeg_bytes())
    assert missing.status_code == 404


def test_destroying_a_subjects_key_makes_all_their_blobs_unreadable_but_not_others(api):
    alice = vault.create_subject(actor="t", now=factories.T0, email="alice@example.com")
    bob = vault.create_subject(actor="t", now=factories.T0, email="bob@example.com")
    a_photo = factories.photo_item(alice, seed=1)
    a_meta = vault.store_item(vault.NewItem(category="upload_metadata", purpose="service_delivery",
                                            holders=[(alice, "owner")], content=b'{"app": "1.2"}'),
                              actor="t", now=factories.T0)
    b_photo = factories.photo_item(bob, seed=2)
    joint = factories.derived_item([a_photo, b_photo])
    expected_bob = vault.read_item(b_photo)

    assert vault.destroy_subject_key(alice, actor="t", now=factories.T0)
    for item in (a_photo, a_meta, joint):
        with pytest.raises(vault.KeyDestroyed):
            vault.read_item(item)
        assert api.get(f"/api/v1/items/{item.pk}/content").status_code == 410
    assert vault.read_item(b_photo) == expected_bob
    assert api.get(f"/api/v1/items/{b_photo.pk}/content").status_code == 200
    assert not vault.destroy_subject_key(alice, actor="t", now=factories.T0)  # idempotent
    assert Event.objects.filter(kind="subject.key_destroyed").count() == 1


def test_rotating_the_key_ring_rewraps_every_key_and_the_old_ring_key_can_then_go(settings):
    from django.core.management import call_command

    from dsr.crypto import KeyRing
    from dsr.models import SubjectKey

    people = [vault.create_subject(actor="t", now=factories.T0, email=f"p{i}@example.com") for i in range(5)]
    items = [factories.photo_item(p, seed=i) for i, p in enumerate(people)]
    joint = factories.derived_item(items[:2])
    before = {i.pk: vault.read_item(i) for i in [*items, joint]}
    old_spec = settings.DSR_KEYS
    new_spec = KeyRing.generate_spec("k2") + "," + old_spec
    settings.DSR_KEYS = new_spec

    out = io.StringIO()
    call_command("rotate_keys", stdout=out)
    assert "re-wrapped 5" in out.getvalue()
    assert set(SubjectKey.objects.values_list("ring_key_id", flat=True)) == {"k2"}

    settings.DSR_KEYS = new_spec.split(",")[0]  # only the new key is left: the old one is gone
    assert KeyRing.from_spec(settings.DSR_KEYS).ids == ["k2"]
    for item in [*items, joint]:
        assert vault.read_item(DataItem.objects.get(pk=item.pk)) == before[item.pk]
    call_command("rotate_keys", stdout=io.StringIO())  # nothing left to do, still fine


def test_a_video_from_two_subjects_photos_is_listed_under_both(api):
    alice = _create_subject(api, email="a@example.com")
    bob = _create_subject(api, email="b@example.com")
    pa = _upload(api, alice["id"], factories.jpeg_bytes(factories.noise_image(300, 200, seed=5))).json()
    pb = _upload(api, bob["id"], factories.jpeg_bytes(factories.noise_image(300, 200, seed=6))).json()
    video = api.post("/api/v1/items", {
        "category": "generated_video", "purpose": "photo_generation",
        "derived_from": [pa["id"], pb["id"]], "file": _named(b"\x00\x00\x00\x18ftypmp42" + b"v" * 70000, "v.mp4"),
    })
    assert video.status_code == 201, video.content
    vid = video.json()["id"]
    assert {s["id"] for s in video.json()["subjects"]} == {alice["id"], bob["id"]}
    assert sorted(video.json()["derived_from"]) == sorted([pa["id"], pb["id"]])
    for who in (alice, bob):
        listing = api.get(f"/api/v1/subjects/{who['id']}/holdings").json()
        assert vid in {i["id"] for i in listing["items"]}
        assert vid in listing["derived_item_ids"]


def test_transitive_derivation_query_follows_a_three_level_chain():
    alice = vault.create_subject(actor="t", now=factories.T0, email="chain@example.com")
    other = vault.create_subject(actor="t", now=factories.T0, email="other@example.com")
    photo = factories.photo_item(alice)
    unrelated = factories.photo_item(other, seed=9)
    embedding = factories.derived_item([photo], category="face_embedding", content=b"\x01" * 2048)
    thumb = factories.derived_item([photo], category="thumbnail")
    video = factories.derived_item([embedding, unrelated])
    video_thumb = factories.derived_item([video], category="thumbnail")
    factories.derived_item([unrelated], category="thumbnail")

    assert {i.pk for i in vault.derived_items([photo])} == {embedding.pk, thumb.pk, video.pk, video_thumb.pk}
    assert {i.pk for i in vault.derived_items([embedding])} == {video.pk, video_thumb.pk}
    assert vault.derived_items([video_thumb]) == []
    # The video carries the unrelated subject's data too, so it belongs to both.
    assert set(video.subject_ids()) == {alice.pk, other.pk}


def test_processing_check_answers_from_consent_of_every_person_in_the_photo(api):
    owner = _create_subject(api, email="owner@example.com")
    friend = _create_subject(api, email="friend@example.com", kind="depicted")
    photo = api.post(f"/api/v1/subjects/{owner['id']}/photos",
                     {"file": _named(factories.jpeg_bytes(), "p.jpg"), "depicted": [friend["id"]]}).json()
    url = f"/api/v1/subjects/{owner['id']}/processing?purpose=photo_generation&item={photo['id']}"

    def check():
        return api.get(url).json()

    assert check()["allowed"] is False and len(check()["reasons"]) == 2
    c1 = api.post("/api/v1/consents", json.dumps({"subject": owner["id"], "purpose": "photo_generation",
                                                  "item": photo["id"]}), content_type="application/json")
    assert c1.status_code == 201
    assert check()["allowed"] is False  # the friend has not agreed
    c2 = api.post("/api/v1/consents", json.dumps({"subject": friend["id"], "purpose": "photo_generation",
                                                  "item": photo["id"]}), content_type="application/json").json()
    assert check()["allowed"] is True and check()["legal_basis"] == "explicit_consent"
    assert api.post(f"/api/v1/consents/{c2['id']}/withdraw").status_code == 200
    assert check()["allowed"] is False
    # Contract-based purposes need no consent; a purpose not in the register is refused as a bad question.
    assert api.get(f"/api/v1/subjects/{owner['id']}/processing?purpose=service_delivery").json()["allowed"] is True
    unknown = api.get(f"/api/v1/subjects/{owner['id']}/processing?purpose=selling_faces")
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "purpose"


def test_writes_for_a_subject_being_erased_are_refused(api):
    owner = _create_subject(api, email="leaving@example.com")
    Subject.objects.filter(pk=owner["id"]).update(writes_blocked_at=factories.T0)
    resp = _upload(api, owner["id"], factories.jpeg_bytes())
    assert resp.status_code == 409
    assert DataItem.objects.count() == 0


def test_the_openapi_schema_is_served_and_valid(client):
    from openapi_spec_validator import validate

    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    schema = resp.json()
    validate(schema)
    assert "/api/v1/subjects/{subject_id}/photos" in schema["paths"]
    assert "/api/v1/cases" in schema["paths"]


def test_a_conflicting_email_and_account_id_pair_is_a_409_never_silently_dropped(api):
    first = _create_subject(api, email="pair@example.com", account_id="acct-1")
    _create_subject(api, account_id="acct-2")
    only_email = _create_subject(api, email="solo@example.com")
    for body in ({"email": "pair@example.com", "account_id": "acct-2"},  # two different subjects
                 {"email": "pair@example.com", "account_id": "acct-9"},  # the subject has another account id
                 {"email": "other@example.com", "account_id": "acct-1"},  # ... or another e-mail
                 {"email": "solo@example.com", "account_id": "acct-3"}):  # ... or none: not silently dropped
        resp = api.post("/api/v1/subjects", json.dumps(body), content_type="application/json")
        assert resp.status_code == 409, body
        assert resp.json()["error"]["code"] == "identifier_conflict"
    assert Subject.objects.count() == 3
    assert Subject.objects.get(pk=only_email["id"]).account_id is None
    same = api.post("/api/v1/subjects", json.dumps({"email": "PAIR@example.com", "account_id": "acct-1"}),
                    content_type="application/json")
    assert same.status_code == 200 and same.json()["id"] == first["id"]
