#!/usr/bin/env python
"""Breach scoping benchmark (issue 12): scope an incident against a vault of 1,000,000 people and 10,000,000 items
on PostgreSQL.

    .venv/bin/python bench/breach.py                      # full size (seeding ~5-8 min on 2 cores, ~6 GB of disk)
    .venv/bin/python bench/breach.py --keep               # keep the seeded database for EXPLAIN ANALYZE
    .venv/bin/python bench/breach.py --reuse              # time against a database kept by --keep (no seeding)
    .venv/bin/python bench/breach.py --reuse --scope-only # the scoping figures only
    .venv/bin/python bench/breach.py --subjects 100000 --items 1000000   # a quicker look

It creates its own database (``dsr_bench_breach`` on the server of ``BENCH_PG`` or ``DATABASE_URL``, default
postgres://postgres@127.0.0.1:5432/postgres), migrates it, and seeds it in set-based SQL (INSERT … SELECT over
generate_series, deterministic: every pseudo-random choice is a slice of an md5 of the row number):

* people: residence DE 25 %, FR 15 %, GB 10 %, US-CA 10 %, US-NY 5 %, BR 5 %, ES 5 %, IT 5 %, NL 5 %, unknown 15 %;
* items: photo 30 %, face embedding 20 %, thumbnail 20 %, generated video 5 %, upload metadata 10 %, IP log 10 %,
  account profile / preferences / consent record 5 %; created uniformly over the two years before
  2026-11-30; purged by the register's retention (embeddings after 30 days, thumbnails and IP logs 90, upload
  metadata 180, videos 365; 85 % of photos a day after their first derivative), the rest still held;
* holdings: one owner per item, plus a second person on every video and on 10 % of photos;
* content is **dummy**: blob items carry a blob name but no file, inline items one sealed byte; no data keys.
  Scoping reads only categories, dates, storage columns and holdings, so this does not change what is measured.

Indexes, keys and the foreign keys from and to the seeded tables are dropped during the load and rebuilt after it (as
a bulk load would), then the tables are vacuumed and analysed. Then, with dsr's own code (``dsr.breach_scope``):

* scoping time, median of ``--runs`` runs (goal < 300 ms): a realistic incident (face embeddings in the database
  over a two-week window) and a broad one (every photo ever held, any system);
* the time to queue every affected person's notice: ``store_scope`` (the INSERT … SELECT of the BreachAffected
  rows) then ``dsr.breach_notices.start_subject_notices`` (pending, and a step run of one step per batch);
* the notice throughput per minute: the realistic incident's run driven by the step runner
  (``dsr.steps.advance``) in this process for ``--send-seconds`` with the in-memory e-mail backend and no pacing
  (DSR_BREACH_NOTICE_RATE=0 unless set), i.e. what the sender itself can do; production paces to the provider.
"""

from __future__ import annotations

import os
import sys

# bench/queue.py would shadow the standard library's queue module (see bench/ingest.py).
sys.path.sort(key=lambda entry: os.path.abspath(entry or os.curdir) == os.path.dirname(os.path.abspath(__file__)))

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("BENCH_PG") or os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
DB = "dsr_bench_breach"
GOAL_MS = 300.0
END = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
SEED_TABLES = ("dsr_subject", "dsr_dataitem", "dsr_holding")

RESIDENCES = [("DE", 25), ("FR", 15), ("GB", 10), ("US-CA", 10), ("US-NY", 5), ("BR", 5), ("ES", 5), ("IT", 5),
              ("NL", 5), ("", 15)]
# category, purpose, share %, retention days (None: kept), content in a blob, plaintext size
CATEGORIES = [
    ("photo", "photo_generation", 30, 1, True, 2_500_000),
    ("face_embedding", "face_matching", 20, 30, False, 2048),
    ("thumbnail", "photo_generation", 20, 90, True, 20_000),
    ("generated_video", "photo_generation", 5, 365, True, 8_000_000),
    ("upload_metadata", "service_delivery", 10, 180, False, 300),
    ("ip_log", "security", 10, 90, False, 80),
    ("account_profile", "service_delivery", 2, None, False, 200),
    ("preferences", "service_delivery", 2, None, False, 100),
    ("consent_record", "consent_records", 1, None, False, 150),
]


def rnd(col: str, part: int) -> str:
    """A uniform 32-bit number from the ``part``-th 8 hex digits of the md5 in column ``col``."""
    return f"('x' || lpad(substr({col}, {1 + 8 * part}, 8), 16, '0'))::bit(64)::bigint"


