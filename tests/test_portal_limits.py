"""Request floods against the portal (security.md): per-IP and per-identifier limits on a shared atomic counter
(the database, or Redis when configured), keyed on the real client address only behind configured proxies."""

from __future__ import annotations

import socket
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from dsr import ratelimit
from dsr.models import PortalFiling, RateCounter
from tests.portal_helpers import form

pytestmark = pytest.mark.django_db


def test_filings_from_one_address_are_limited_and_the_excess_changes_nothing(settings):
    settings.DSR_RATE_LIMITS = {**settings.DSR_RATE_LIMITS, "file_ip": "3/3600"}
    client = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [client.post("/", form(email=f"p{n}@example.com")).status_code for n in range(5)]
    assert statuses == [303, 303, 303, 429, 429]
    assert PortalFiling.objects.count() == 3
    limited = client.post("/", form(email="p9@example.com"))
    assert "Please wait a moment" in limited.content.decode() and int(limited["Retry-After"]) > 0
    # Another address is not affected.
    assert Client(REMOTE_ADDR="203.0.113.8").post("/", form(email="q@example.com")).status_code == 303
    # Nothing personal in the counters: keyed hashes only.
    assert not RateCounter.objects.filter(key__contains="203.0.113").exists()


def test_filings_for_one_address_are_limited_whoever_sends_them(settings):
    settings.DSR_RATE_LIMITS = {**settings.DSR_RATE_LIMITS, "file_id": "2/3600"}
    statuses = [Client(REMOTE_ADDR=f"198.51.100.{n}").post("/", form(email="victim@example.com",
                                                                      details=f"variant {n}")).status_code
                for n in range(4)]
    assert statuses == [303, 303, 429, 429]


def test_a_forged_forwarded_for_header_does_not_escape_the_limit_unless_a_proxy_is_configured(settings):
    settings.DSR_RATE_LIMITS = {**settings.DSR_RATE_LIMITS, "file_ip": "2/3600"}
    settings.DSR_TRUSTED_PROXY_COUNT = 0
    statuses = [Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}").post(
        "/", form(email=f"x{n}@example.com")).status_code for n in range(3)]
    assert statuses == [303, 303, 429]
    # Behind one configured proxy, the address it wrote is the client's.
    settings.DSR_TRUSTED_PROXY_COUNT = 1
    statuses = [Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=f"spoofed, 10.8.8.{n}").post(
        "/", form(email=f"y{n}@example.com")).status_code for n in range(3)]
    assert statuses == [303, 303, 303]


def test_verifying_codes_is_limited_per_address(settings):
    settings.DSR_RATE_LIMITS = {**settings.DSR_RATE_LIMITS, "verify_ip": "4/3600"}
    client = Client(REMOTE_ADDR="203.0.113.50")
    statuses = [client.post("/confirm/", {"code": "000000"}).status_code for _ in range(6)]
    assert statuses == [400, 400, 400, 400, 429, 429]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_the_redis_backend_counts_the_same_window_across_processes(settings):
    settings.DSR_RATELIMIT_REDIS_URL = "redis://127.0.0.1:6379/15"
    settings.DSR_RATE_LIMITS = {**settings.DSR_RATE_LIMITS, "file_ip": "2/3600"}
    value = f"redis-test-{uuid.uuid4()}"
    now = timezone.now()
    ratelimit.hit("file_ip", value, now=now)
    ratelimit.hit("file_ip", value, now=now)
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit("file_ip", value, now=now)
    assert not RateCounter.objects.exists()  # counted in Redis, not the database
