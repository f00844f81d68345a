"""API tokens can be limited to scopes, can expire, and can be revoked (issue 7 §5)."""

from __future__ import annotations

import importlib
import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from dsr.models import ApiToken, Event
from dsr.scopes import SCOPES
from tests import factories

pytestmark = pytest.mark.django_db


def mint(name: str, *args: str) -> Client:
    out = StringIO()
    call_command("create_api_token", name, *args, stdout=out)
    return Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")


def _photo_item(api: Client) -> str:
    subject = api.post("/api/v1/subjects", json.dumps({"email": "scoped@example.com"}),
                       content_type="application/json").json()
    resp = api.post(f"/api/v1/subjects/{subject['id']}/photos", {"file": _named(factories.jpeg_bytes())})
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def _named(data: bytes):
    import io

    f = io.BytesIO(data)
    f.name = "p.jpg"
    return f


def test_a_token_without_content_read_gets_403_on_item_content_but_reads_metadata(api):
    item_id = _photo_item(api)
    reader = mint("metadata-reader", "--scope", "vault:read")
    assert reader.get(f"/api/v1/items/{item_id}").status_code == 200
    resp = reader.get(f"/api/v1/items/{item_id}/content")
    assert resp.status_code == 403
    assert resp["Content-Type"] == "application/json"
    assert resp.json()["error"] == {
        "code": "insufficient_scope",
        "message": "this token lacks the scope 'content:read' that this endpoint needs",
        "required_scope": "content:read",
    }
    assert 'error="insufficient_scope"' in resp["WWW-Authenticate"]
    # The refusal is audited with names and ids only: which token, which scope, which route.
    event = Event.objects.filter(kind="api_token.forbidden").get()
    assert event.actor == "api:metadata-reader"
    assert event.data == {"scope": "content:read", "route": "api-item-content", "method": "GET"}
    assert event.object_id == str(ApiToken.objects.get(name="metadata-reader").pk)


def test_a_read_only_token_cannot_write_and_nothing_is_created(api):
    reader = mint("reader", "--scope", "vault:read,cases:read")
    resp = reader.post("/api/v1/subjects", json.dumps({"email": "x@example.com"}), content_type="application/json")
    assert resp.status_code == 403 and resp.json()["error"]["required_scope"] == "vault:write"
    resp = reader.post("/api/v1/cases", json.dumps({"kind": "access", "regimes": ["eu_gdpr"],
                                                    "subject": {"email": "x@example.com"}}),
                       content_type="application/json")
    assert resp.status_code == 403 and resp.json()["error"]["required_scope"] == "cases:write"
    from dsr.models import Case, Subject

    assert Subject.objects.count() == 0 and Case.objects.count() == 0


def test_a_revoked_token_gets_401(api):
    other = mint("soon-revoked", "--scope", "vault:read")
    assert other.get("/api/v1/subjects/00000000-0000-0000-0000-000000000000").status_code == 404
    out = StringIO()
    call_command("revoke_api_token", "soon-revoked", stdout=out)
    assert "revoked" in out.getvalue()
    resp = other.get("/api/v1/subjects/00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    assert "revoked" in resp.json()["error"]["message"]
    assert Event.objects.filter(kind="api_token.revoked", actor="cli").count() == 1
    # Other tokens are untouched.
    assert api.get("/api/v1/subjects/00000000-0000-0000-0000-000000000000").status_code == 404


def test_an_expired_token_gets_401():
    client = mint("short-lived", "--scope", "vault:read", "--expires", "1h")
    url = "/api/v1/subjects/00000000-0000-0000-0000-000000000000"
    assert client.get(url).status_code == 404
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        resp = client.get(url)
    assert resp.status_code == 401
    assert "expired" in resp.json()["error"]["message"]


def test_the_token_name_is_the_actor_of_the_audit_events_it_causes(api):
    api.post("/api/v1/subjects", json.dumps({"email": "actor@example.com"}), content_type="application/json")
    assert Event.objects.get(kind="subject.created").actor == "api:test-platform"


def test_last_use_is_recorded_and_listed_without_the_secret():
    client = mint("lister", "--scope", "cases:read", "--expires", "2099-01-01T00:00:00Z")
    row = ApiToken.objects.get(name="lister")
    assert row.last_used_at is None
    client.get("/api/v1/cases/00000000-0000-0000-0000-000000000000")
    row.refresh_from_db()
    assert row.last_used_at is not None
    out = StringIO()
    call_command("list_api_tokens", stdout=out)
    line = next(ln for ln in out.getvalue().splitlines() if ln.startswith("lister"))
    assert "active" in line and "cases:read" in line and "2099-01-01" in line
    assert row.token_hash not in out.getvalue()


@pytest.mark.parametrize("args, needle", [
    ((), "at least one --scope"),
    (("--scope", "vault:read,vault:delete"), "unknown scope(s): vault:delete"),
    (("--scope", "vault:read", "--expires", "yesterday"), "--expires takes"),
    (("--scope", "vault:read", "--expires", "2000-01-01T00:00:00Z"), "future"),
])
def test_token_creation_refuses_bad_scopes_and_expiry(args, needle):
    with pytest.raises(CommandError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        call_command("create_api_token", "bad", *args, stdout=StringIO())
    assert not ApiToken.objects.exists()


def test_all_scopes_grants_every_scope_that_exists_now():
    mint("everything", "--all-scopes")
    assert ApiToken.objects.get(name="everything").scopes == sorted(SCOPES)


def test_tokens_minted_before_scopes_keep_exactly_what_they_could_do():
    migration = importlib.import_module("dsr.migrations.0006_apitoken_scopes")
    ApiToken.objects.create(name="legacy", prefix="dsr_legacy", token_hash="0" * 64, created_at=factories.T0)
    migration.grant_existing(apps, None)
    assert ApiToken.objects.get(name="legacy").scopes == [
        "cases:read", "cases:write", "content:read", "vault:read", "vault:write"]


def _api_views():
    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns)
            elif isinstance(p, URLPattern) and str(p.pattern).startswith("api/"):
                yield p

    return list(walk(get_resolver().url_patterns))


def test_every_token_authenticated_route_declares_a_known_scope():
    public = {"api-openapi", "api-docs"}
    for pattern in _api_views():
        if pattern.name in public:
            continue
        assert getattr(pattern.callback, "api_scope", None) in SCOPES, pattern.name


def test_the_schema_names_each_operations_scope_and_covers_every_route(client):
    schema = client.get("/api/v1/openapi.json").json()
    documented = {path.removeprefix("/").replace("{", "<").replace("}", ">") for path in schema["paths"]}
    for pattern in _api_views():
        if pattern.name in {"api-openapi", "api-docs"}:
            continue
        route = str(pattern.pattern).replace("<str:", "<").replace("<uuid:", "<")
        assert route in documented, f"{route} is served but not in the OpenAPI schema"
    for path, ops in schema["paths"].items():
        for method, operation in ops.items():
            assert operation["security"][0]["bearer"] == [operation["x-scope"]], (path, method)
            assert "403" in operation["responses"], (path, method)
