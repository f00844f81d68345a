"""Audit checkpoints on S3 with object lock, over real HTTP against moto's S3 server (as tests/test_s3_storage.py)."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from dsr import audit, checkpoints
from tests.factories import T0

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
from botocore.exceptions import ClientError  # noqa: E402

BUCKET = "dsr-audit-checkpoints"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def locked_bucket(settings, monkeypatch):
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "dsr-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dsr-test-secret")
    settings.DSR_AUDIT_SINK = "s3"
    settings.DSR_AUDIT_S3_BUCKET = BUCKET
    settings.DSR_AUDIT_S3_ENDPOINT_URL = f"http://{host}:{port}"
    settings.DSR_AUDIT_S3_REGION_NAME = "eu-west-1"
    client = boto3.client("s3", endpoint_url=settings.DSR_AUDIT_S3_ENDPOINT_URL, region_name="eu-west-1")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield client
    server.stop()


@pytest.mark.django_db
def test_checkpoints_go_to_the_locked_bucket_cannot_be_deleted_and_anchor_verification(locked_bucket):
    for i in range(3):
        audit.record("test.event", actor="test", now=T0 + timedelta(seconds=i), data={"n": i})
    cp = audit.checkpoint(now=T0 + timedelta(hours=1), email_dpo=False)

    listed = locked_bucket.list_object_versions(Bucket=BUCKET)["Versions"]
    assert [v["Key"] for v in listed] == [f"audit-checkpoints/{cp.name}"]
    head = locked_bucket.head_object(Bucket=BUCKET, Key=listed[0]["Key"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].year >= T0.year + 6
    with pytest.raises(ClientError, match="AccessDenied"):
        locked_bucket.delete_object(Bucket=BUCKET, Key=listed[0]["Key"], VersionId=listed[0]["VersionId"])

    assert checkpoints.latest_checkpoint() == (cp, [])
    assert audit.verify().intact
    from dsr.models import Event
    from tests.test_audit import _raw

    _raw("DELETE FROM dsr_event WHERE id = %s", [Event.objects.order_by("-id").first().pk])
    assert [f.kind for f in audit.verify().findings] == ["truncated", "count"]
