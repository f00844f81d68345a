"""The erasure cascade survives faults, on real qcluster processes (issue 9 acceptance; security.md "Faults to
survive"): a worker SIGKILLed in the middle, twice; storage failing halfway through the deletions; the same step
delivered to two clusters at once; the worker's database connection dropped mid-step; an upload racing the gate;
a recipient that is down. Each run ends complete and clean, attempts counted, nothing done twice that must not be.

Storage misbehaves through tests/fault_storage.py (control files); leases and back-offs are short (env)."""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from dsr import certificates, steps, vault, webhooks
from dsr.models import (
    CaseState,
    DataItem,
    Erasure,
    Event,
    OutboundMessage,
    Recipient,
    RunState,
    Step,
    StepRun,
    Subject,
    SubjectKey,
)
from tests import factories
from tests.erasure_kit import Receiver, approve, build_world, erasure_case, many_items, point_recipients_at
from tests.qcluster import QCluster, require_postgres, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
FAST = {"DSR_STEP_LEASE_SECONDS": "3", "DSR_STEP_BACKOFF_SECONDS": "1", "DSR_ERASURE_GRACE_HOURS": "0",
        "DSR_Q_BULK": "1"}


@pytest.fixture
def setup(tmp_path: Path, settings):
    require_postgres()
    settings.DSR_ERASURE_GRACE_HOURS = 0
    receiver = Receiver().up()
    secrets = point_recipients_at(receiver)
    now = timezone.now()
    w = build_world(now)
    extra = many_items(w.alice, now, 40)
    case = erasure_case(w.alice, now)
    faults = tmp_path / "faults"
    faults.mkdir()
    env = {**FAST, "DSR_BLOB_BACKEND": "tests.fault_storage.FaultyStorage", "DSR_FAULT_DIR": str(faults)}
    yield {"w": w, "case": case, "faults": faults, "env": env, "receiver": receiver, "secrets": secrets,
           "blobs": {i.blob_name for i in [*w.alice_photos, w.embedding, w.thumbnail, w.video,
                                           w.video_of_embedding, *extra] if i.blob_name}, "now": now}
    receiver.down()


def run_of(case) -> StepRun:
    return Erasure.objects.get(case=case).run


def until_done(run: StepRun, timeout: float = 90) -> None:
    def done() -> bool:
        steps.reconcile(timezone.now())  # the reconciler schedule, every second here
        return StepRun.objects.get(pk=run.pk).state == RunState.DONE

    wait_for(done, timeout=timeout, interval=1, what="the cascade to finish")


def stalled(faults: Path, timeout: float = 60) -> tuple[int, int]:
    def read() -> str:
        steps.reconcile(timezone.now())
        path = faults / "stalled"
        return path.read_text() if path.exists() else ""

    text = str(wait_for(read, timeout=timeout, interval=0.3, what="a worker to stall in a delete"))
    (faults / "stalled").unlink()
    pid, backend = text.split()
    return int(pid), int(backend)


def assert_complete_and_clean(s: dict, tmp_path: Path) -> None:
    w, case = s["w"], s["case"]
    run = run_of(case)
    assert run.state == RunState.DONE
    case.refresh_from_db()
    assert case.state == CaseState.COMPLETED
    assert Subject.objects.get(pk=w.alice.pk).erased_at is not None
    assert SubjectKey.objects.get(subject=w.alice).wrapped == ""
    left = [n for n in s["blobs"] if (tmp_path / "blobs" / n).exists()]
    assert left == []
    assert not DataItem.objects.filter(holders__subject=w.alice).exists()
    assert vault.read_item(DataItem.objects.get(pk=w.bob_photo.pk))
    # Effects that must happen once happened once.
    for kind in ("subject.key_destroyed", "erasure.completed", "case.completed", "subject.identifiers_erased",
                 "run.completed"):
        assert Event.objects.filter(kind=kind).count() == 1, kind
    assert OutboundMessage.objects.filter(case=case, template="erasure_completed", sent_at__isnull=False).count() == 1
    for name, secret in s["secrets"].items():
        if Step.objects.filter(run=run, name=f"notify-recipient-{Recipient.objects.get(name=name).pk}").exists():
            assert len(s["receiver"].verified(secret)) == 1, name
    assert Step.objects.get(run=run, name="sweep").evidence["leftovers"] == 0
    from dsr import audit

    assert audit.first_break() is None


