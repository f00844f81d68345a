"""The acceptance test of issue 12's notices: a real qcluster sending 10,000 breach notices is killed (SIGKILL, the
whole cluster) when about half have gone out, then restarted; in the end every affected person has exactly one
message among those actually delivered (Django's file backend in a temporary folder plays the mail provider:
a message counts once it was written whole)."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
from django.utils import timezone

from dsr import breach_notices, steps
from dsr.breach_notices import notice_progress, start_subject_notices
from dsr.models import OutboundMessage, StepRun
from dsr.models.breaches import BreachAffected
from tests import breach_kit
from tests.qcluster import QCluster, require_postgres, wait_for

PEOPLE = 10_000
SEPARATOR = b"\n" + b"-" * 79 + b"\n"
TO = re.compile(rb"^To: (.+?)\r?$", re.MULTILINE)


def delivered(outbox: Path) -> tuple[Counter[str], int]:
    """Messages written whole, per recipient; and how many were cut short by the kill (not delivered)."""
    per_person: Counter[str] = Counter()
    partial = 0
    for path in sorted(outbox.glob("*.log")):
        *complete, tail = path.read_bytes().split(SEPARATOR)
        partial += bool(tail.strip())
        for chunk in complete:
            (to,) = TO.findall(chunk)
            per_person[to.decode()] += 1
    return per_person, partial


@pytest.mark.django_db(transaction=True)  # seed data is put back by tests/conftest.py
def test_a_qcluster_killed_halfway_through_10000_notices_restarts_and_tells_everyone_exactly_once(tmp_path: Path):
    require_postgres()
    b = breach_kit.breach()
    breach_kit.affect(b, PEOPLE // 2, residence="IE", prefix="ie")
    breach_kit.affect(b, PEOPLE * 3 // 10, residence="DE", prefix="de")
    breach_kit.affect(b, PEOPLE - PEOPLE // 2 - PEOPLE * 3 // 10, residence="US-CA", prefix="ca")
    outbox = tmp_path / "outbox-files"  # the child's EMAIL_FILE_PATH (DSR_DATA_DIR/outbox-files)
    env = {"DSR_STEP_LEASE_SECONDS": "3", "DSR_STEP_SLICE_SECONDS": "20", "DSR_STEP_BACKOFF_SECONDS": "1",
           "DSR_BREACH_NOTICE_RATE": "0", "DSR_BREACH_NOTICE_BATCH": "500"}

    def sent() -> int:
        return BreachAffected.objects.filter(breach=b, notice_state=BreachAffected.NoticeState.SENT).count()

    def in_flight() -> int:
        return OutboundMessage.objects.filter(template="breach_notice", sent_at__isnull=True,
                                              last_error=breach_notices.IN_FLIGHT).count()

    with QCluster(tmp_path, **env) as cluster:
        started = time.monotonic()
        run = start_subject_notices(b, actor="test", now=timezone.now())
        # Kill in the middle of a group being sent (not between batches, while the next one is claimed).
        wait_for(lambda: sent() >= PEOPLE * 45 // 100 and in_flight(), timeout=75, interval=0.02,
                 what="about half the notices, with a group being sent")
        cluster.kill_all()  # SIGKILL: no handler, no cleanup, a send may be cut anywhere
        first = time.monotonic() - started
        at_kill, doubtful = sent(), in_flight()
        assert PEOPLE * 40 // 100 <= at_kill <= PEOPLE * 60 // 100
        assert 0 < doubtful <= 20  # one group (DSR_BREACH_NOTICE_GROUP) in flight, whatever got out of it
        restarted = time.monotonic()
        cluster.start()

        def reconciled_and_done() -> bool:
            steps.reconcile(timezone.now())
            return StepRun.objects.get(pk=run.pk).state == "done"

        wait_for(reconciled_and_done, timeout=90, interval=0.5, what="the notices to finish after the restart")
        rest = time.monotonic() - restarted

    per_person, partial = delivered(outbox)
    everyone = set(BreachAffected.objects.filter(breach=b).values_list("subject__email", flat=True))
    assert len(everyone) == PEOPLE
    assert set(per_person) == everyone  # nobody missed …
    assert set(per_person.values()) == {1}  # … and nobody told twice
    assert partial <= 1
    progress = notice_progress(b)
    assert progress["sent"] == PEOPLE and progress["pending"] == 0 and progress["failed"] == 0
    settled = sum(s.evidence.get("in_doubt_sent", 0) for s in StepRun.objects.get(pk=run.pk).steps.all())
    assert settled <= doubtful  # the in-flight group was settled by the ledger, not sent blindly again
    print(f"\nkilled after {first:.1f} s at {at_kill} recorded as sent, {doubtful} in flight ({settled} of them "
          f"found delivered by the ledger, {partial} cut short); the other {PEOPLE - at_kill} after the restart in "
          f"{rest:.1f} s including start-up and the 3 s lease (~{(PEOPLE - at_kill) / rest * 60:,.0f} "
          f"notices/minute; before the kill ~{at_kill / first * 60:,.0f}/minute)")
