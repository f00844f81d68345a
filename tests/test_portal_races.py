"""The same filing replayed 20 times at once, over real HTTP against the live server: one filing, one case, one
e-mail (security.md "double submission")."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connection

from dsr.models import Case, OutboundMessage, PortalFiling
from tests.portal_helpers import form

pytestmark = pytest.mark.django_db(transaction=True)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None


def test_twenty_concurrent_identical_filings_make_one_case_and_one_email(live_server, settings):
    if connection.vendor != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL (CI runs on it)")
    settings.DSR_RATE_LIMITS = {**settings.DSR_RATE_LIMITS, "file_ip": "1000/3600", "file_id": "1000/3600"}
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    page = opener.open(f"{live_server.url}/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf_cookie = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode({**form(email="racer@example.com"), "csrfmiddlewaretoken": token}).encode()
    start = threading.Barrier(20)

    def post(_: int) -> int:
        request = urllib.request.Request(f"{live_server.url}/", data=body, method="POST", headers={
            "Cookie": f"csrftoken={csrf_cookie}", "Content-Type": "application/x-www-form-urlencoded"})
        start.wait()
        try:
            return urllib.request.build_opener(_NoRedirect).open(request, timeout=60).status
        except urllib.error.HTTPError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(post, range(20)))
    assert statuses == [303] * 20
    assert PortalFiling.objects.count() == 1
    assert Case.objects.count() == 1
    assert OutboundMessage.objects.filter(to="racer@example.com").count() == 1
    assert len([m for m in mail.outbox if "racer@example.com" in m.to]) == 1
