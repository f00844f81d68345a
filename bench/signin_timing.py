"""Does the sign-in page tell a known username from an unknown one by its timing? (issue 7 §3)

    .venv/bin/python bench/signin_timing.py [--rounds 40]

Runs the real stack (middleware, django-axes, the production password hasher, SQLite in a scratch directory)
through Django's test client. Phase 1: wrong passwords for a username that exists and one that does not,
interleaved, each from its own address so no lock starts. Phase 2: the same once both are locked out.
Prints median and p90 in milliseconds per group and the ratio known/unknown; a ratio near 1.00 means the
timing gives nothing away. Also checks that the pages themselves are identical (minus the CSRF token).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/queue.py would shadow the standard library's queue module: keep bench/ off the import path.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
SCRATCH = Path(tempfile.mkdtemp(prefix="dsr-bench-signin-"))
os.environ.update(DJANGO_SETTINGS_MODULE="dsr.settings", DSR_DATA_DIR=str(SCRATCH),
                  DATABASE_URL=f"sqlite:///{SCRATCH / 'dsr.sqlite3'}", ALLOWED_HOSTS="testserver",
                  DSR_LOGIN_FAILURE_LIMIT="1000000")
os.environ.pop("DSR_TESTING", None)  # the real (slow) password hasher, as in production


def _page(response, username: str) -> tuple[int, str]:
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return response.status_code, body.replace(f'value="{username}"', "")


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.9) - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import get_hasher
    from django.core.management import call_command
    from django.test import Client

    from dsr.roles import Role, create_staff

    call_command("migrate", verbosity=0)
    create_staff("known-user", "the-right-password-42", Role.OPERATOR)
    print(f"password hasher: {get_hasher().algorithm} ({get_hasher().iterations} iterations)")

    def run(phase: str, rounds: int, ip_for) -> bool:
        times: dict[str, list[float]] = {"known-user": [], "no-such-user": []}
        pages: dict[str, set] = {"known-user": set(), "no-such-user": set()}
        for i in range(rounds):
            for name in times:  # interleaved, so drift in machine load hits both alike
                client = Client()
                start = time.perf_counter()
                response = client.post("/staff/login/", {"username": name, "password": f"wrong-{i}"},
                                       REMOTE_ADDR=ip_for(name, i))
                times[name].append(time.perf_counter() - start)
                pages[name].add(_page(response, name))
        known, unknown = _stats(times["known-user"]), _stats(times["no-such-user"])
        same = pages["known-user"] == pages["no-such-user"]
        statuses = sorted({s for s, _ in pages["known-user"]})
        print(f"{phase}: known median {known[0]:.1f} ms p90 {known[1]:.1f} · unknown median {unknown[0]:.1f} ms "
              f"p90 {unknown[1]:.1f} · ratio {known[0] / unknown[0]:.2f} · status {statuses} · "
              f"pages identical: {same}")
        return same

    ok = run("wrong password (not locked)", args.rounds,
             lambda name, i: f"198.51.{0 if name == 'known-user' else 1}.{i % 250 + 1}")
    settings.AXES_FAILURE_LIMIT = 3
    ok &= run("locked out", args.rounds, lambda name, i: "203.0.113.5")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
