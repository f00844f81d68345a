"""'Do you hold data on X?' by the clock (security.md): submitting and verifying take the same time whether dsr
knows the address or not, also with the mail server down — because the work that depends on it runs in a job.

Measured on the real request path (the request stores the filing and enqueues its id on django-q2's ORM broker;
nothing runs inline). Robust on a loaded 2-core machine: known and unknown requests alternate in ABBA order so
drift hits both alike, every sample uses a fresh address and a fresh browser, each request is timed five times
and its fastest run kept (waits for a CPU another process holds are not the code's time), the garbage collector is
paused while timing, the test process and its database backend ask the scheduler for priority when allowed, and
the median of the known/unknown time ratio over many side-by-side pairs must be within 10% of 1.
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time

import pytest
from django.test import Client
from django.utils import timezone

from dsr import portal, vault
from dsr.models import PortalFiling
from tests.portal_helpers import form

pytestmark = pytest.mark.django_db

SAMPLES = 48  # per group, after the warm-up
WARMUP = 4
REPEAT = 5


def _favour_this_measurement() -> None:
    """On a machine shared with other work, ask the scheduler to run this test process and its database backend
    first (best effort: only possible with the privilege to raise priorities; both are restored when they end)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()") if connection.vendor == "postgresql" else None
        backend = cur.fetchone()[0] if connection.vendor == "postgresql" else None
    for pid in (0, backend):
        if pid is None:
            continue
        with contextlib.suppress(PermissionError, ProcessLookupError, OSError):
            os.setpriority(os.PRIO_PROCESS, pid, -10)


def _relative_gap(a: list[float], b: list[float]) -> float:
    ma, mb = statistics.median(a), statistics.median(b)
    return abs(ma - mb) / min(ma, mb)


def test_submit_and_verify_take_the_same_time_for_known_and_unknown_addresses(
        settings, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr("django_q.conf.Conf.SYNC", False)  # the deployed path: the request only enqueues
    settings.EMAIL_BACKEND = "tests.portal_helpers.RaisingBackend"
    settings.DSR_RATE_LIMITS = {name: "1000000/3600" for name in settings.DSR_RATE_LIMITS}
    now = timezone.now()
    total = SAMPLES + WARMUP
    for i in range(total):
        vault.create_subject(actor="t", now=now, email=f"known{i}@example.com", account_id=f"acct-{i}")

    submit: dict[str, list[float]] = {"known": [], "unknown": []}
    verify: dict[str, list[float]] = {"known": [], "unknown": []}
    _favour_this_measurement()
    browsers = {who: [Client() for _ in range(total)] for who in ("known", "unknown")}
    gc.collect()
    gc.disable()
    try:
        for i in range(total):
            # ABBA inside each sample and across samples; each request is timed REPEAT times and the fastest kept,
            # which strips the waits for a CPU that another process holds (the machine has 2 shared cores).
            order = ("known", "unknown", "unknown", "known") if i % 2 else ("unknown", "known", "known", "unknown")
            best = {("submit", w): float("inf") for w in ("known", "unknown")}
            best |= {("verify", w): float("inf") for w in ("known", "unknown")}
            for rep in range(REPEAT):
                for who in order[:2] if rep % 2 == 0 else order[2:]:
                    client = browsers[who][i]
                    data = form(email=f"{who}{i}@example.com", details=f"please send everything ({rep})")
                    t0 = time.perf_counter()
                    with django_capture_on_commit_callbacks(execute=True):
                        response = client.post("/", data)
                    best["submit", who] = min(best["submit", who], time.perf_counter() - t0)
                    assert response.status_code == 303
            for who in ("known", "unknown"):
                # What the worker does later (not timed): find the subject, file the case, send the code.
                filing_id = browsers[who][i].session["portal_filing"]
                assert PortalFiling.objects.get(pk=filing_id).email == f"{who}{i}@example.com"
                portal.process_filing(filing_id, now=timezone.now())
            for rep in range(REPEAT):
                for who in order[:2] if rep % 2 == 0 else order[2:]:
                    t0 = time.perf_counter()
                    refused = browsers[who][i].post("/confirm/", {"code": "12345"})  # never valid (5 digits)
                    best["verify", who] = min(best["verify", who], time.perf_counter() - t0)
                    assert refused.status_code == 400
            if i >= WARMUP:
                for (step, who), value in best.items():
                    (submit if step == "submit" else verify)[who].append(value)
    finally:
        gc.enable()
    gaps = {"submit": _relative_gap(submit["known"], submit["unknown"]),
            "verify": _relative_gap(verify["known"], verify["unknown"])}
    medians = {f"{step} {who}": f"{statistics.median(d[who]) * 1000:.2f} ms"
               for step, d in (("submit", submit), ("verify", verify)) for who in d}
    paired = {step: abs(statistics.median(k / u for k, u in zip(d["known"], d["unknown"], strict=True)) - 1)
              for step, d in (("submit", submit), ("verify", verify))}
    print(f"medians: {medians}; relative gaps: {gaps}; paired: {paired}")
    # Asserted on the pairs: each known request is compared with the unknown one timed beside it, so the load of
    # the moment cancels out. (The unpaired medians are printed too; with both groups made of unknown addresses —
    # a control run — they drift apart by up to ~10% on this machine under a load average of 8, which is noise.)
    assert paired["submit"] < 0.10, (paired, gaps, medians)
    assert paired["verify"] < 0.10, (paired, gaps, medians)
