"""The API keeps the contract its schema states (issue 7 §8): schemathesis, with every check and its stateful
phase, against the app served by a live server on the test database, covering every path in the schema.

Bounded for CI: a fixed seed (``DSR_CONTRACT_SEED``, default 7) and a few examples per operation
(``DSR_CONTRACT_EXAMPLES``, default 25); raise it locally for a deeper run. Failures print schemathesis's
report with a curl line per failure.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_contract_violation_with_every_check_and_the_stateful_phase(live_server, tmp_path):
    out = StringIO()
    call_command("create_api_token", "schemathesis", "--all-scopes", stdout=out)
    token = out.getvalue().strip()
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    examples = os.environ.get("DSR_CONTRACT_EXAMPLES", "25")
    cmd = [st, "--config-file", str(CONFIG), "--no-color", "run", f"{live_server.url}/api/v1/openapi.json",
           "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", examples,
           "--seed", os.environ.get("DSR_CONTRACT_SEED", "7"), "--generation-database", "none",
           "--workers", "1", "--request-timeout", "30",
           "--header", f"Authorization: Bearer {token}", "--suppress-health-check", "all"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-20000:]
    assert "Stateful" in report and "Tested:" in report


@pytest.mark.django_db
def test_the_api_reference_page_is_server_rendered_from_the_schema_without_scripts(client):
    resp = client.get("/api/v1/docs")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/html")
    page = resp.content.decode()
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page
    # Every operation of the schema, with its scope and every status it answers.
    schema = client.get("/api/v1/openapi.json").json()
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert f'<span class="method">{method.upper()}</span> <span class="path">{path}</span>' in page
    assert "<code>content:read</code>" in page
    assert "photo_generation" in page  # purposes come from the processing register


@pytest.mark.django_db
def test_unmatched_api_urls_and_wrong_methods_get_the_json_error_with_allow(api):
    for url in ("/api/v1/nothing-here", "/api/v2/subjects", "/api/v1/subjects/a/b/c"):
        resp = api.get(url)
        assert resp.status_code == 404 and resp["Content-Type"] == "application/json", url
        assert resp.json()["error"]["code"] == "not_found"
    wrong = api.delete("/api/v1/subjects")
    assert wrong.status_code == 405 and wrong["Allow"] == "POST" and wrong.json()["error"]["code"]
    assert api.post("/api/v1/openapi.json").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("body, field", [
    ({"email": "victim@example.com\r\nBcc: all@example.com"}, "email"),
    ({"account_id": "acct\nX-Injected: 1"}, "account_id"),
    ({"account_id": "nul\u0000byte"}, "account_id"),
])
def test_a_line_break_in_a_header_bound_field_is_refused_at_input(api, body, field):
    from dsr.models import Subject

    resp = api.post("/api/v1/subjects", json.dumps(body), content_type="application/json")
    assert resp.status_code == 400 and resp.json()["error"]["field"] == field
    assert "\n" not in resp.json()["error"]["message"] and "victim" not in resp.content.decode()
    assert Subject.objects.count() == 0


@pytest.mark.django_db
def test_derived_items_accept_only_allow_listed_content_types(api):
    from dsr.models import DataItem

    owner = api.post("/api/v1/subjects", json.dumps({"email": "ct@example.com"}),
                     content_type="application/json").json()
    base = {"category": "generated_video", "purpose": "photo_generation", "subjects": [owner["id"]],
            "content_base64": base64.b64encode(b"\x00\x00\x00\x18ftypmp42").decode()}
    for bad in ("text/html", "image/svg+xml", "video/mp4\r\nContent-Disposition: inline"):
        resp = api.post("/api/v1/items", json.dumps({**base, "content_type": bad}), content_type="application/json")
        assert resp.status_code == 400 and resp.json()["error"]["field"] == "content_type", bad
    upload = io.BytesIO(b"<script>alert(1)</script>")
    upload.name = "x.html"
    multipart = api.post("/api/v1/items", {"category": "thumbnail", "purpose": "photo_generation",
                                           "subjects": [owner["id"]],
                                           "file": SimpleUploadedFile("x.html", upload.read(), "text/html")})
    assert multipart.status_code == 422 and multipart.json()["error"]["code"] == "unsupported_content_type"
    assert DataItem.objects.count() == 0
    ok = api.post("/api/v1/items", json.dumps({**base, "content_type": "video/mp4"}), content_type="application/json")
    assert ok.status_code == 201, ok.content
    content = api.get(f"/api/v1/items/{ok.json()['id']}/content")
    assert content["Content-Type"] == "video/mp4" and content["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_a_storage_failure_on_upload_is_a_clean_json_503_and_nothing_is_stored(api, settings, tmp_path):
    from dsr.models import DataItem, Event
    from tests import factories

    owner = api.post("/api/v1/subjects", json.dumps({"email": "disk@example.com"}),
                     content_type="application/json").json()
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    # A real failure of the file system: the blob root lies under a regular file, so no blob can be created.
    settings.STORAGES = {**settings.STORAGES, "dsr_blobs": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(blocker / "blobs")}}}
    events = Event.objects.count()
    resp = api.post(f"/api/v1/subjects/{owner['id']}/photos",
                    {"file": SimpleUploadedFile("p.jpg", factories.jpeg_bytes(), "image/jpeg")})
    assert resp.status_code == 503 and resp["Content-Type"] == "application/json"
    assert resp.json()["error"]["code"] == "storage_unavailable"
    assert DataItem.objects.count() == 0 and Event.objects.count() == events
