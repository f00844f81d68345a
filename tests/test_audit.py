"""The hash-chained audit trail: real vault verbs write it, `verify_audit` proves it, tampering is caught."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from dsr import audit, vault
from dsr.models import DataItem, Event, Subject
from dsr.models.audit import GENESIS
from tests import factories
from tests.factories import T0

pytestmark = pytest.mark.django_db


def _verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def _verify_fails_at(event_id: int) -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", stdout=StringIO())
    message = str(failure.value)
    reported = re.findall(r"#(\d+)", message)
    assert reported == [str(event_id)], message
    return message


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _life_of_a_subject() -> list[Event]:
    """Drive the real vault verbs: subjects, a photo, a derivative, consent, purge, crypto-shredding."""
    ana = factories.subject("ana.audit@example.com", now=T0)
    ben = factories.subject("ben.audit@example.com", now=T0)
    photo = factories.photo_item(ana, depicted=[ben], now=T0 + timedelta(minutes=1))
    factories.derived_item([photo], now=T0 + timedelta(minutes=2))
    consent = vault.record_consent(ana, purpose="photo_generation", granted_at=T0, actor="test",
                                   now=T0 + timedelta(minutes=3))
    vault.withdraw_consent(consent, actor="test", now=T0 + timedelta(minutes=4))
    vault.purge_item(photo, actor="test", now=T0 + timedelta(minutes=5), reason="retention")
    vault.destroy_subject_key(ben, actor="test", now=T0 + timedelta(minutes=6))
    return list(Event.objects.order_by("id"))


def test_events_written_by_real_vault_verbs_form_one_unbroken_chain():
    events = _life_of_a_subject()

    assert [e.kind for e in events] == [
        "subject.created", "subject.created", "item.stored", "item.stored",
        "consent.recorded", "consent.withdrawn", "item.purged", "subject.key_destroyed",
    ]
    assert events[0].prev_hash == GENESIS
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash
    for event in events:
        assert event.hash == event.compute_hash() and len(event.hash) == 64
    assert len({e.hash for e in events}) == len(events)
    assert audit.first_break() is None
    assert _verify().strip() == f"audit chain intact: {len(events)} events"


def test_an_empty_trail_verifies():
    assert "audit chain intact: 0 events" in _verify()


def test_editing_the_data_of_one_row_by_sql_is_reported_at_exactly_that_row():
    events = _life_of_a_subject()
    target = events[3]  # the derived item's item.stored
    assert target.data["size"] > 0
    _raw("UPDATE dsr_event SET data = %s WHERE id = %s", [json.dumps({**target.data, "size": 1}), target.pk])

    message = _verify_fails_at(target.pk)
    assert "edited" in message


def test_editing_the_kind_of_one_row_by_sql_is_reported_at_exactly_that_row():
    events = _life_of_a_subject()
    target = events[6]
    assert target.kind == "item.purged"
    _raw("UPDATE dsr_event SET kind = %s WHERE id = %s", ["item.stored", target.pk])

    _verify_fails_at(target.pk)


def test_editing_the_first_or_the_last_row_is_reported_too():
    events = _life_of_a_subject()
    _raw("UPDATE dsr_event SET actor = %s WHERE id = %s", ["someone-else", events[-1].pk])
    _verify_fails_at(events[-1].pk)
    _raw("UPDATE dsr_event SET object_id = %s WHERE id = %s", ["forged", events[0].pk])
    _verify_fails_at(events[0].pk)  # the earliest break is the one reported


def test_deleting_a_middle_row_is_reported_at_the_row_after_it():
    events = _life_of_a_subject()
    removed, following = events[4], events[5]
    _raw("DELETE FROM dsr_event WHERE id = %s", [removed.pk])

    message = _verify_fails_at(following.pk)
    assert "removed" in message


def test_recomputing_the_hash_of_an_edited_row_still_breaks_the_link_to_the_next_one():
    events = _life_of_a_subject()
    target, following = events[2], events[3]
    target.data = {**target.data, "size": 1}
    _raw("UPDATE dsr_event SET data = %s, hash = %s WHERE id = %s",
         [json.dumps(target.data), target.compute_hash(), target.pk])

    _verify_fails_at(following.pk)


def test_events_cannot_be_changed_or_deleted_through_the_orm():
    subject = factories.subject("orm@example.com")
    event = Event.objects.get(kind="subject.created", subject_ref=subject.reference)

    event.kind = "subject.erased"
    with pytest.raises(RuntimeError, match="append-only"):
        event.save()
    with pytest.raises(RuntimeError, match="append-only"):
        event.delete()
    event.refresh_from_db()
    assert event.kind == "subject.created"
    assert Event.objects.count() == 1
    assert "intact: 1 events" in _verify()


def test_a_rolled_back_state_change_leaves_no_event_and_the_chain_goes_on_from_the_last_committed_one():
    kept = factories.subject("kept@example.com")
    head = Event.objects.get(subject_ref=kept.reference)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        vault.create_subject(actor="test", now=T0, email="rolled.back@example.com")
        assert Event.objects.count() == 2  # written inside the transaction...
        raise Abort
    assert Event.objects.count() == 1  # ...and gone with it
    assert not Subject.objects.filter(email="rolled.back@example.com").exists()

    later = factories.subject("later@example.com")
    event = Event.objects.get(subject_ref=later.reference)
    assert event.prev_hash == head.hash
    assert "intact: 2 events" in _verify()


def test_a_store_whose_database_insert_fails_writes_no_event_and_leaves_no_blob(blob_dir):
    owner = factories.subject("insert.fails@example.com")
    before = Event.objects.count()

    with pytest.raises(IntegrityError):
        vault.store_item(
            vault.NewItem(category="photo", purpose="photo_generation", holders=[(owner, "owner")],
                          content=factories.jpeg_bytes(), content_type="image/jpeg",
                          attributes=None),  # NOT NULL column: the INSERT itself fails
            actor="test", now=T0,
        )

    assert Event.objects.count() == before
    assert not Event.objects.filter(kind="item.stored").exists()
    assert DataItem.objects.count() == 0
    assert not [p for p in blob_dir.rglob("*.sealed")]
    assert "intact" in _verify()


def test_a_failing_audit_write_rolls_the_stored_item_back(monkeypatch, blob_dir):
    owner = factories.subject("audit.fails@example.com")

    def broken_record(*args, **kwargs):
        raise RuntimeError("audit database unavailable")

    monkeypatch.setattr(audit, "record", broken_record)
    with pytest.raises(RuntimeError, match="audit database unavailable"):
        factories.photo_item(owner)

    assert DataItem.objects.count() == 0
    assert not [p for p in blob_dir.rglob("*.sealed")]


def test_no_event_contains_an_email_address(api):
    emails = ["Alice.Canary@Example.COM", "bob.canary+video@example.org", "dara.canary@depicted.example"]
    alice = factories.subject(emails[0])
    bob = factories.subject(emails[1])
    dara = factories.subject(emails[2], kind=Subject.Kind.DEPICTED)
    photo = factories.photo_item(alice, depicted=[dara])
    factories.derived_item([photo])
    vault.record_consent(bob, purpose="photo_generation", granted_at=T0, actor="test", now=T0)
    # And through the platform API: create, look up and upload by e-mail.
    resp = api.post("/api/v1/subjects", json.dumps({"email": "erin.canary@example.net"}),
                    content_type="application/json")
    assert resp.status_code == 201, resp.content
    api.post("/api/v1/subjects/lookup", json.dumps({"email": emails[1]}), content_type="application/json")
    emails.append("erin.canary@example.net")

    rows = list(Event.objects.values())
    assert len(rows) >= 7
    trail = json.dumps(rows, default=str).lower()
    assert "@" not in trail
    for email in emails:
        local = email.split("@")[0].lower()
        assert local not in trail
        assert local.split("+")[0] not in trail
    # Subjects appear only as their keyed-hash reference.
    refs = {r["subject_ref"] for r in rows if r["subject_ref"]}
    assert refs and all(ref.startswith("sub_") for ref in refs)
    assert {alice.reference, bob.reference, dara.reference} <= refs


def test_an_event_recorded_with_a_non_utc_clock_still_verifies():
    dublin = T0.astimezone(ZoneInfo("Europe/Dublin")) + timedelta(days=120)  # summer time: +01:00
    audit.record("test.event", actor="test", now=dublin, object_type="test", object_id="1", data={"n": 1})
    factories.subject("after.dublin@example.com")

    assert audit.first_break() is None
    event = Event.objects.get(kind="test.event")
    assert event.at == dublin


def test_recording_refuses_a_naive_time():
    with pytest.raises(ValueError, match="aware"):
        audit.record("test.event", actor="test", now=T0.replace(tzinfo=None))
    assert Event.objects.count() == 0

