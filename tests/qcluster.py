"""A real django-q2 ``qcluster`` process working on the test database, for fault tests (kill -9 a worker,
restart the cluster). PostgreSQL only: the test database must be visible to another process, and tests
using it must be ``django_db(transaction=True)`` so that what they write is committed.

    with QCluster(tmp_path) as cluster:
        ...                       # enqueue work; cluster.kill_worker(pid) / cluster.restart()
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parent.parent


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a real qcluster needs the test database on PostgreSQL (CI runs it there)")


def cluster_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a process that sees exactly what the test sees: its database, key ring, blobs."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dsr.settings",
        "DATABASE_URL": url,
        "DSR_KEYS": settings.DSR_KEYS,
        "DSR_DATA_DIR": str(data_dir),
        "DSR_BLOB_DIR": str(data_dir / "blobs"),
        "DSR_Q_WORKERS": "1",
        "DSR_Q_TIMEOUT": "60",
        "DSR_Q_RETRY": "90",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "PYTHONPATH": str(REPO),
    }
    for name in ("DSR_AUDIT_KEY", "DSR_AUDIT_SIGNING_KEY", "DSR_PSEUDONYM_KEY", "SECRET_KEY"):
        value = getattr(settings, name, None)
        if isinstance(value, str) and value:
            env[name] = value
    env.pop("DSR_TESTING", None)
    env.update(extra)
    return env


class QCluster:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.env = cluster_env(data_dir, **env)
        self.proc: subprocess.Popen | None = None
        self.log = data_dir / "qcluster.log"

    def start(self) -> QCluster:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=REPO, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def stop(self) -> None:
        """SIGTERM to the main process only (django-q2 hangs half-stopped if the group is signalled), then
        whatever is left of the group is killed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def kill_all(self) -> None:
        """The whole cluster dies at once (power cut, OOM killer): nothing gets to clean up."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @staticmethod
    def kill_worker(pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> QCluster:
        # Tasks must go through the broker to the cluster, not run inline in the test (conftest's default).
        from django_q.conf import Conf

        self._sync, Conf.SYNC = Conf.SYNC, False
        return self.start()

    def __exit__(self, *exc: object) -> None:
        from django_q.conf import Conf

        Conf.SYNC = self._sync
        self.stop()


def wait_for(predicate: Callable[[], object], timeout: float = 60, interval: float = 0.2, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
