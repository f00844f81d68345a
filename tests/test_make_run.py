"""`make run` on a fresh data directory: demo data, a web server that answers, a worker that executes tasks,
and nothing left running once it is stopped."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from picklefield.fields import dbsafe_decode

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

_INHERITED = (
    "DSR_", "DATABASE_URL", "DB_CONN_", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "EMAIL_", "STATIC_ROOT",
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTEST_", "PORT", "HOST",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_members(sid: int) -> list[int]:
    """Every process still in the session `make run` was started in (orphans included)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback only
            return resp.status
    except (urllib.error.URLError, OSError):
        return None


def _stop(proc: subprocess.Popen, timeout: float = 30) -> list[str]:
    """SIGTERM the process group, as a supervisor would; SIGKILL whatever is left after `timeout`
    (`make run` itself kills a stuck worker after 20 s). Returns the processes that had to be killed."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()  # reap make itself
        if proc.returncode is not None and not _session_members(proc.pid):
            return []
        time.sleep(0.2)
    stragglers = _session_members(proc.pid)
    described = []
    for pid in stragglers:
        with contextlib.suppress(OSError):
            described.append(f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return described


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find leftover processes")
def test_make_run_serves_the_console_with_demo_data_and_a_working_qcluster_and_stops_cleanly(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED)}
    env.update(DSR_DATA_DIR=str(tmp_path), STATIC_ROOT=str(tmp_path / "static"), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "make-run.log"
    # The first run after a change to pyproject.toml installs the venv first: allow for that.
    dry_run = subprocess.run(["make", "-n", "run"], cwd=REPO, env=env, capture_output=True, text=True)
    installs = "pip install" in dry_run.stdout

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["make", "run", "HOST=127.0.0.1", f"PORT={port}"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    stragglers: list[str] = []
    try:
        deadline = time.monotonic() + (600 if installs else 90)
        login = f"http://127.0.0.1:{port}/staff/login/"
        while _get(login) != 200:
            assert proc.poll() is None, "make run exited early:\n" + log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, "no answer on " + login + ":\n" + log_path.read_text()[-4000:]
            time.sleep(0.5)

        output = log_path.read_text()
        assert f"http://127.0.0.1:{port}/staff/" in output
        assert "operator / operator-demo-pass" in output

        db_path = tmp_path / "dsr.sqlite3"
        with sqlite3.connect(db_path, timeout=20) as db:
            assert db.execute("SELECT COUNT(*) FROM dsr_subject").fetchone()[0] >= 5
            assert db.execute("SELECT COUNT(*) FROM dsr_dataitem").fetchone()[0] > 10
            assert db.execute("SELECT func FROM django_q_schedule WHERE name = 'dsr.purge_expired'").fetchone() \
                == ("dsr.jobs.purge_expired",)
        assert (tmp_path / "keyring").is_file()  # the development key ring, in the fresh data directory

        # Enqueue a task through the ORM broker from another process; only a live worker can run it.
        enqueue = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from django_q.tasks import async_task; print(async_task('math.floor', 2.5))"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )
        assert enqueue.returncode == 0, enqueue.stderr
        task_id = enqueue.stdout.strip().splitlines()[-1]
        assert re.fullmatch(r"[0-9a-f]{32}", task_id), enqueue.stdout

        row = None
        deadline = time.monotonic() + 60
        while row is None and time.monotonic() < deadline:
            with sqlite3.connect(db_path, timeout=20) as db:
                row = db.execute("SELECT success, func, result FROM django_q_task WHERE id = ?",
                                 [task_id]).fetchone()
            if row is None:
                time.sleep(0.5)
        assert row is not None, "the qcluster worker never ran the task:\n" + log_path.read_text()[-4000:]
        success, func, result = row
        assert success == 1 and func == "math.floor"
        assert dbsafe_decode(result) == 2  # the result math.floor(2.5) computed in the worker
    finally:
        stragglers = _stop(proc)

    assert stragglers == [], f"processes survived SIGTERM: {stragglers}\n" + log_path.read_text()[-4000:]
    assert _get(f"http://127.0.0.1:{port}/staff/login/") is None
