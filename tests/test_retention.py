"""Retention: a source photo goes 24 h after the first item derived from it, purged by the scheduled job."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from dsr import jobs, retention, vault
from dsr.models import CategoryPolicy, DataItem, Event
from tests import factories
from tests.factories import T0

pytestmark = pytest.mark.django_db

DAY = timedelta(hours=24)
SECOND = timedelta(seconds=1)


@pytest.fixture
def purge(django_capture_on_commit_callbacks):
    """retention.purge_expired as the job runs it: blobs are deleted once the purge commits."""

    def run(now):
        with django_capture_on_commit_callbacks(execute=True):
            return retention.purge_expired(now=now, actor="system:retention")

    return run


@pytest.fixture
def q_sync(monkeypatch):
    """Run django-q2 tasks in-process. django_q reads Q_CLUSTER once at import, so overriding the
    setting (as conftest does) is not enough: set the flag django_q actually consults."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def _blob_path(blob_dir: Path, item: DataItem) -> Path:
    return blob_dir / item.blob_name


def _photo_with_derivative(derived_at=T0 + timedelta(hours=3)):
    owner = factories.subject("retention@example.com")
    photo = factories.photo_item(owner, now=T0)
    video = factories.derived_item([photo], now=derived_at, content=b"generated-video-bytes")
    photo.refresh_from_db()
    return photo, video


def test_an_uploaded_photo_has_no_expiry_until_something_is_derived_from_it(purge):
    owner = factories.subject("no.expiry@example.com")
    photo = factories.photo_item(owner, now=T0)

    assert photo.expires_at is None
    assert purge(T0 + 365 * DAY) == 0
    photo.refresh_from_db()
    assert photo.purged_at is None and vault.read_item(photo)


def test_the_photo_expires_exactly_24_hours_after_its_first_derivative_is_registered():
    derived_at = T0 + timedelta(hours=3, minutes=17)
    photo, _ = _photo_with_derivative(derived_at)
    assert photo.expires_at == derived_at + DAY

    # A second derivative later on does not push the deadline back.
    factories.derived_item([photo], category="thumbnail", now=derived_at + timedelta(hours=5))
    photo.refresh_from_db()
    assert photo.expires_at == derived_at + DAY


def test_purge_leaves_the_photo_before_its_expiry_and_deletes_its_content_at_it(purge, blob_dir):
    derived_at = T0 + timedelta(hours=3)
    photo, video = _photo_with_derivative(derived_at)
    blob = _blob_path(blob_dir, photo)
    original = vault.read_item(photo)
    assert blob.is_file()

    assert purge(derived_at + DAY - SECOND) == 0
    photo.refresh_from_db()
    assert photo.purged_at is None and blob.is_file()
    assert vault.read_item(photo) == original

    assert purge(derived_at + DAY) == 1
    photo.refresh_from_db()
    assert photo.purged_at == derived_at + DAY
    assert not blob.exists()
    assert photo.blob_name == "" and not photo.has_content
    with pytest.raises(vault.VaultError):
        vault.read_item(photo)
    # The derived video is untouched and still readable; the photo row stays for lineage.
    video.refresh_from_db()
    assert video.purged_at is None
    assert vault.read_item(video) == b"generated-video-bytes"
    assert [i.pk for i in vault.derived_items([photo])] == [video.pk]


def test_a_purge_writes_one_item_purged_event_and_running_it_again_is_harmless(purge, blob_dir):
    photo, video = _photo_with_derivative()
    when = photo.expires_at + timedelta(minutes=10)

    assert purge(when) == 1
    assert purge(when) == 0
    assert purge(when + DAY) == 0

    events = list(Event.objects.filter(kind="item.purged"))
    assert len(events) == 1
    event = events[0]
    assert event.object_id == str(photo.pk)
    assert event.actor == "system:retention"
    assert event.data == {"reason": "retention", "category": "photo"}
    assert event.at == when
    photo.refresh_from_db()
    assert photo.purged_at == when  # not moved by the later runs
    assert vault.read_item(video) == b"generated-video-bytes"
    from dsr.audit import first_break

    assert first_break() is None


