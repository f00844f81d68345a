"""No races, no duplicates (issue 7 §4): real threads, real HTTP, against the live server and its database.

Each test starts 20 requests at the same instant (a barrier) from 20 threads against ``live_server``, whose
threaded WSGI server gives each request its own thread and database connection; on PostgreSQL (CI) the
requests really race for the same unique index and the same subject row.
"""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
from django.core import mail

from dsr.models import Case, Event, OutboundMessage, Subject

pytestmark = pytest.mark.django_db(transaction=True)

N = 20


def _race(live_server, token: str, path: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """POST every body at once (one thread each); returns (status, JSON) per request."""
    url = urlparse(live_server.url)
    barrier = threading.Barrier(len(bodies))

    def post(body: dict) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        payload = json.dumps(body)
        barrier.wait()
        conn.request("POST", path, payload, {"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        assert resp.getheader("Content-Type") == "application/json", raw[:300]
        return resp.status, json.loads(raw)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_twenty_concurrent_subject_creations_for_one_new_email_make_one_subject(live_server, api_token):
    results = _race(live_server, api_token, "/api/v1/subjects", [{"email": "race@example.com"}] * N)
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * (N - 1) + [201], statuses
    assert len({body["id"] for _, body in results}) == 1
    assert Subject.objects.count() == 1
    assert Event.objects.filter(kind="subject.created").count() == 1


FILING = {"kind": "access", "regimes": ["eu_gdpr"], "subject": {"email": "filer@example.com"}}


@pytest.mark.parametrize("with_key", [True, False], ids=["same idempotency key", "no idempotency key"])
def test_twenty_concurrent_filings_for_one_new_email_make_one_subject_one_case_one_acknowledgement(
    live_server, api_token, with_key
):
    body = {**FILING, "idempotency_key": "retry-7f3a"} if with_key else FILING
    results = _race(live_server, api_token, "/api/v1/cases", [body] * N)
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * (N - 1) + [201], results[0]
    assert len({b["id"] for _, b in results}) == 1
    assert Subject.objects.count() == 1
    assert Case.objects.count() == 1
    assert OutboundMessage.objects.filter(template="acknowledgement").count() == 1
    assert len([m for m in mail.outbox if "filer@example.com" in m.to]) == 1
    assert Event.objects.filter(kind="case.submitted").count() == 1


def test_the_same_filing_in_another_channel_or_for_another_kind_is_a_separate_case(live_server, api_token):
    bodies = [FILING, {**FILING, "channel": "email"}, {**FILING, "kind": "erasure"}]
    results = _race(live_server, api_token, "/api/v1/cases", bodies)
    assert [s for s, _ in results] == [201, 201, 201]
    assert Case.objects.count() == 3