def test_a_worker_killed_twice_in_the_middle_of_the_cascade_finishes_clean_with_its_attempts_counted(setup, tmp_path):
    s = setup
    with QCluster(tmp_path, **s["env"]) as cluster:
        (s["faults"] / "stall").touch()
        approve(s["case"], s["now"])
        first, _ = stalled(s["faults"])
        cluster.kill_worker(first)  # SIGKILL while it deletes blobs
        (s["faults"] / "stall").touch()
        second, _ = stalled(s["faults"])
        assert second != first
        cluster.kill_worker(second)
        until_done(run_of(s["case"]))
    items = Step.objects.get(run=run_of(s["case"]), name="items")
    assert items.attempts == 3 and items.state == "done"
    assert_complete_and_clean(s, tmp_path)


def test_storage_failing_halfway_through_the_deletions_is_retried_until_everything_is_gone(setup, tmp_path):
    s = setup
    (s["faults"] / "fail_after").write_text("15")
    with QCluster(tmp_path, **s["env"]):
        approve(s["case"], s["now"])
        run = run_of(s["case"])

        def failed_twice() -> bool:
            steps.reconcile(timezone.now())
            # Two failures recorded, not merely a second attempt claimed (a claim keeps the last error until
            # it ends): otherwise the second attempt may see storage back and succeed.
            return Event.objects.filter(kind="step.failed", data__step="items").count() >= 2

        wait_for(failed_twice, timeout=60, interval=0.5, what="the items step to fail on storage")
        assert StepRun.objects.get(pk=run.pk).state == RunState.RUNNING
        assert Erasure.objects.get(case=s["case"]).state == "running"
        (s["faults"] / "fail_after").unlink()  # storage is back
        until_done(run)
    items = Step.objects.get(run=run_of(s["case"]), name="items")
    assert items.attempts >= 3 and items.last_error == ""
    assert Event.objects.filter(kind="step.failed", data__step="items").count() == items.attempts - 1
    assert_complete_and_clean(s, tmp_path)


def test_the_same_step_delivered_to_two_clusters_at_once_is_done_once(setup, tmp_path):
    s = setup
    # Each cluster keeps at most one task in hand, so a delivery it cannot start goes to the other one; the lease
    # outlives the test, so only the holder of the step can ever complete it.
    shared = {**s["env"], "DSR_DATA_DIR": str(tmp_path), "DSR_BLOB_DIR": str(tmp_path / "blobs"),
              "DSR_Q_QUEUE_LIMIT": "1", "DSR_STEP_LEASE_SECONDS": "60"}
    with QCluster(tmp_path / "a", **shared) as a, QCluster(tmp_path / "b", **shared) as b:
        wait_for(lambda: all("running." in c.log.read_text() for c in (a, b)), timeout=30, what="both clusters")
        (s["faults"] / "stall").touch()
        run = approve(s["case"], s["now"])
        stalled(s["faults"])  # one cluster's worker is in the middle of the items step
        for _ in range(4):
            steps.enqueue(run.pk)  # the same "advance" delivered again, at the same time
        processed = "Processed 'dsr.jobs.advance_run'"
        wait_for(lambda: any(processed in c.log.read_text() for c in (a, b)), timeout=30,
                 what="the other cluster to run a duplicate delivery while the step is held")
        (s["faults"] / "release").touch()
        until_done(run)
        logs = [c.log.read_text() for c in (a, b)]
    assert all(processed in log for log in logs)  # both clusters ran deliveries of the same run
    assert set(Step.objects.filter(run=run).values_list("attempts", flat=True)) == {1}
    assert_complete_and_clean(s, tmp_path)


def test_a_dropped_database_connection_mid_step_is_recovered(setup, tmp_path):
    s = setup
    with QCluster(tmp_path, **s["env"]):
        (s["faults"] / "stall").touch()
        approve(s["case"], s["now"])
        _, backend = stalled(s["faults"])
        with connection.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", [backend])
            assert cur.fetchone()[0] is True
        (s["faults"] / "release").touch()  # the worker goes on and finds its connection gone
        until_done(run_of(s["case"]))
    items = Step.objects.get(run=run_of(s["case"]), name="items")
    assert items.attempts == 2
    assert_complete_and_clean(s, tmp_path)


