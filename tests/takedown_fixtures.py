"""A platform with a two-person video, built through the real API (hashing at ingest included)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase

from tests.factories import jpeg_bytes, mp4_bytes, scene_image

UPLOADER_SEED, REQUESTER_SEED, VIDEO_SEEDS = 21, 22, (23, 24, 25)


@dataclass
class Platform:
    uploader: str
    uploader_email: str
    own_photo: str  # the uploader's own photo: stays
    own_embedding: str  # made from the uploader's own photo: stays
    requester_photo: str  # the requester's photo, uploaded by the uploader without consent
    requester_photo_bytes: bytes
    requester_embedding: str
    video: str  # made from both photos
    thumbnail: str  # made from the video


def _ok(response, status: int = 201) -> dict:
    assert response.status_code == status, response.content[:400]
    return response.json()


def upload_photo(api: Client, subject_id: str, data: bytes, name: str = "p.jpg"):
    return api.post(f"/api/v1/subjects/{subject_id}/photos",
                    {"file": SimpleUploadedFile(name, data, content_type="image/jpeg"), "purpose": "photo_generation"})


def register(api: Client, *, category: str, parents: list[str], data: bytes, content_type: str) -> str:
    return _ok(api.post("/api/v1/items", {"category": category, "purpose": "photo_generation",
                                          "derived_from": parents,
                                          "file": SimpleUploadedFile("x", data, content_type=content_type)}))["id"]


def build_platform(api: Client, uploader_email: str = "uploader@example.com") -> Platform:
    uploader = _ok(api.post("/api/v1/subjects", {"email": uploader_email}, content_type="application/json"))["id"]
    own_bytes = jpeg_bytes(scene_image(seed=UPLOADER_SEED))
    requester_bytes = jpeg_bytes(scene_image(seed=REQUESTER_SEED))
    own = _ok(upload_photo(api, uploader, own_bytes))["id"]
    theirs = _ok(upload_photo(api, uploader, requester_bytes))["id"]
    embedding = lambda parent: _ok(api.post("/api/v1/items", {  # noqa: E731
        "category": "face_embedding", "purpose": "photo_generation", "derived_from": [parent],
        "content_base64": base64.b64encode(b"\x00\x01" * 64).decode(), "content_type": "application/octet-stream"},
        content_type="application/json"))["id"]
    own_embedding, requester_embedding = embedding(own), embedding(theirs)
    scenes = [scene_image(320, 240, seed=s) for s in VIDEO_SEEDS]
    # The video is hashed by a job enqueued on commit (run inline here: tests run tasks synchronously).
    with TestCase.captureOnCommitCallbacks(execute=True):
        video = register(api, category="generated_video", parents=[own, theirs],
                         data=mp4_bytes([scenes[min(i // 10, 2)] for i in range(30)]), content_type="video/mp4")
    thumb_buf = io.BytesIO()
    scenes[0].save(thumb_buf, "JPEG", quality=85)
    thumbnail = register(api, category="thumbnail", parents=[video], data=thumb_buf.getvalue(),
                         content_type="image/jpeg")
    return Platform(uploader, uploader_email, own, own_embedding, theirs, requester_bytes, requester_embedding,
                    video, thumbnail)