def seed(conn: psycopg.Connection, n_subjects: int, n_items: int, chunk: int) -> dict[str, float]:
    times: dict[str, float] = {}
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET max_parallel_maintenance_workers = 2")
    conn.execute("SET synchronous_commit = off")
    # What to rebuild after the load (as a bulk load would): every index not backing a constraint, the primary
    # and unique keys of the seeded tables, and every foreign key from or to them. Random uuid keys inserted
    # into live btrees cost several times more than building the btrees once at the end.
    regs = [f"'{t}'::regclass" for t in SEED_TABLES]
    indexes = conn.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
        [list(SEED_TABLES)]).fetchall()
    fks = conn.execute(
        f"""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE contype = 'f' AND (conrelid IN ({', '.join(regs)}) OR confrelid IN ({', '.join(regs)}))""").fetchall()
    keys = conn.execute(
        f"""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE contype IN ('p', 'u') AND conrelid IN ({', '.join(regs)})""").fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    for table, name, _ in fks + keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')

    res_cases, lo = [], 0
    for code, share in RESIDENCES:
        res_cases.append(f"WHEN r < {lo + share} THEN '{code}'")
        lo += share
    t0 = time.perf_counter()
    conn.execute(f"""
        INSERT INTO dsr_subject (id, kind, email, account_id, residence, reference, created_at)
        SELECT md5('subj' || g)::uuid, 'account_holder', 'person' || g || '@bench.example', NULL,
               CASE {' '.join(res_cases)} END, 'sub_bench_' || g, %s - mod(g, 900) * interval '1 day'
        FROM (SELECT g, mod({rnd("md5('res' || g)", 0)}, 100) AS r FROM generate_series(1, %s) g) s
    """, [END - timedelta(days=800), n_subjects])
    times["subjects"] = time.perf_counter() - t0

    conn.execute("CREATE TEMP TABLE bucket (b int PRIMARY KEY, category text, purpose text, keep_days int, "
                  "in_blob bool, size bigint)")
    b = 0
    for category, purpose, share, keep, in_blob, size in CATEGORIES:
        for _ in range(share):
            conn.execute("INSERT INTO bucket VALUES (%s, %s, %s, %s, %s, %s)", [b, category, purpose, keep, in_blob,
                                                                                size])
            b += 1
    assert b == 100
    span = 730 * 86400
    t0 = time.perf_counter()
    for start in range(1, n_items + 1, chunk):
        stop = min(start + chunk - 1, n_items)
        # One pass over the rows: the items and their holdings come from the same generated rows.
        conn.execute(f"""
            CREATE TEMP TABLE src AS
            SELECT q.*, CASE WHEN derived AND created + keep_days * interval '1 day' < %(end)s
                             THEN created + keep_days * interval '1 day' END AS purged
            FROM (
            SELECT g, md5('item' || g)::uuid AS id, k.category, k.purpose, k.in_blob, k.size,
                   %(end)s - mod({rnd('h', 1)}, {span}) * interval '1 second' AS created,
                   k.keep_days, mod({rnd('h', 2)}, %(s)s) + 1 AS owner, mod({rnd('h', 3)}, %(s)s) + 1 AS other,
                   (k.category = 'generated_video' OR (k.category = 'photo' AND mod({rnd('h', 3)} / 7, 10) = 0)) AS two,
                   (k.category <> 'photo' OR mod({rnd('h', 0)} / 100, 100) < 85) AS derived
            FROM (SELECT g, md5(g::text) AS h FROM generate_series(%(a)s::bigint, %(z)s::bigint) g) x
            JOIN bucket k ON k.b = mod({rnd('h', 0)}, 100)
            ) q
        """, {"end": END, "s": n_subjects, "a": start, "z": stop})
        conn.execute("""
            INSERT INTO dsr_dataitem (id, category, purpose, created_at, expires_at, purged_at, legal_hold, blob_name,
                                      sealed_inline, content_type, size, stored_size, key_version, sealed_meta)
            SELECT id, category, purpose, created, created + keep_days * interval '1 day', purged, false,
                   CASE WHEN in_blob AND purged IS NULL THEN 'bench/' || g ELSE '' END,
                   CASE WHEN NOT in_blob AND purged IS NULL THEN '\\x00'::bytea END,
                   'application/octet-stream', size, size + 16 + 12 * (size / 262144 + 1), 1,
                   CASE WHEN purged IS NULL THEN '\\x00'::bytea END
            FROM src
        """)
        # Each holding carries its item's facts and its person's residence (models.Holding item_*,
        # subject_residence; the owner is the item's first holder), as vault.store_item writes them.
        conn.execute("""
            INSERT INTO dsr_holding (item_id, subject_id, role, item_category, item_purpose, item_in_blob,
                                     item_created_at, item_purged_at, subject_residence, item_first)
            SELECT x.id, x.sid, x.role, x.category, x.purpose, x.in_blob, x.created, x.purged, s.residence,
                   x.role = 'owner'
            FROM (SELECT id, md5('subj' || owner)::uuid AS sid, 'owner' AS role, category, purpose, in_blob, created,
                         purged FROM src
                  UNION ALL
                  SELECT id, md5('subj' || other)::uuid, 'depicted', category, purpose, in_blob, created, purged
                  FROM src WHERE two AND other <> owner) x
            JOIN dsr_subject s ON s.id = x.sid
        """)
        conn.execute("DROP TABLE src")
        done = stop
        print(f"  seeded {done:,} items ({time.perf_counter() - t0:.0f} s)", flush=True)
    times["items+holdings"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for table, name, ddl in keys:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
    times["keys"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for table, name, ddl in fks:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
    times["foreign keys"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _, ddl in indexes:
        conn.execute(ddl)
    times["indexes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute("VACUUM (ANALYZE) dsr_subject")
    conn.execute("VACUUM (ANALYZE) dsr_dataitem")
    conn.execute("VACUUM (ANALYZE) dsr_holding")
    times["vacuum analyze"] = time.perf_counter() - t0
    return times


def median_ms(fn, runs: int) -> tuple[float, list[float], object]:
    out, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out), out, result


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def verdict(ms: float) -> str:
    return "PASS" if ms < GOAL_MS else "MISS"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--send-seconds", type=float, default=60, help="how long the notice sender runs")
    ap.add_argument("--db", default=DB, help=f"database name (default {DB}; dropped first unless --reuse)")
    ap.add_argument("--keep", action="store_true", help="keep the database at the end")
    ap.add_argument("--reuse", action="store_true", help="use a database kept by --keep; no seeding")
    ap.add_argument("--scope-only", action="store_true", help="time the scoping only (no notices queued or sent)")
    args = ap.parse_args()
    db = args.db
    server = ADMIN.rsplit("/", 1)[0]
    admin_url = server + "/postgres"
    if not args.reuse:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
            admin.execute(f'CREATE DATABASE "{db}"')
    data_dir = Path(tempfile.mkdtemp(prefix="dsr-bench-breach-"))
    os.environ.update({
        "DATABASE_URL": f"{server}/{db}", "DSR_DATA_DIR": str(data_dir), "DSR_Q_SYNC": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DJANGO_SETTINGS_MODULE": "dsr.settings", "LOG_LEVEL": "WARNING",
        "DSR_BREACH_NOTICE_RATE": os.environ.get("DSR_BREACH_NOTICE_RATE", "0"),
    })
    sys.path.insert(0, str(REPO))
    try:
        return run(args, f"{server}/{db}")
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
        else:
            print(f"kept database {db}")


def run(args: argparse.Namespace, url: str) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    print(f"load average at start: {loadavg()} on {os.cpu_count()} cores (shared)")
    if args.reuse:
        t0 = time.perf_counter()
        call_command("migrate", verbosity=0)  # a kept database may predate the scoping indexes
        print(f"migrate (reuse): {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) dsr_dataitem")
            cur.execute("VACUUM (ANALYZE) dsr_subject")
            cur.execute("VACUUM (ANALYZE) dsr_holding")  # after migration 0023's fill rewrote every holding
        print(f"vacuum analyze (reuse): {time.perf_counter() - t0:.0f} s")
    else:
        call_command("migrate", verbosity=0)
        print(f"seeding {args.subjects:,} people and {args.items:,} items (dummy content) …", flush=True)
        t0 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            parts = seed(conn, args.subjects, args.items, args.chunk)
        total = time.perf_counter() - t0
        print(f"seeding: {total:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in parts.items()) + ")")

    from dsr import breach_scope
    from dsr.models import Breach, BreachAffected, DataItem, Holding, Subject

    with connection.cursor() as cur:
        cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cur.fetchone()[0]
    n_sub = Subject.objects.count()
    n_items = DataItem.objects.count()
    n_hold = Holding.objects.count()
    print(f"vault: {n_sub:,} people, {n_items:,} items, {n_hold:,} holdings; database {size}; "
          f"PostgreSQL {connection.pg_version // 10000}")
    Breach.objects.filter(reference__startswith="BR-BENCH-").delete()

    def breach(ref: str, **kw) -> Breach:
        fields = dict(reference=ref, title="bench", description="bench", opened_by="bench", created_at=END,
                      detected_at=END, aware_at=END, aware_basis="bench", aware_by="bench",
                      types=["confidentiality"])
        fields.update(kw)
        return Breach.objects.create(**fields)

    realistic = breach("BR-BENCH-0001", categories=["face_embedding"], systems=["database"],
                       occurred_from=datetime(2026, 11, 2, tzinfo=UTC),
                       occurred_until=datetime(2026, 11, 16, tzinfo=UTC))
    broad = breach("BR-BENCH-0002", categories=["photo"], systems=[])
    # Several categories take the other SQL path (breach_scope._count): people grouped per category, then again.
    two = breach("BR-BENCH-0003", categories=["face_embedding", "photo"], systems=["database"],
                 occurred_from=datetime(2026, 11, 2, tzinfo=UTC), occurred_until=datetime(2026, 11, 16, tzinfo=UTC))

    def scope(b: Breach):
        with transaction.atomic():
            return breach_scope.compute_scope(b)

    misses = 0
    for label, b in (("realistic: face embeddings, database, 2-week window", realistic),
                     ("two categories: face embeddings and photos, database, same window", two),
                     ("broad: every photo ever, any system", broad)):
        scope(b)  # warm the cache once, as an operator's second look would
        runs = args.runs if b is realistic else min(args.runs, 3)
        med, all_ms, result = median_ms(lambda b=b: scope(b), runs)
        misses += med >= GOAL_MS and b is realistic
        print(f"scope {label}: median {med:.0f} ms over {runs} runs "
              f"(min {min(all_ms):.0f}, max {max(all_ms):.0f}) — {result.subjects:,} people, {result.items:,} items; "
              + (f"goal < {GOAL_MS:.0f} ms: {verdict(med)}" if b is realistic else "for scale (the goal is the "
                 "realistic one's)"))
        print(f"  per category {result.counts['categories']}")
        print(f"  per jurisdiction {result.counts['jurisdictions']}")
        print(f"  Art. 34(3)(a): {result.art34_3_a} — {result.reason}")

    if args.scope_only:
        return 1 if misses else 0

    from dsr import breach_notices

    sender = None
    for label, b in (("realistic", realistic), ("broad", broad)):
        now = END + timedelta(hours=1)
        # Notices are due: a high risk, no Art. 34(3) exception (the keys were exposed in this scenario).
        Breach.objects.filter(pk=b.pk).update(risk_level="high", high_risk_determined_at=now, keys_exposed=True)
        b.refresh_from_db()
        t0 = time.perf_counter()
        result = breach_scope.store_scope(b, actor="bench", now=now)
        t_store = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = breach_notices.start_subject_notices(b, actor="bench", now=now)
        sender = sender or (b, run)
        how = "dsr.breach_notices.start_subject_notices"
        t_queue = time.perf_counter() - t0
        pending = BreachAffected.objects.filter(breach=b, in_scope=True, notice_state="pending").count()
        print(f"queue notices ({label}, {result.subjects:,} people, {pending:,} pending): store_scope "
              f"{t_store:.2f} s (INSERT … SELECT of the BreachAffected rows, counts, audit) + queue {t_queue:.2f} s "
              f"= {t_store + t_queue:.2f} s  [{how}]")
        t0 = time.perf_counter()
        breach_scope.store_scope(b, actor="bench", now=now + timedelta(minutes=5))
        print(f"  identical re-scope ({label}): {time.perf_counter() - t0:.2f} s, "
              f"version {Breach.objects.get(pk=b.pk).scope_version} (unchanged)")
    if sender is not None:  # the first (realistic) breach's run
        from django.core import mail

        from dsr import steps

        b, run = sender
        mail.outbox = []
        t0 = time.perf_counter()
        steps.advance(run.pk, max_seconds=args.send_seconds)
        elapsed = time.perf_counter() - t0
        sent = BreachAffected.objects.filter(breach=b, notice_state="sent").count()
        rate = os.environ["DSR_BREACH_NOTICE_RATE"]
        paced = " = unpaced, the sender's own capacity" if rate == "0" else ""
        print(f"notice throughput: {sent:,} notices sent in {elapsed:.0f} s = {sent / elapsed * 60:,.0f} per minute "
              f"(DSR_BREACH_NOTICE_RATE={rate}{paced}; batches of {os.environ.get('DSR_BREACH_NOTICE_BATCH', '500')}; "
              f"locmem e-mail backend, {len(mail.outbox):,} messages in its outbox; production paces to the "
              "provider's limit, default 600/min)")
    print(f"load average at end: {loadavg()}")
    print("reproduce: .venv/bin/python bench/breach.py   (BENCH_PG or DATABASE_URL names the server; --keep/--reuse)")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