def test_an_item_under_legal_hold_is_not_purged_until_the_hold_is_lifted(purge, blob_dir):
    photo, _ = _photo_with_derivative()
    DataItem.objects.filter(pk=photo.pk).update(legal_hold=True)
    late = photo.expires_at + 30 * DAY

    assert purge(late) == 0
    photo.refresh_from_db()
    assert photo.purged_at is None and _blob_path(blob_dir, photo).is_file()
    assert vault.read_item(photo)
    assert not Event.objects.filter(kind="item.purged").exists()

    DataItem.objects.filter(pk=photo.pk).update(legal_hold=False)
    assert purge(late) == 1
    assert not _blob_path(blob_dir, photo).exists()


def test_the_retention_period_is_configurable_per_category(purge):
    CategoryPolicy.objects.filter(category="photo").update(retention_hours=48)
    derived_at = T0 + timedelta(hours=1)
    photo, _ = _photo_with_derivative(derived_at)
    assert photo.expires_at == derived_at + 2 * DAY

    assert purge(derived_at + DAY) == 0
    assert purge(derived_at + 2 * DAY) == 1


def test_a_category_kept_for_a_period_after_creation_gets_its_expiry_when_stored(purge):
    CategoryPolicy.objects.filter(category="ip_log").update(retention_rule="after_creation", retention_hours=6)
    owner = factories.subject("iplog@example.com")
    log = vault.store_item(
        vault.NewItem(category="ip_log", purpose="security", holders=[(owner, "owner")],
                      content=b'{"ip": "203.0.113.9"}', content_type="application/json"),
        actor="test", now=T0,
    )
    assert log.expires_at == T0 + timedelta(hours=6)
    assert purge(T0 + timedelta(hours=6)) == 1
    log.refresh_from_db()
    assert log.sealed_inline is None and log.purged_at is not None
    with pytest.raises(vault.VaultError):
        vault.read_item(log)


def test_the_django_q_job_purges_expired_items_and_reports_the_count(q_sync, django_capture_on_commit_callbacks,
                                                                      blob_dir):
    from django_q.models import Task
    from django_q.tasks import async_task, result

    photo, video = _photo_with_derivative()
    blob = _blob_path(blob_dir, photo)

    with time_machine.travel(photo.expires_at - SECOND, tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        early = async_task("dsr.jobs.purge_expired")
    assert result(early) == "purged=0"
    assert blob.is_file()

    with time_machine.travel(photo.expires_at + SECOND, tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        task_id = async_task("dsr.jobs.purge_expired")
    assert result(task_id) == "purged=1"
    task = Task.objects.get(id=task_id)
    assert task.success and task.func == "dsr.jobs.purge_expired"
    assert not blob.exists()
    photo.refresh_from_db()
    assert photo.purged_at == photo.expires_at + SECOND
    assert Event.objects.get(kind="item.purged").actor == "system:retention"
    assert vault.read_item(video) == b"generated-video-bytes"


def test_ensure_schedules_creates_the_purge_schedule_once():
    from django_q.models import Schedule

    assert jobs.ensure_schedules() == len(jobs.SCHEDULES) >= 1
    total = Schedule.objects.count()
    Schedule.objects.filter(name="dsr.purge_expired").update(minutes=999)  # drifted
    jobs.ensure_schedules()

    assert Schedule.objects.count() == total
    schedules = list(Schedule.objects.filter(name="dsr.purge_expired"))
    assert len(schedules) == 1
    schedule = schedules[0]
    assert schedule.func == "dsr.jobs.purge_expired"
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 15
    assert schedule.repeats == -1


def test_the_purge_expired_command_purges_too(capsys, django_capture_on_commit_callbacks, blob_dir):
    from django.core.management import call_command

    photo, _ = _photo_with_derivative()
    with time_machine.travel(photo.expires_at + timedelta(minutes=1), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        call_command("purge_expired")
    assert "purged 1 items" in capsys.readouterr().out
    assert not _blob_path(blob_dir, photo).exists()
