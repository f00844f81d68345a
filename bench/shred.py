"""How long the key purge's VACUUM FULL locks the key table, by number of subjects (issue 7 §1).

Creates a scratch PostgreSQL database (dsr_bench_shred), a table shaped like dsr_subjectkey (uuid key,
~95-character wrapped key, ring key id, three timestamps, the purge flag, the same indexes), fills it with N
rows, blanks 1% of the keys (the shreds) and times `VACUUM (FULL)`: the time every key read would wait.

    .venv/bin/python bench/shred.py [N ...]      (default 100000 1000000; needs a local PostgreSQL)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# bench/queue.py would shadow the standard library's queue module that psycopg imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import psycopg  # noqa: E402

ADMIN = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
DB = "dsr_bench_shred"


def main(sizes: list[int]) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    url = ADMIN.rsplit("/", 1)[0] + "/" + DB
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for n in sizes:
                conn.execute("DROP TABLE IF EXISTS keys")
                conn.execute("""CREATE TABLE keys (subject_id uuid PRIMARY KEY, wrapped text NOT NULL,
                    ring_key_id varchar(32) NOT NULL, created_at timestamptz NOT NULL, rotated_at timestamptz,
                    destroyed_at timestamptz, purge_pending boolean NOT NULL DEFAULT false)""")
                conn.execute("CREATE INDEX ON keys (ring_key_id)")
                conn.execute("""INSERT INTO keys SELECT gen_random_uuid(),
                    'v1.k1a2b3c4.' || md5(random()::text) || md5(random()::text) || left(md5(random()::text), 16),
                    'k1a2b3c4', now() FROM generate_series(1, %s)""", [n])
                conn.execute("""UPDATE keys SET wrapped = '', destroyed_at = now(), purge_pending = true
                    WHERE subject_id IN (SELECT subject_id FROM keys TABLESAMPLE SYSTEM (1))""")
                size = conn.execute("SELECT pg_total_relation_size('keys')").fetchone()[0]
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    conn.execute("VACUUM (FULL) keys")
                    times.append(time.perf_counter() - start)
                print(f"{n:>9} keys  table+indexes {size / 2**20:7.1f} MiB  VACUUM FULL "
                      f"min {min(times):.2f} s  max {max(times):.2f} s  (ACCESS EXCLUSIVE held that long)")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
