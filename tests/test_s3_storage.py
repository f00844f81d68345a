"""Blobs on S3-compatible object storage, over real HTTP.

The endpoint is moto's standalone S3 server (an emulator, run in a thread on a free local port); the client
side is the real stack: ``DSR_STORAGE=s3`` settings, django-storages' ``S3Storage`` and boto3. The storage
configuration is read from ``dsr.settings`` in a child process with the production variables, so the test
exercises what an operator configures, not a hand-written dict.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from dsr import crypto, storage, vault
from dsr.models import DataItem
from tests import factories

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

REPO = Path(__file__).resolve().parent.parent
BUCKET = "dsr-blobs-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_env() -> dict[str, str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "DSR_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_S3_REGION_NAME": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "dsr-test",
        "AWS_SECRET_ACCESS_KEY": "dsr-test-secret",
    }
    yield env
    server.stop()


@pytest.fixture(scope="module")
def s3_config(s3_env) -> dict:
    """``STORAGES["dsr_blobs"]`` exactly as ``dsr.settings`` builds it from the production environment."""
    out = subprocess.run(
        [sys.executable, "-c", "import django, json; django.setup(); from django.conf import settings; "
         "print(json.dumps(settings.STORAGES['dsr_blobs']))"],
        env={**os.environ, **s3_env, "DJANGO_SETTINGS_MODULE": "dsr.settings"},
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    config = json.loads(out.stdout.strip().splitlines()[-1])
    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    assert config["OPTIONS"]["default_acl"] == "private" and config["OPTIONS"]["file_overwrite"] is False
    return config


@pytest.fixture
def s3(s3_env, s3_config, settings, monkeypatch):
    """Blob storage switched to that S3 backend, with an empty bucket; yields a boto3 client for checks."""
    config = s3_config
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES, "dsr_blobs": config}
    client = boto3.client(
        "s3", endpoint_url=s3_env["AWS_S3_ENDPOINT_URL"], region_name=s3_env["AWS_S3_REGION_NAME"],
        aws_access_key_id=s3_env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _objects(client) -> dict[str, bytes]:
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {k: client.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


@pytest.mark.django_db
def test_uploaded_photo_lands_in_the_bucket_as_ciphertext_and_reads_back(s3, api, django_capture_on_commit_callbacks):
    subject = api.post("/api/v1/subjects", json.dumps({"email": "s3@example.com"}),
                       content_type="application/json").json()
    photo = io.BytesIO(factories.jpeg_bytes(factories.noise_image(640, 480, seed=11)))
    photo.name = "photo.jpg"
    resp = api.post(f"/api/v1/subjects/{subject['id']}/photos", {"file": photo})
    assert resp.status_code == 201, resp.content
    item = DataItem.objects.get(pk=resp.json()["id"])

    objects = _objects(s3)
    assert list(objects) == [item.blob_name]
    stored = objects[item.blob_name]
    clean = b"".join(api.get(f"/api/v1/items/{item.pk}/content").streaming_content)
    assert clean[:3] == b"\xff\xd8\xff" and len(clean) == item.size
    assert len(stored) == item.stored_size > len(clean)
    assert not stored.startswith(b"\xff\xd8\xff") and b"JFIF" not in stored
    for offset in range(0, len(clean) - 32, max(1, len(clean) // 40)):
        assert clean[offset : offset + 32] not in stored

    # Retention/erasure purge removes the object from the bucket, and a second purge is a no-op.
    with django_capture_on_commit_callbacks(execute=True):  # the object is deleted once the purge commits
        assert vault.purge_item(item, actor="test", now=factories.T0, reason="test")
    assert _objects(s3) == {}
    assert not vault.purge_item(item, actor="test", now=factories.T0, reason="test")


def test_large_stream_round_trips_through_the_bucket(s3) -> None:
    key = crypto.new_data_key()
    plain = os.urandom(6 * 1024 * 1024 + 5)  # several 1 MiB chunks: the pipelined path
    aad = b"item:s3-large"
    written = storage.write_sealed(key, io.BytesIO(plain), aad=aad)
    assert written.stored_size == crypto.sealed_size(len(plain), storage.SEAL_CHUNK_SIZE_LARGE)
    assert b"".join(storage.read_sealed(key, written.name, aad=aad)) == plain
    assert plain[:64] not in _objects(s3)[written.name]
    storage.delete_blob(written.name)
    storage.delete_blob(written.name)  # idempotent on object storage too
    assert _objects(s3) == {}


@pytest.mark.django_db
def test_orphan_sweep_lists_the_bucket_and_deletes_only_unreferenced_objects(s3) -> None:
    from django.utils import timezone

    from dsr import orphans

    photo = factories.photo_item(factories.subject("kept-s3@example.com"))
    orphan = storage.write_sealed(crypto.new_data_key(), io.BytesIO(b"orphan"), aad=b"x").name
    assert set(_objects(s3)) == {photo.blob_name, orphan}
    assert {name for name, _ in storage.iter_blobs()} == {photo.blob_name, orphan}

    assert orphans.sweep_orphan_blobs(now=timezone.now(), actor="test") == 0  # both within the grace period
    later = timezone.now() + orphans.DEFAULT_GRACE + timedelta(minutes=1)
    assert orphans.sweep_orphan_blobs(now=later, actor="test") == 1
    assert set(_objects(s3)) == {photo.blob_name}
    assert vault.read_item(photo)[:3] == b"\xff\xd8\xff"
