"""Step handlers used by the step-runner tests (a real handler is any importable function ``fn(ctx)``)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from dsr import audit
from dsr.steps import Deferred, StepContext, StepError


def record(ctx: StepContext) -> dict:
    """The effect that must happen exactly once: an audit event written inside the fence."""
    with ctx.fenced():
        audit.record("test.step_effect", actor="test", now=ctx.now, object_type="run", object_id=ctx.run.pk,
                     data={"step": ctx.step.name})
    return {"effects": 1}


def fail_until(ctx: StepContext) -> dict:
    if ctx.attempt < ctx.params["succeed_on"]:
        raise StepError(f"attempt {ctx.attempt} failed on purpose")
    return record(ctx)


def always_fail(ctx: StepContext) -> dict:
    # A library error whose message carries personal data: it must not be stored.
    raise ValueError("could not reach jane.doe@example.com at /srv/photos/jane.jpg")


def slow(ctx: StepContext) -> dict:
    """Announce the worker's pid, then take a while: the test kills the worker in the middle."""
    Path(ctx.params["marker"]).write_text(str(os.getpid()))
    deadline = time.monotonic() + ctx.params.get("seconds", 30)
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return record(ctx)


def wait_an_hour(ctx: StepContext) -> dict:
    if not ctx.params.get("ready"):
        raise Deferred(ctx.now + timedelta(hours=1), "waiting for the recipient")
    return record(ctx)
