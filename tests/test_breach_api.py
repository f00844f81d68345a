"""The breach API (POST/GET /api/v1/breaches), residence on subject creation, and the availability breach that
an erroneous key destruction opens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from dsr import breaches, vault
from dsr.models import Breach, BreachAffected, BreachDeadline, Event, Subject
from tests import factories

NOW = datetime(2026, 3, 28, 1, 0, tzinfo=UTC)
BODY = {"title": "Credential stuffing on the upload API", "description": "Login bursts from a botnet.",
        "detected_at": "2026-03-27T20:00:00Z", "aware_at": "2026-03-27T22:30:00Z",
        "aware_basis": "WAF alerts and confirmed account takeovers", "aware_by": "SIEM rule 42",
        "types": ["confidentiality"], "categories": ["photo", "face_embedding"], "risk_factors": ["credentials"],
        "data_encrypted": False, "jurisdictions": ["de", "US-CA", "GB-SCT"]}


def token(*scopes: str) -> Client:
    out = StringIO()
    call_command("create_api_token", "monitor-" + "-".join(s.replace(":", "_") for s in scopes),
                 *[f"--scope={s}" for s in scopes], stdout=out)
    return Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")


def post(client: Client, body) -> object:
    return client.post("/api/v1/breaches", json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_monitoring_opens_a_breach_and_gets_its_deadlines_and_governing_rule():
    writer = token("breaches:write")
    with time_machine.travel(NOW, tick=False):
        resp = post(writer, BODY)
    assert resp.status_code == 201, resp.content
    got = resp.json()
    assert got["reference"] == "BR-2026-0001" and got["origin"] == "api" and got["state"] == "open"
    assert resp["Location"] == f"/api/v1/breaches/{got['id']}"
    rules = {d["rule"]: d for d in got["deadlines"]}
    assert rules["B-SA"]["due_at"] == "2026-03-30T22:30:00+00:00"
    assert {"B-SA", "UK-BR", "CB-IND", "CB-AG"} <= set(rules)
    assert got["governing"] == {"rule": "B-SA", "due_at": "2026-03-30T22:30:00+00:00",
                                "authority": rules["B-SA"]["authority"]}
    assert got["risk"]["suggested"] == "high" and got["risk"]["decided"] is None
    assert got["jurisdictions_declared"] == ["DE", "GB-SCT", "US-CA"]
    assert "description" not in got and "Login bursts" not in resp.content.decode()
    breach = Breach.objects.get()
    assert breach.opened_by == "api:monitor-breaches_write"
    assert Event.objects.filter(kind="breach.opened", object_id=str(breach.pk)).exists()


@pytest.mark.django_db
def test_reading_needs_breaches_read_and_writing_breaches_write():
    reader, writer = token("breaches:read"), token("breaches:write")
    with time_machine.travel(NOW, tick=False):
        assert post(reader, BODY).status_code == 403
        assert Breach.objects.count() == 0
        created = post(writer, BODY).json()
        assert writer.get("/api/v1/breaches").status_code == 403
        assert writer.get(f"/api/v1/breaches/{created['id']}").status_code == 403
        listed = reader.get("/api/v1/breaches?state=open")
        assert listed.status_code == 200 and [b["id"] for b in listed.json()["breaches"]] == [created["id"]]
        assert reader.get("/api/v1/breaches?state=closed").json()["breaches"] == []
        detail = reader.get(f"/api/v1/breaches/{created['id']}")
        assert detail.status_code == 200 and detail.json()["governing"]["rule"] == "B-SA"
        missing = reader.get("/api/v1/breaches/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong = reader.delete("/api/v1/breaches")
        assert wrong.status_code == 405 and wrong["Allow"] == "GET, POST"
        assert Client().get("/api/v1/breaches").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("change, field", [
    ({"types": ["leak"]}, "types.0"),
    ({"types": []}, "types"),
    ({"title": "a\nb"}, "title"),
    ({"colour": "red"}, ""),
    ({"subjects_estimate": -1}, "subjects_estimate"),
    ({"jurisdictions": ["Germany"]}, "jurisdictions.0"),
])
def test_input_the_schema_refuses_gets_400_and_changes_nothing(change, field):
    writer = token("breaches:write")
    events = Event.objects.count()
    with time_machine.travel(NOW, tick=False):
        resp = post(writer, {**BODY, **change})
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"]["code"] == "invalid_field"
    assert resp.json()["error"].get("field", "") == field
    assert Breach.objects.count() == 0 and BreachDeadline.objects.count() == 0 and Event.objects.count() == events


@pytest.mark.django_db
@pytest.mark.parametrize("change, field", [
    ({"aware_at": "2026-03-27T19:00:00Z"}, "aware_at"),  # before detected_at
    ({"aware_at": "2026-03-29T10:00:00Z"}, "aware_at"),  # in the future
    ({"jurisdictions": ["ZZ"]}, "jurisdictions"),
    ({"processor": 4242}, "processor"),
    ({"law_enforcement_delay": True}, "law_enforcement_reason"),
    ({"title": "   "}, "title"),
])
def test_valid_but_refused_input_gets_422_naming_the_field_and_changes_nothing(change, field):
    writer = token("breaches:write")
    events = Event.objects.count()
    with time_machine.travel(NOW, tick=False):
        resp = post(writer, {**BODY, **change})
    assert resp.status_code == 422, resp.content
    error = resp.json()["error"]
    assert error["code"] == "invalid_breach" and error["field"] == field and field in error["errors"]
    assert Breach.objects.count() == 0 and BreachDeadline.objects.count() == 0 and Event.objects.count() == events


@pytest.mark.django_db
def test_the_schema_documents_the_breach_operations_with_their_scopes(client):
    schema = client.get("/api/v1/openapi.json").json()
    ops = schema["paths"]["/api/v1/breaches"]
    assert ops["post"]["x-scope"] == "breaches:write" and ops["get"]["x-scope"] == "breaches:read"
    assert {"201", "400", "401", "403", "413", "415", "422"} <= set(ops["post"]["responses"])
    assert schema["paths"]["/api/v1/breaches/{breach_id}"]["get"]["x-scope"] == "breaches:read"
    assert "residence" in schema["components"]["schemas"]["SubjectInput"]["properties"]


# --- residence ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_platform_records_a_residence_when_it_creates_or_finds_a_subject(api):
    resp = api.post("/api/v1/subjects", json.dumps({"email": "res@example.com", "residence": "us-ca"}),
                    content_type="application/json")
    assert resp.status_code == 201 and resp.json()["residence"] == "US-CA"
    again = api.post("/api/v1/subjects", json.dumps({"email": "res@example.com", "residence": "BR"}),
                     content_type="application/json")
    assert again.status_code == 200 and again.json()["residence"] == "BR"
    assert Subject.objects.get().residence == "BR"
    assert Event.objects.filter(kind="subject.residence_set").count() == 2
    bad = api.post("/api/v1/subjects", json.dumps({"email": "x@example.com", "residence": "US-ZZ"}),
                   content_type="application/json")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "residence"
    malformed = api.post("/api/v1/subjects", json.dumps({"email": "x@example.com", "residence": "Brazil"}),
                         content_type="application/json")
    assert malformed.status_code == 400 and malformed.json()["error"]["field"] == "residence"
    assert Subject.objects.count() == 1


# --- erroneous key destruction ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_key_destroyed_outside_an_erasure_opens_an_availability_breach_with_the_subject_in_scope():
    now = timezone.now()
    ana = factories.subject("ana.keys@example.com", now=now)
    Subject.objects.filter(pk=ana.pk).update(residence="GB-SCT")
    ana.refresh_from_db()
    factories.photo_item(ana, now=now)
    factories.derived_item([factories.photo_item(ana, now=now, seed=2)], category="face_embedding", now=now)
    assert vault.destroy_subject_key(ana, actor="staff:oops", now=now)
    breach = Breach.objects.get()
    assert breach.origin == "key_destruction" and breach.types == ["availability"]
    assert breach.categories == ["face_embedding", "photo"]
    assert (breach.scope_subjects, breach.scope_items, breach.scope_version) == (1, 3, 1)
    assert breach.scope_counts["jurisdictions"] == {"GB-SCT": 1}
    assert BreachAffected.objects.get(breach=breach).subject == ana
    assert {d.rule for d in breach.deadlines.all()} >= {"B-SA", "UK-BR"}
    assert breach.risk_suggested == "unlikely"  # encrypted, key not exposed, availability: the aid's candidate
    # Destroying it again (idempotent) does not open a second breach; declaring it erroneous finds the same one.
    assert not vault.destroy_subject_key(ana, actor="staff:oops", now=now)
    assert breaches.declare_destruction_erroneous(ana, reason="wrong account", actor="staff:dpo", now=now) == breach
    assert Breach.objects.count() == 1
    kinds = list(Event.objects.filter(object_id=str(breach.pk)).values_list("kind", flat=True))
    assert kinds[:2] == ["breach.opened", "breach.scoped"]


@pytest.mark.django_db
def test_an_operator_declares_a_destruction_by_an_erasure_erroneous_with_the_command():
    from tests.erasure_kit import approve, build_world, erasure_case, run_to_end

    now = timezone.now()
    w = build_world(now)
    case = erasure_case(w.alice, now)
    run_to_end(approve(case, now), now=now)
    assert Breach.objects.count() == 0  # the legitimate erasure's shred step opened nothing
    with pytest.raises(Exception, match="reason"):
        call_command("breach_key_destruction", str(w.alice.pk), "--reason", " ")
    out = StringIO()
    with time_machine.travel(now + timedelta(days=4), tick=False):  # run_to_end ran the cascade days ahead
        call_command("breach_key_destruction", str(w.alice.pk), "--reason", "erased the wrong account",
                     "--actor", "staff:dpo", stdout=out)
    breach = Breach.objects.get()
    assert out.getvalue().startswith(breach.reference) and breach.origin == "key_destruction"
    assert Event.objects.filter(kind="breach.destruction_declared_erroneous").count() == 1
    other = factories.subject("kept.key@example.com", now=now)
    with pytest.raises(Exception, match="not been destroyed"):
        call_command("breach_key_destruction", str(other.pk), "--reason", "no")


@pytest.mark.django_db
def test_a_replayed_erasure_is_not_an_erroneous_destruction():
    now = timezone.now() - timedelta(minutes=1)
    ben = factories.subject("ben.replay@example.com", now=now)
    assert vault.destroy_subject_key(ben, actor="system:replay-erasures", now=now, erasure_replay=True)
    assert Breach.objects.count() == 0


# --- idempotency: a monitoring tool retries a call that timed out -------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["body", "header"])
def test_a_repeat_with_the_same_idempotency_key_returns_the_first_breach_with_200_and_writes_nothing(how):
    writer = token("breaches:write")

    def send(body):
        if how == "body":
            return post(writer, {**body, "idempotency_key": "siem-alert-4711"})
        return writer.post("/api/v1/breaches", json.dumps(body), content_type="application/json",
                           HTTP_IDEMPOTENCY_KEY="siem-alert-4711")

    with time_machine.travel(NOW, tick=False):
        first = send(BODY)
        assert first.status_code == 201
        events = Event.objects.count()
        # The retry may differ (a later title): it is still the same incident, nothing is re-validated or written.
        again = send({**BODY, "title": "Credential stuffing (retry)"})
    assert again.status_code == 200
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert Breach.objects.count() == 1 and Breach.objects.get().idempotency_key == "siem-alert-4711"
    assert Breach.objects.get().title == BODY["title"]
    assert Event.objects.filter(kind="breach.opened").count() == 1
    assert Event.objects.count() == events
    assert BreachDeadline.objects.filter(breach__reference=first.json()["reference"]).count() == \
        len(first.json()["deadlines"])


@pytest.mark.django_db
def test_different_idempotency_keys_or_none_open_separate_breaches():
    writer = token("breaches:write")
    with time_machine.travel(NOW, tick=False):
        a = post(writer, {**BODY, "idempotency_key": "alert-1"})
        b = post(writer, {**BODY, "idempotency_key": "alert-2"})
        c, d = post(writer, BODY), post(writer, BODY)
    assert [r.status_code for r in (a, b, c, d)] == [201] * 4
    assert len({r.json()["reference"] for r in (a, b, c, d)}) == 4
    assert Breach.objects.count() == 4 and Event.objects.filter(kind="breach.opened").count() == 4
    assert set(Breach.objects.values_list("idempotency_key", flat=True)) == {"alert-1", "alert-2", None}


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["two\nlines", "x" * 101, 42])
def test_an_idempotency_key_that_is_not_one_line_of_at_most_100_characters_gets_400(key):
    writer = token("breaches:write")
    with time_machine.travel(NOW, tick=False):
        resp = post(writer, {**BODY, "idempotency_key": key})
    assert resp.status_code == 400 and resp.json()["error"]["field"] == "idempotency_key"
    assert Breach.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_with_one_idempotency_key_open_one_breach(live_server, api_token):
    """Real threads, real HTTP, each request on its own database connection (as tests/test_api_races.py): the
    unique index decides, the losers answer 200 with the winner's breach."""
    from tests.test_api_races import _race

    n = 8
    with time_machine.travel(NOW, tick=True):  # ticking: sockets and the server's threads need a moving clock
        results = _race(live_server, api_token, "/api/v1/breaches", [{**BODY, "idempotency_key": "race-1"}] * n)
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * (n - 1) + [201], statuses
    assert len({body["id"] for _, body in results}) == 1
    assert Breach.objects.count() == 1
    assert Event.objects.filter(kind="breach.opened").count() == 1
