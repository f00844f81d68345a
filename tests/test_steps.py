"""The durable step runner (dsr/steps.py): order, retries, dead letters, leases, fencing, reconciler — and a
real qcluster whose worker is killed in the middle of a step."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from dsr import audit, steps
from dsr.models import Event, OutboundMessage, RunState, Step, StepRun, StepState
from dsr.roles import Role, create_staff
from dsr.steps import StepSpec
from tests.qcluster import QCluster, require_postgres, wait_for

H = "tests.step_handlers."


def effects(run: StepRun) -> list[str]:
    return list(Event.objects.filter(kind="test.step_effect", object_id=str(run.pk)).order_by("id")
                .values_list("data__step", flat=True))


def start(specs, now=None) -> StepRun:
    return steps.start_run("test", specs, object_type="test", object_id="t-1", actor="test",
                           now=now or timezone.now())


def state(run: StepRun) -> dict[str, str]:
    return dict(Step.objects.filter(run=run).values_list("name", "state"))


@pytest.fixture
def approver(db):
    return create_staff("dpo-t", "pw-for-tests-only", Role.APPROVER, email="dpo-t@example.com")


@pytest.mark.django_db
def test_steps_run_in_order_and_the_run_finishes_once_all_are_done():
    run = start([StepSpec("c", H + "record", 3), StepSpec("a", H + "record", 1), StepSpec("b", H + "record", 2)])
    assert steps.advance(run.pk) == 3
    run.refresh_from_db()
    assert effects(run) == ["a", "b", "c"]
    assert run.state == RunState.DONE and run.finished_at is not None
    assert set(state(run).values()) == {StepState.DONE}
    assert Step.objects.get(run=run, name="a").evidence == {"effects": 1}
    kinds = list(Event.objects.filter(object_id=str(run.pk)).values_list("kind", flat=True))
    assert kinds[0] == "run.started" and kinds[-1] == "run.completed" and kinds.count("step.completed") == 3
    assert audit.first_break() is None


@pytest.mark.django_db
def test_a_later_step_waits_for_every_step_of_the_earlier_group():
    run = start([StepSpec("x1", H + "record", 1), StepSpec("x2", H + "fail_until", 1, {"succeed_on": 2}),
                 StepSpec("after", H + "record", 2)])
    steps.advance(run.pk)
    assert state(run) == {"x1": "done", "x2": "pending", "after": "pending"}
    assert effects(run) == ["x1"]
    assert steps.due_run_ids(timezone.now()) == []  # x2 backs off; "after" is blocked behind it


@pytest.mark.django_db
def test_a_failed_step_is_retried_after_its_backoff_and_counts_its_attempts():
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        run = start([StepSpec("flaky", H + "fail_until", 1, {"succeed_on": 3})])
        steps.advance(run.pk)
        step = Step.objects.get(run=run)
        assert (step.state, step.attempts) == (StepState.PENDING, 1)
        assert step.last_error == "StepError: attempt 1 failed on purpose"
        assert step.not_before == t0 + steps.backoff(1)
        assert steps.advance(run.pk) == 0  # not due yet
        assert steps.due_run_ids(t0) == []
    with time_machine.travel(t0 + timedelta(seconds=31), tick=False):
        assert steps.due_run_ids(timezone.now()) == [run.pk]
        steps.advance(run.pk)
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        steps.advance(run.pk)
    step.refresh_from_db()
    run.refresh_from_db()
    assert (step.state, step.attempts, run.state) == (StepState.DONE, 3, RunState.DONE)
    assert effects(run) == ["flaky"]
    assert Event.objects.filter(kind="step.failed", object_id=str(run.pk)).count() == 2


@pytest.mark.django_db
def test_after_max_attempts_the_step_is_dead_lettered_the_run_needs_attention_and_approvers_are_told(
        approver, django_capture_on_commit_callbacks):
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=False):
        run = start([StepSpec("doomed", H + "always_fail", 1, max_attempts=2), StepSpec("next", H + "record", 2)],
                    now=t0)
    for minutes in (0, 10):
        with time_machine.travel(t0 + timedelta(minutes=minutes), tick=False):
            steps.advance(run.pk)
    run.refresh_from_db()
    step = Step.objects.get(run=run, name="doomed")
    assert (step.state, step.attempts, run.state) == (StepState.DEAD, 2, RunState.NEEDS_ATTENTION)
    assert step.last_error == "ValueError"  # the library's message (an address, a path) is never stored
    assert "example.com" not in str(list(Event.objects.values_list("data", flat=True)))
    assert state(run)["next"] == StepState.PENDING and effects(run) == []
    alert = OutboundMessage.objects.get(template="step_dead_letter")
    assert alert.to == "dpo-t@example.com" and str(run.pk) in alert.body_text and "doomed" in alert.body_text
    assert list(StepRun.objects.needs_attention()) == [run]

    # The operator fixes the cause and retries: the run goes on from where it stopped.
    with django_capture_on_commit_callbacks(execute=False):
        steps.retry_step(step, actor="staff:1", now=t0)
    run.refresh_from_db()
    assert run.state == RunState.RUNNING
    step.refresh_from_db()
    assert (step.state, step.attempts) == (StepState.PENDING, 0)


@pytest.mark.django_db
def test_an_operator_can_resolve_a_dead_step_by_hand_and_the_run_continues(approver):
    t0 = timezone.now()
    run = start([StepSpec("webhook", H + "always_fail", 1, max_attempts=1), StepSpec("next", H + "record", 2)],
                now=t0)
    steps.advance(run.pk)
    step = Step.objects.get(run=run, name="webhook")
    assert step.state == StepState.DEAD
    with pytest.raises(steps.StepError):
        steps.resolve_step(step, note="short", actor="staff:1", now=t0)
    steps.resolve_step(step, note="Told the processor by registered letter", actor="staff:1", now=t0)
    steps.advance(run.pk)
    run.refresh_from_db()
    step.refresh_from_db()
    assert run.state == RunState.DONE and effects(run) == ["next"]
    assert step.evidence["resolved_by_operator"] is True and "registered letter" in step.resolution_note


@pytest.mark.django_db
def test_a_worker_killed_mid_step_is_recovered_by_the_reconciler_and_the_attempt_counts():
    run = start([StepSpec("s", H + "record", 1)])
    claimed = steps._claim(run.pk, now=timezone.now())  # a worker claims the step… and dies
    assert claimed is not None
    step = Step.objects.get(run=run)
    assert (step.state, step.attempts) == (StepState.RUNNING, 1)
    assert steps.due_run_ids(timezone.now()) == []  # its lease still runs: nobody else may take it
    assert steps.advance(run.pk) == 0
    Step.objects.filter(pk=step.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert steps.due_run_ids(timezone.now()) == [run.pk]
    assert steps.advance(run.pk) == 1
    step.refresh_from_db()
    assert (step.state, step.attempts) == (StepState.DONE, 2) and effects(run) == ["s"]


@pytest.mark.django_db
def test_a_step_that_keeps_killing_its_worker_is_dead_lettered_not_run_again(approver):
    run = start([StepSpec("s", H + "record", 1, max_attempts=2)])
    for _ in range(2):
        assert steps._claim(run.pk, now=timezone.now()) is not None
        Step.objects.filter(run=run).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert steps.advance(run.pk) == 0
    step = Step.objects.get(run=run)
    assert (step.state, step.attempts) == (StepState.DEAD, 2) and effects(run) == []
    assert "worker stopped" in step.last_error


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_commits_nothing():
    run = start([StepSpec("s", H + "record", 1)])
    step_a, token_a = steps._claim(run.pk, now=timezone.now())
    Step.objects.filter(pk=step_a.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    step_b, token_b = steps._claim(run.pk, now=timezone.now())  # worker B takes over
    assert token_a != token_b and step_b.attempts == 2

    with pytest.raises(steps.LeaseLost):
        steps.StepContext(step_a, token_a, timezone.now()).heartbeat()
    assert steps._execute(step_a, token_a) is False  # A's effect and completion are refused
    assert effects(run) == []
    assert steps._execute(step_b, token_b) is True
    assert effects(run) == ["s"]


@pytest.mark.django_db
def test_a_deferred_step_waits_without_spending_attempts():
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        run = start([StepSpec("wait", H + "wait_an_hour", 1)])
        steps.advance(run.pk)
        steps.advance(run.pk)
    step = Step.objects.get(run=run)
    assert (step.state, step.attempts, step.not_before) == (StepState.PENDING, 0, t0 + timedelta(hours=1))
    assert step.last_error == "waiting for the recipient"


@pytest.mark.django_db
def test_cancelling_a_run_stops_its_steps_and_fences_out_the_running_one():
    run = start([StepSpec("a", H + "record", 1), StepSpec("b", H + "record", 2)])
    step, token = steps._claim(run.pk, now=timezone.now())
    assert steps.cancel_run(run, actor="staff:1", now=timezone.now())
    assert steps._execute(step, token) is False
    assert effects(run) == [] and set(state(run).values()) == {StepState.CANCELLED}
    assert steps.advance(run.pk) == 0
    assert not steps.cancel_run(run, actor="staff:1", now=timezone.now())


@pytest.mark.django_db
def test_a_run_is_enqueued_when_its_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start([StepSpec("a", H + "record", 1)])
    run.refresh_from_db()
    assert run.state == RunState.DONE and effects(run) == ["a"]  # the task ran (synchronously in tests)


@pytest.mark.django_db(transaction=True)
def test_two_workers_advancing_the_same_run_at_once_do_each_step_exactly_once():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers are serialised by SQLite itself; the row locks matter on PostgreSQL")
    run = start([StepSpec(f"s{i}", H + "record", i // 3) for i in range(12)])
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            steps.advance(run.pk)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(effects(run)) == sorted(f"s{i}" for i in range(12))
    assert set(Step.objects.filter(run=run).values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_a_real_qcluster_worker_killed_mid_step_is_recovered_and_the_step_done_once(tmp_path: Path):
    require_postgres()
    marker = tmp_path / "worker.pid"
    with QCluster(tmp_path, DSR_STEP_LEASE_SECONDS="3") as cluster:
        run = start([StepSpec("slow", H + "slow", 1, {"marker": str(marker), "seconds": 2}),
                     StepSpec("after", H + "record", 2)])
        steps.enqueue(run.pk)
        pid = int(wait_for(lambda: marker.exists() and marker.read_text(), what="the step to start"))
        cluster.kill_worker(pid)  # SIGKILL in the middle of the step
        marker.unlink()
        # The lease runs out; the reconciler (a schedule in production, called here every second) hands the
        # run to a new worker once the database clock has passed the lease.
        def reconciled_and_done() -> bool:
            steps.reconcile(timezone.now())
            return StepRun.objects.get(pk=run.pk).state == RunState.DONE

        wait_for(reconciled_and_done, timeout=60, interval=1, what="the run to finish")
    slow = Step.objects.get(run=run, name="slow")
    assert slow.attempts == 2 and slow.state == StepState.DONE
    assert effects(run) == ["slow", "after"]
    assert audit.first_break() is None


# --- the console ---------------------------------------------------------------------------------------------


@pytest.fixture
def console_users(db):
    return {
        "operator": create_staff("op-t", "pw-for-tests-only", Role.OPERATOR),
        "auditor": create_staff("aud-t", "pw-for-tests-only", Role.AUDITOR),
    }


def _client(user):
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c


@pytest.mark.django_db
def test_the_console_shows_a_stopped_job_and_an_operator_can_send_its_step_round_again(console_users):
    run = start([StepSpec("doomed", H + "always_fail", 1, max_attempts=1), StepSpec("next", H + "record", 2)])
    steps.advance(run.pk)
    op = _client(console_users["operator"])
    page = op.get("/staff/jobs/").content.decode()
    assert "needs attention" in page and str(run.pk)[:8] in page
    assert ">Jobs <span class=\"badge overdue\">1</span>" in op.get("/staff/").content.decode()
    detail = op.get(f"/staff/jobs/{run.pk}/").content.decode()
    assert "doomed" in detail and "ValueError" in detail and "Retry" in detail
    step = Step.objects.get(run=run, name="doomed")

    auditor = _client(console_users["auditor"])
    assert auditor.post(f"/staff/jobs/{run.pk}/steps/{step.pk}/retry").status_code == 403
    step.refresh_from_db()
    assert step.state == StepState.DEAD  # nothing changed

    resp = op.post(f"/staff/jobs/{run.pk}/steps/{step.pk}/retry")
    assert resp.status_code == 302
    step.refresh_from_db()
    assert (step.state, step.attempts) == (StepState.PENDING, 0)
    operator_id = console_users["operator"].pk
    assert Event.objects.filter(kind="step.retried", object_id=str(run.pk), actor=f"staff:{operator_id}").exists()


@pytest.mark.django_db
def test_recording_a_step_as_done_by_hand_needs_a_real_note(console_users):
    run = start([StepSpec("webhook", H + "always_fail", 1, max_attempts=1), StepSpec("next", H + "record", 2)])
    steps.advance(run.pk)
    step = Step.objects.get(run=run, name="webhook")
    op = _client(console_users["operator"])
    resp = op.post(f"/staff/jobs/{run.pk}/steps/{step.pk}/resolve", {"note": "meh"}, follow=True)
    assert "at least 10 characters" in resp.content.decode()
    step.refresh_from_db()
    assert step.state == StepState.DEAD
    op.post(f"/staff/jobs/{run.pk}/steps/{step.pk}/resolve", {"note": "Sent by registered post on 1 Dec"})
    step.refresh_from_db()
    assert step.state == StepState.DONE and step.resolution_note == "Sent by registered post on 1 Dec"
