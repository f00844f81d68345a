"""Queue page speed with 100,000 open cases on PostgreSQL (issue 3 acceptance).

    .venv/bin/python bench/queue.py                       # uses/creates database dsr_bench on 127.0.0.1
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/queue.py --cases 100000

Prints the median/p95 time of GET /staff/ (first page, a deep page, a filtered page) through Django's test
client (full middleware, template rendering, session auth) and the SQL query count for page sizes 10, 50
and 200. Goals: median < 150 ms; query count the same for every page size. Exits 1 if a goal is missed.
"""

from __future__ import annotations

import sys

# This file is named like the standard library's ``queue``; drop bench/ from the import path before
# anything imports that module, or Python would load this script in its place.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("/bench") and p != ""]

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dsr_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsr.settings")
os.environ.setdefault("DSR_DATA_DIR", "/tmp/dsr-bench-queue")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")


def ensure_database(url: str) -> None:
    import psycopg
    from dj_database_url import parse

    cfg = parse(url)
    conn = psycopg.connect(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres",
                           autocommit=True)
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone()
    if not exists:
        conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    conn.close()


def seed(n: int) -> None:
    from dsr import audit, deadlines, workflow
    from dsr.models import Case, CaseDeadline, CaseState, Subject

    have = Case.objects.open().count()
    if have >= n:
        print(f"seed: {have} open cases already present")
        return
    opts = workflow.clock_options()
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    kinds = [("access", ["eu_gdpr"]), ("erasure", ["eu_gdpr", "ccpa"]), ("access", ["ccpa"]),
             ("rectification", ["uk_gdpr"]), ("opt_out_sale_sharing", ["ccpa"]), ("portability", ["eu_gdpr"])]
    states = [CaseState.RECEIVED, CaseState.AWAITING_VERIFICATION, CaseState.IN_PROGRESS, CaseState.EXTENDED]
    subj_id = uuid.uuid4()
    subject = Subject.objects.create(id=subj_id, email=f"bench-{subj_id.hex[:8]}@example.com",
                                     reference=audit.subject_reference(subj_id), created_at=now)
    cache: dict[tuple, list] = {}
    t0 = time.perf_counter()
    batch_cases, batch_dates = [], []
    for i in range(have, n):
        kind, regimes = kinds[i % len(kinds)]
        received = now - timedelta(days=(i * 7919) % 120, minutes=i % 1440)
        key = (kind, tuple(regimes), received.date())
        if key not in cache:
            cache[key] = deadlines.due_dates_for_case(regimes, kind, received, opts)
        dates = cache[key]
        gov = deadlines.governing(dates)
        case = Case(id=uuid.uuid4(), reference=f"B-{i:08d}", kind=kind, regimes=regimes, subject=subject,
                    subject_ref=subject.reference, received_at=received, created_at=received,
                    state=states[i % len(states)], due_on=gov.due_on, due_rule=gov.rule,
                    due_regime=gov.regime.value)
        batch_cases.append(case)
        batch_dates += [CaseDeadline(case=case, regime=d.regime.value, rule=d.rule, purpose=d.purpose.value,
                                     due_on=d.due_on, unrolled_on=d.unrolled_on, basis=d.basis, created_at=received)
                        for d in dates]
        if len(batch_cases) >= 5000:
            Case.objects.bulk_create(batch_cases)
            CaseDeadline.objects.bulk_create(batch_dates)
            batch_cases, batch_dates = [], []
    if batch_cases:
        Case.objects.bulk_create(batch_cases)
        CaseDeadline.objects.bulk_create(batch_dates)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE dsr_case; ANALYZE dsr_casedeadline;")
    print(f"seed: created {n - have} open cases in {time.perf_counter() - t0:.1f} s")


def timed(client, url: str, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        resp = client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        assert resp.status_code == 200, (url, resp.status_code)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    seed(args.cases)

    from dsr.models import Case
    from dsr.roles import Role, create_staff

    user = create_staff("bench-operator", "bench-operator-pass", Role.OPERATOR)
    client = Client()
    client.force_login(user)
    open_cases = Case.objects.open().count()
    pages = {
        "first page": "/staff/",
        "page 500": "/staff/?page=500",
        "filtered (kind=access, regime=ccpa)": "/staff/?kind=access&regime=ccpa",
    }
    print(f"\nqueue benchmark — PostgreSQL, {open_cases:,} open cases, {args.runs} runs each")
    print(f"{'page':40} {'median ms':>10} {'p95 ms':>8}")
    ok = medians_ok = True
    for label, url in pages.items():
        client.get(url)  # warm caches
        med, p95 = timed(client, url, args.runs)
        medians_ok &= med < 150
        ok &= med < 150
        print(f"{label:40} {med:10.1f} {p95:8.1f}")

    counts = {}
    for size in (25, 50, 200):
        with CaptureQueriesContext(connection) as ctx:
            resp = client.get(f"/staff/?per_page={size}")
        rows = resp.content.count(b'class="ref"')
        counts[size] = (len(ctx.captured_queries), rows)
    print("\nqueries per page size: " + ", ".join(f"{s} rows → {q} queries ({r} rendered)"
                                                  for s, (q, r) in counts.items()))
    constant = len({q for q, _ in counts.values()}) == 1
    ok &= constant
    print(f"\ngoal median < 150 ms on every page: {'PASS' if medians_ok else 'MISS'}")
    print(f"goal query count constant across page sizes: {'PASS' if constant else 'MISS'}")
    print("reproduce: .venv/bin/python bench/queue.py  (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/dsr_bench)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
