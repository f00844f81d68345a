"""Item metadata sealed under the item key, and content reads that fail cleanly (issue 7 §1, §10)."""

from __future__ import annotations

import base64
import http.client
import json
import os
from urllib.parse import urlsplit

import pytest
from django.db import connection

from dsr import vault
from dsr.crypto import KeyRing
from dsr.models import DataItem
from tests import factories

CANARY_ATTR = "attr-canary-3319"
CANARY_SOURCE = "source-canary-4420"


def _subject(api, email: str) -> dict:
    resp = api.post("/api/v1/subjects", json.dumps({"email": email}), content_type="application/json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def _register(api, subject_ids: list[str], content: bytes = b"embedding-bytes") -> dict:
    body = {"category": "face_embedding", "purpose": "photo_generation", "subjects": subject_ids,
            "source": CANARY_SOURCE, "attributes": {"model": CANARY_ATTR, "dims": 512},
            "content_base64": base64.b64encode(content).decode()}
    resp = api.post("/api/v1/items", json.dumps(body), content_type="application/json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def _item_rows_text() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM dsr_dataitem")
        return repr(cur.fetchall())


@pytest.mark.django_db
def test_item_metadata_is_shown_while_the_key_lives_and_unreadable_after_a_shred(api):
    ana = _subject(api, "ana.sealed@example.com")
    item = _register(api, [ana["id"]])
    assert (item["source"], item["attributes"], item["metadata"]) == (
        CANARY_SOURCE, {"model": CANARY_ATTR, "dims": 512}, "sealed")
    assert "sha256" not in item  # was always null; a clear content hash would outlive the shred
    again = api.get(f"/api/v1/items/{item['id']}").json()
    assert again["attributes"] == item["attributes"] and again["source"] == CANARY_SOURCE
    holdings = api.get(f"/api/v1/subjects/{ana['id']}/holdings").json()
    assert holdings["items"][0]["attributes"]["model"] == CANARY_ATTR
    # Nothing of it is in the database in clear.
    rows = _item_rows_text()
    assert CANARY_ATTR not in rows and CANARY_SOURCE not in rows

    vault.destroy_subject_key(DataItem.objects.get(pk=item["id"]).holders.get().subject, actor="test",
                              now=factories.T0)

    after = api.get(f"/api/v1/items/{item['id']}").json()
    assert (after["source"], after["attributes"], after["metadata"]) == (None, None, "erased")
    assert after["category"] == "face_embedding" and after["id"] == item["id"]  # lineage facts stay
    content = api.get(f"/api/v1/items/{item['id']}/content")
    assert content.status_code == 410 and content.json()["error"]["code"] == "erased"


@pytest.mark.django_db
def test_a_jointly_held_item_loses_its_metadata_when_either_holder_is_shredded(api):
    ana, ben = _subject(api, "ana.joint@example.com"), _subject(api, "ben.joint@example.com")
    item = _register(api, [ana["id"], ben["id"]])
    from dsr.models import Subject

    vault.destroy_subject_key(Subject.objects.get(pk=ben["id"]), actor="test", now=factories.T0)
    assert api.get(f"/api/v1/items/{item['id']}").json()["metadata"] == "erased"
    # The other holder's own items are unaffected.
    own = _register(api, [ana["id"]])
    assert api.get(f"/api/v1/items/{own['id']}").json()["attributes"]["model"] == CANARY_ATTR


@pytest.mark.django_db
def test_a_purged_item_says_so_and_keeps_no_metadata(api):
    ana = _subject(api, "ana.purged@example.com")
    item = _register(api, [ana["id"]])
    vault.purge_item(DataItem.objects.get(pk=item["id"]), actor="test", now=factories.T0, reason="retention")
    after = api.get(f"/api/v1/items/{item['id']}").json()
    assert (after["source"], after["attributes"], after["metadata"]) == (None, None, "purged")
    assert DataItem.objects.get(pk=item["id"]).sealed_meta is None


# --- content reads that fail: JSON errors, never a 500 and never a 200 with bad bytes ----------------------


@pytest.mark.django_db
def test_a_tampered_small_item_is_a_json_502_not_a_200(api):
    ana = _subject(api, "ana.tamper@example.com")
    item = _register(api, [ana["id"]], content=b"x" * 5000)
    row = DataItem.objects.get(pk=item["id"])
    sealed = bytearray(row.sealed_inline)
    sealed[-20] ^= 0x01
    DataItem.objects.filter(pk=row.pk).update(sealed_inline=bytes(sealed))

    resp = api.get(f"/api/v1/items/{item['id']}/content")
    assert resp.status_code == 502
    assert resp.json()["error"]["code"] == "integrity_failed"


@pytest.mark.django_db
def test_a_blob_tampered_after_its_first_chunk_is_refused_before_sending_when_it_fits(api, blob_dir):
    owner = factories.subject("ana.blob@example.com")
    plain = os.urandom(900 * 1024)  # several 256 KiB chunks
    item = factories.derived_item([factories.photo_item(owner)], content=plain)
    path = blob_dir / item.blob_name
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # in the last chunk
    path.write_bytes(bytes(data))

    resp = api.get(f"/api/v1/items/{item.pk}/content")
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "integrity_failed"


@pytest.mark.django_db
def test_a_missing_blob_and_an_unknown_ring_key_are_json_errors(api, blob_dir, settings):
    owner = factories.subject("ana.missing@example.com")
    photo = factories.photo_item(owner)
    (blob_dir / photo.blob_name).unlink()
    resp = api.get(f"/api/v1/items/{photo.pk}/content")
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "content_missing"

    other = factories.photo_item(owner, seed=2)
    settings.DSR_KEYS = KeyRing.generate_spec("another")  # the ring that wrapped the keys is gone
    resp = api.get(f"/api/v1/items/{other.pk}/content")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "key_unavailable"
    resp = api.get(f"/api/v1/items/{other.pk}")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "key_unavailable"


@pytest.mark.django_db(transaction=True)
def test_a_streamed_blob_that_fails_mid_way_arrives_shorter_than_its_content_length(
    api_token, live_server, blob_dir, monkeypatch
):
    from dsr.views import api as api_views

    monkeypatch.setattr(api_views, "VERIFY_BEFORE_SENDING", 64 * 1024)  # stream everything bigger
    owner = factories.subject("ana.stream@example.com")
    plain = os.urandom(900 * 1024)
    item = factories.derived_item([factories.photo_item(owner)], content=plain)

    def fetch(timeout: float) -> tuple[http.client.HTTPResponse, bytes, bool]:
        """(response, bytes received, whether the body ended cleanly at Content-Length)."""
        url = urlsplit(live_server.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        conn.request("GET", f"/api/v1/items/{item.pk}/content", headers={"Authorization": f"Bearer {api_token}"})
        resp = conn.getresponse()
        received = b""
        try:
            while chunk := resp.read(64 * 1024):
                received += chunk
            return resp, received, True
        except http.client.IncompleteRead as short:
            return resp, received + short.partial, False
        except (TimeoutError, ConnectionError):
            # Django's development server keeps the connection open after the failure (gunicorn and uWSGI
            # close it): either way the client never gets Content-Length bytes.
            return resp, received, False
        finally:
            conn.close()

    resp, body, complete = fetch(timeout=30)
    assert resp.status == 200 and resp.getheader("X-Content-Integrity") == "streamed"
    assert complete and body == plain and int(resp.getheader("Content-Length")) == len(plain)

    path = blob_dir / item.blob_name
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # the first chunk still authenticates, the last one does not
    path.write_bytes(bytes(data))
    resp, body, complete = fetch(timeout=3)
    assert resp.status == 200 and int(resp.getheader("Content-Length")) == len(plain)
    assert not complete and len(body) < len(plain)  # a short body: the client knows the download failed
    assert body == plain[: len(body)]  # only authenticated chunks were ever sent
