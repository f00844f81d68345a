"""Rate limits for the public portal (security.md "request floods"): fixed windows counted on a shared, atomic
store — Redis when ``DSR_RATELIMIT_REDIS_URL`` is set, the database otherwise — so several web processes share
one count. Keys are keyed hashes (never an address or an IP in clear), and the client IP is taken from
``X-Forwarded-For`` only behind configured proxies (``DSR_TRUSTED_PROXY_COUNT``, shared with the staff sign-in).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from functools import cache

from django.conf import settings
from django.db import connection
from django.http import HttpRequest

from dsr import keys


class RateLimited(Exception):
    """Over a limit: the caller answers 429 and changes nothing."""

    def __init__(self, name: str, retry_after: int) -> None:
        super().__init__(name)
        self.name, self.retry_after = name, retry_after


def parse_limit(spec: str) -> tuple[int, int]:
    """'20/3600' -> (20 requests, 3600 seconds)."""
    count, _, seconds = spec.partition("/")
    return int(count), int(seconds or 3600)


def _key(name: str, value: str) -> str:
    digest = hmac.new(keys.pseudonym_key(), f"ratelimit|{name}|{value}".encode(), hashlib.sha256).hexdigest()
    return f"rl:{name}:{digest[:40]}"


def _incr_database(key: str, window: int) -> int:
    """One atomic upsert: a new window restarts the count. Works on PostgreSQL and SQLite (>= 3.35)."""
    table = "dsr_ratecounter"
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {table} (key, window_no, count) VALUES (%s, %s, 1) "  # noqa: S608 - constant table
            "ON CONFLICT (key) DO UPDATE SET "
            f"count = CASE WHEN {table}.window_no = EXCLUDED.window_no THEN {table}.count + 1 ELSE 1 END, "
            "window_no = EXCLUDED.window_no RETURNING count",
            [key, window],
        )
        return int(cur.fetchone()[0])


@cache
def _redis(url: str):  # noqa: ANN202 - redis client
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _incr_redis(key: str, window: int, seconds: int) -> int:
    client = _redis(settings.DSR_RATELIMIT_REDIS_URL)
    name = f"{key}:{window}"
    pipe = client.pipeline()
    pipe.incr(name)
    pipe.expire(name, seconds + 5)
    count, _ = pipe.execute()
    return int(count)


def hit(name: str, value: str, *, now: datetime) -> None:
    """Count one request for ``value`` (an IP, an address…) under the limit ``name`` of
    ``settings.DSR_RATE_LIMITS``; raise RateLimited once the window's count exceeds the limit."""
    limit, seconds = parse_limit(settings.DSR_RATE_LIMITS[name])
    ts = int(now.timestamp())
    window = ts // seconds
    key = _key(name, value)
    count = _incr_redis(key, window, seconds) if settings.DSR_RATELIMIT_REDIS_URL else _incr_database(key, window)
    if count > limit:
        raise RateLimited(name, seconds - ts % seconds)


def client_ip(request: HttpRequest) -> str:
    """The client address the whole app uses: REMOTE_ADDR, or X-Forwarded-For only as far as
    DSR_TRUSTED_PROXY_COUNT configured proxies vouch for it (dsr/signin.py)."""
    from dsr.signin import client_ip as app_client_ip

    return app_client_ip(request)
