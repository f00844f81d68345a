"""Physically removing old wrapped keys from the live database files (issue 7 §1; security.md
"Crypto-shredding pitfalls").

Blanking ``SubjectKey.wrapped`` is not enough on its own: the old value stays in the database files.
SQLite keeps the old page in the write-ahead log (and, without ``secure_delete``, in the freed space of the
main file); PostgreSQL's MVCC keeps the old row version as a dead tuple, and a plain VACUUM, which only
marks that space free, leaves its bytes in the page (measured: README "Crypto-shredding"). So after a shred
(or a rotation, which leaves wraps under the old ring key behind) this module:

* SQLite: relies on ``PRAGMA secure_delete=ON`` (every connection, settings.py), which zeroes freed
  content, and runs ``PRAGMA wal_checkpoint(TRUNCATE)`` so the WAL that held the old page is emptied.
* PostgreSQL: ``VACUUM FULL`` on the small dedicated key table, which rewrites it into a new file and drops
  the old one (at the next checkpoint). It takes an ACCESS EXCLUSIVE lock on that table for the rewrite
  (every key read waits), so it runs with a lock timeout and is retried by the reconciler schedule rather
  than queueing forever; and it is repeated until PostgreSQL reports that it carried no dead row over.

Rows are cleared of ``purge_pending`` only after the purge succeeded, so a killed or refused run is simply
done again by the next job or the hourly reconciler.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from django.db import connection, transaction
from django.db.utils import OperationalError

from dsr import audit
from dsr.models import SubjectKey

LOCK_TIMEOUT = "5s"
_KEPT_DEAD = re.compile(r"(\d+) dead row versions cannot be removed yet")


class PurgeDeferred(Exception):
    """The purge could not run now (inside a transaction, a lock not granted, readers on the WAL)."""


def purge_old_key_bytes(*, actor: str, now: datetime) -> int:
    """Make the old bytes of every key marked ``purge_pending`` unreachable in the live database files.

    Returns how many key rows were purged (0 when none were pending). Raises PurgeDeferred when the
    database refused to do it now; nothing is marked done then."""
    pending = list(SubjectKey.objects.filter(purge_pending=True).values_list("subject_id", flat=True))
    if not pending:
        return 0
    if connection.in_atomic_block:
        # VACUUM cannot run in a transaction, and a checkpoint would not see uncommitted pages anyway.
        raise PurgeDeferred("the key purge must run outside a transaction")
    if connection.vendor == "postgresql":
        _vacuum_full_postgresql()
    elif connection.vendor == "sqlite":
        _checkpoint_sqlite()
    with transaction.atomic():
        done = SubjectKey.objects.filter(subject_id__in=pending, purge_pending=True).update(purge_pending=False)
        audit.record("keystore.purged", actor=actor, now=now, object_type="keystore",
                     object_id=SubjectKey._meta.db_table, data={"keys": done})
    return done


def _vacuum_full_postgresql(attempts: int = 5, pause: float = 1.0) -> None:
    """VACUUM FULL the key table until it kept no dead row version.

    VACUUM FULL still copies a dead row that some open transaction in the database might see ("recently
    dead": a long report, an autovacuum ANALYZE that started before the shred). PostgreSQL says so in its
    VERBOSE report, so that report is read, and the rewrite is repeated briefly, then deferred to the
    reconciler: the purge is only marked done once no old version was carried into the new file."""
    table = connection.ops.quote_name(SubjectKey._meta.db_table)
    kept: list[int] = []

    def on_notice(diag) -> None:  # psycopg 3 diagnostic
        match = _KEPT_DEAD.search(diag.message_detail or "")
        if match:
            kept.append(int(match.group(1)))

    connection.ensure_connection()
    raw = connection.connection
    raw.add_notice_handler(on_notice)
    try:
        with connection.cursor() as cur:
            cur.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            try:
                for attempt in range(attempts):
                    kept.clear()
                    try:
                        cur.execute(f"VACUUM (FULL, VERBOSE) {table}")
                    except OperationalError as exc:  # lock_not_available: a long transaction holds the table
                        raise PurgeDeferred("the key table is busy; the reconciler will retry") from exc
                    if kept and not any(kept):
                        return
                    if not kept:
                        raise PurgeDeferred("could not read VACUUM's report (lc_messages must be English or C)")
                    if attempt + 1 < attempts:
                        time.sleep(pause)
                raise PurgeDeferred(f"{max(kept)} old row version(s) of the key table are still visible to an "
                                    "open transaction; the reconciler will retry")
            finally:
                cur.execute("RESET lock_timeout")
    finally:
        raw.remove_notice_handler(on_notice)


def _checkpoint_sqlite() -> None:
    with connection.cursor() as cur:
        cur.execute("PRAGMA secure_delete")
        if not cur.fetchone()[0]:
            raise PurgeDeferred("SQLite secure_delete is off on this connection (settings.py turns it on)")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _log, _done = cur.fetchone()
    if busy:
        raise PurgeDeferred("readers kept the SQLite WAL from being truncated; the reconciler will retry")