def test_an_upload_that_started_before_the_gate_and_commits_after_it_is_refused_and_leaves_nothing(tmp_path,
                                                                                                     settings):
    require_postgres()
    now = timezone.now()
    alice = factories.subject("race@example.com")
    case = erasure_case(alice, now)
    reading, release = threading.Event(), threading.Event()

    class SlowUpload(io.RawIOBase):
        """An upload body still arriving when the erasure is approved."""

        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            if self.sent == 0:
                reading.set()
                release.wait(20)
            size = min(n if n and n > 0 else 65536, 300_000 - self.sent)
            self.sent += size
            return b"v" * size

    outcome: dict = {}

    def upload() -> None:
        try:
            outcome["item"] = vault.store_item(vault.NewItem(
                category="generated_video", purpose="photo_generation", holders=[(alice, "owner")],
                content=SlowUpload(), content_type="video/mp4"), actor="t", now=now)
        except Exception as exc:  # noqa: BLE001
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=upload)
    thread.start()
    assert reading.wait(20)  # it passed the early check and is sealing its blob
    settings.DSR_ERASURE_GRACE_HOURS = 48
    approve(case, now)  # the gate shuts and commits meanwhile
    assert list((tmp_path / "blobs").rglob("*.sealed"))  # the upload's blob is half written
    release.set()
    thread.join(30)
    assert isinstance(outcome.get("error"), vault.WritesBlocked)
    assert not DataItem.objects.filter(holders__subject=alice).exists()
    assert list((tmp_path / "blobs").rglob("*.sealed")) == []  # nothing of it is left


def test_a_recipient_that_is_down_is_retried_shown_pending_and_listed_once_it_confirms(tmp_path, settings, api):
    require_postgres()
    settings.DSR_ERASURE_GRACE_HOURS = 0
    receiver = Receiver().up()
    secrets = point_recipients_at(receiver)
    receiver.down()  # the recipients' endpoint is unreachable
    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now)
    try:
        with QCluster(tmp_path, **FAST, DSR_WEBHOOK_MAX_ATTEMPTS="50"):
            approve(case, now)
            run = run_of(case)

            def retrying() -> bool:
                steps.reconcile(timezone.now())
                notify = Step.objects.filter(run=run, name__startswith="notify-recipient-")
                return all(st.attempts >= 2 for st in notify) and Step.objects.get(run=run, name="sweep").state == \
                    "done"

            wait_for(retrying, timeout=60, interval=0.5, what="the notices to be retried")
            status = api.get(f"/api/v1/cases/{case.pk}").json()["erasure"]
            assert {r["status"] for r in status["recipients"]} == {"retrying"}
            assert all(r["last_status"].startswith("unreachable") for r in status["recipients"])
            assert status["state"] == "running" and status["certificate_url"] is None
            case.refresh_from_db()
            assert case.state != CaseState.COMPLETED  # the case waits for its recipients
            receiver.up()  # back on the same port
            until_done(run)
        assert sum(len(receiver.verified(secret)) for secret in secrets.values()) == len(secrets) - 1  # AdMetrics: no
        case.refresh_from_db()
        assert case.state == CaseState.COMPLETED
        face = Recipient.objects.get(name="FaceModel Inference Inc.")
        [request] = receiver.verified(secrets[face.name])
        notice_id = request["json"]["notice_id"]
        assert request["headers"][webhooks.HEADER_DELIVERY.lower()] == notice_id

        # The recipient confirms with a signed callback; a forged or stale one is refused.
        body = json.dumps({"event": "erasure.confirmed", "notice_id": notice_id, "status": "erased"}).encode()
        url = "/webhooks/v1/erasure-confirmations"
        forged = webhooks.signed_headers(b"x" * 32, body, delivery=notice_id, event="erasure.confirmed",
                                         now=timezone.now())
        stale = webhooks.signed_headers(secrets[face.name], body, delivery=notice_id, event="erasure.confirmed",
                                        now=timezone.now() - timedelta(minutes=10))
        good = webhooks.signed_headers(secrets[face.name], body, delivery=notice_id, event="erasure.confirmed",
                                       now=timezone.now())
        client = Client()
        for headers, status in ((forged, 401), (stale, 401), (good, 200), (good, 200)):
            resp = client.post(url, body, content_type="application/json",
                               headers={k: v for k, v in headers.items() if k != "Content-Type"})
            assert resp.status_code == status, resp.content
        erasure_row = Erasure.objects.get(case=case)
        text = certificates_text(erasure_row)
        confirmed = erasure_row.notices.get(recipient=face).confirmed_at
        assert f"{confirmed:%-d %b %Y %H:%M}" in text and "not yet confirmed" in text  # the others have not
        assert Event.objects.filter(kind="erasure.recipient_confirmed").count() == 1
    finally:
        receiver.down()


def certificates_text(erasure_row: Erasure) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(certificates.render(erasure_row))).pages)

