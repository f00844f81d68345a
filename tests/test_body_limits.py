"""Request bodies are refused from their declared size, before they are read (issue 7 §6)."""

from __future__ import annotations

import io
import json
import select
import socket
import time
from urllib.parse import urlparse

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import close_old_connections
from django.test import RequestFactory

from dsr.models import DataItem
from tests import factories

GIB = 1024**3
MIB = 1024**2


def _read_response(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + 10:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        pass
    return data


@pytest.mark.django_db(transaction=True)
def test_a_1_gib_photo_upload_is_refused_with_413_before_1_mib_of_it_is_sent(live_server, api_token, settings,
                                                                              tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(spool)
    subject = factories.subject("big@example.com")  # a real subject, so the view would read the upload
    url = urlparse(live_server.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    head = (f"POST /api/v1/subjects/{subject.pk}/photos HTTP/1.1\r\n"
            f"Host: {url.hostname}\r\nAuthorization: Bearer {api_token}\r\n"
            f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {GIB}\r\n\r\n").encode()
    sock.sendall(head + b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n")
    sent = 0
    response = b""
    deadline = time.monotonic() + 10
    # Keep sending 64 KiB pieces until the server answers; it must answer before 1 MiB has gone out.
    while sent < MIB and time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            response = _read_response(sock, 5)
            break
        sock.sendall(b"\0" * 65536)
        sent += 65536
    if not response:
        response = _read_response(sock, 5)
    sock.close()
    assert sent < MIB, f"the server was still reading after {sent} bytes"
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), response[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in headers
    assert json.loads(body)["error"]["code"] == "too_large"
    assert list(spool.iterdir()) == []  # nothing was spooled to a temporary file
    assert DataItem.objects.count() == 0


class EndlessBody(io.RawIOBase):
    """A de-chunked request body that never ends, counting what the app reads."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = 65536 if size is None or size < 0 else min(size, 65536)
        self.read_bytes += n
        return b"a" * n


def _wsgi_post(path: str, stream, **environ) -> tuple[str, bytes]:
    env = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="POST", wsgi_input=stream, **environ)
    env["wsgi.input"] = stream
    env.pop("CONTENT_LENGTH", None)
    status: list[str] = []
    # As Django's test client does: keep the test's database connection (and its transaction) open.
    request_started.disconnect(close_old_connections)
    try:
        body = b"".join(WSGIHandler()(env, lambda s, h, *a: status.append(s)))
    finally:
        request_started.connect(close_old_connections)
    return status[0], body


def test_a_chunked_body_is_cut_off_at_the_routes_limit(settings):
    settings.DSR_DERIVED_MAX_BYTES = 256 * 1024
    limit = settings.DSR_DERIVED_MAX_BYTES + 1024 * 1024
    stream = EndlessBody()
    status, body = _wsgi_post("/api/v1/items", stream, HTTP_TRANSFER_ENCODING="chunked",
                              CONTENT_TYPE="multipart/form-data; boundary=x", **{"wsgi.input_terminated": True})
    assert status.startswith("413")
    assert json.loads(body)["error"] == {"code": "too_large", "limit": limit,
                                         "message": f"the body is larger than this route accepts ({limit} bytes)"}
    assert limit < stream.read_bytes <= limit + 65536


def test_a_chunked_body_is_refused_with_411_when_the_server_cannot_de_chunk_it():
    stream = EndlessBody()
    status, body = _wsgi_post("/api/v1/items", stream, HTTP_TRANSFER_ENCODING="chunked",
                              CONTENT_TYPE="application/json")
    assert status.startswith("411") and json.loads(body)["error"]["code"] == "length_required"
    assert stream.read_bytes == 0


@pytest.mark.django_db
def test_a_small_chunked_json_body_is_read_and_handled(api_token):
    body = json.dumps({"email": "chunked@example.com"}).encode()
    status, out = _wsgi_post("/api/v1/subjects", io.BytesIO(body), HTTP_TRANSFER_ENCODING="chunked",
                             CONTENT_TYPE="application/json", HTTP_AUTHORIZATION=f"Bearer {api_token}",
                             **{"wsgi.input_terminated": True})
    assert status.startswith("201"), out
    assert json.loads(out)["kind"] == "account_holder"


def test_other_routes_get_the_default_limit_and_a_plain_413(client, settings):
    settings.DSR_MAX_BODY_BYTES = 1000
    resp = client.post("/staff/login/", "x" * 2000, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413 and resp["Content-Type"].startswith("text/plain")
    api = client.post("/api/v1/subjects", "x" * 2000, content_type="application/json")
    assert api.status_code == 413 and api.json()["error"]["limit"] == 1000
