"""The orphan sweep: blobs left behind by a process killed mid-upload or mid-purge end up deleted."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from dsr import crypto, orphans, storage, vault
from dsr.models import DataItem, Event
from tests import factories

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


def blob_files(blob_dir: Path) -> set[str]:
    return {p.relative_to(blob_dir).as_posix() for p in blob_dir.rglob("*") if p.is_file()}


def age(blob_dir: Path, name: str, by: timedelta) -> None:
    when = (timezone.now() - by).timestamp()
    os.utime(blob_dir / name, (when, when))


def test_blob_of_an_upload_killed_before_its_row_committed_is_swept_after_the_grace_period(blob_dir: Path):
    kept = factories.photo_item(factories.subject("kept@example.com"))
    # What a worker killed between the fsync and the commit leaves: a sealed blob and no row.
    orphan = storage.write_sealed(crypto.new_data_key(), io.BytesIO(b"half-accepted upload"), aad=b"x").name
    fresh = storage.write_sealed(crypto.new_data_key(), io.BytesIO(b"upload in flight"), aad=b"x").name
    age(blob_dir, orphan, 2 * HOUR)
    age(blob_dir, kept.blob_name, 30 * 24 * HOUR)  # old but referenced
    now = timezone.now()

    assert orphans.sweep_orphan_blobs(now=now, actor="test") == 1
    assert blob_files(blob_dir) == {kept.blob_name, fresh}
    assert vault.read_item(kept)[:3] == b"\xff\xd8\xff"  # the referenced photo still reads
    event = Event.objects.get(kind="storage.orphans_swept")
    assert event.data == {"deleted": 1} and event.actor == "test"

    # Once the in-flight blob is past the grace period with still no row, it goes too; then nothing is left.
    assert orphans.sweep_orphan_blobs(now=now + 2 * HOUR, actor="test") == 1
    assert blob_files(blob_dir) == {kept.blob_name}
    assert orphans.sweep_orphan_blobs(now=now + 2 * HOUR, actor="test") == 0
    assert Event.objects.filter(kind="storage.orphans_swept").count() == 2  # no event for an empty run


def test_purge_killed_before_deleting_its_blob_still_ends_with_no_blob(blob_dir: Path):
    photo = factories.photo_item(factories.subject("gone@example.com"))
    name = photo.blob_name
    # The purge commits; its after-commit delete never runs (the process died): the file is still there.
    assert vault.purge_item(photo, actor="test", now=factories.T0, reason="erasure")
    assert name in blob_files(blob_dir)
    assert not DataItem.objects.filter(blob_name=name).exists()

    assert orphans.sweep_orphan_blobs(now=timezone.now() + 2 * HOUR, actor="system:orphan-sweep") == 1
    assert blob_files(blob_dir) == set()


def test_leftover_temporary_files_of_older_versions_are_swept(blob_dir: Path):
    incoming = blob_dir / ".incoming"
    incoming.mkdir(parents=True)
    (incoming / "seal-abc123").write_bytes(b"\x00" * 100)
    assert orphans.sweep_orphan_blobs(now=timezone.now() + 2 * HOUR, actor="test") == 1
    assert blob_files(blob_dir) == set()


def test_sweep_runs_as_a_scheduled_job(blob_dir: Path, django_capture_on_commit_callbacks):
    from django_q.tasks import async_task, result

    from dsr import jobs

    assert jobs.SCHEDULES["dsr.sweep_orphan_blobs"][0] == "dsr.jobs.sweep_orphan_blobs"
    orphan = storage.write_sealed(crypto.new_data_key(), io.BytesIO(b"orphan"), aad=b"x").name
    age(blob_dir, orphan, 3 * HOUR)
    with django_capture_on_commit_callbacks(execute=True):
        task_id = async_task("dsr.jobs.sweep_orphan_blobs")
    assert result(task_id) == "deleted=1"
    assert blob_files(blob_dir) == set()
    assert Event.objects.get(kind="storage.orphans_swept").actor == "system:orphan-sweep"
