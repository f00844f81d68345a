"""Blob storage that misbehaves on command, for fault tests with a real qcluster (DSR_BLOB_BACKEND points here).

Control files in DSR_FAULT_DIR steer every process that deletes a blob:
  stall       the next delete writes its pid (and its database backend pid) to ``stalled`` and waits until
              ``release`` appears (or forever: the test kills the worker). Taken by one process only.
  fail_after  holds N: N more deletes succeed, then every delete raises OSError until the file is removed.
  slow        every delete sleeps that many seconds first.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from django.core.files.storage import FileSystemStorage


def _ctl() -> Path:
    return Path(os.environ["DSR_FAULT_DIR"])


class FaultyStorage(FileSystemStorage):
    def delete(self, name: str) -> None:
        ctl = _ctl()
        slow = ctl / "slow"
        if slow.exists():
            time.sleep(float(slow.read_text() or 0))
        stall = ctl / "stall"
        claimed = ctl / f"stall.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(stall, claimed)  # atomic: one process takes the stall
            backend = _backend_pid()
            (ctl / "stalled.tmp").write_text(f"{os.getpid()} {backend}")
            os.rename(ctl / "stalled.tmp", ctl / "stalled")
            while not (ctl / "release").exists():
                time.sleep(0.05)
            os.unlink(ctl / "release")
        fail = ctl / "fail_after"
        if fail.exists():
            left = int(fail.read_text() or 0)
            if left <= 0:
                raise OSError("storage unavailable (injected)")
            fail.write_text(str(left - 1))
        super().delete(name)


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]
