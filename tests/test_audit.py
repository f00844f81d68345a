"""The keyed audit trail: real vault verbs write it, `verify_audit` proves it, tampering is caught.

Tampering is done as an attacker with full write access to the database would: raw SQL, with the
PostgreSQL append-only trigger switched off for the session (``session_replication_role = replica``, which
the table owner / a superuser can do). What the attacker lacks is the audit key and the signing key."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from dsr import audit, keys, vault
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
    """The command fails, and the first problem it names is at ``event_id``."""
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", stdout=StringIO(), stderr=StringIO())
    message = str(failure.value)
    first = audit.verify().findings[0]
    assert first.event_id == event_id, message
    assert f"#{event_id}" in message.splitlines()[1], message
    return message


@contextlib.contextmanager
def _as_database_owner():
    """Switch the append-only trigger off for this session, as an attacker who owns the database can."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SET session_replication_role = DEFAULT")


def _raw(sql: str, params: list) -> None:
    with _as_database_owner(), connection.cursor() as cur:
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
        # A key destroyed outside an erasure is an availability breach (issue 12), in the same transaction.
        "breach.opened", "breach.scoped",
    ]
    assert events[0].prev_hash == GENESIS
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash
    key = keys.audit_key()
    for event in events:
        assert event.hash == event.compute_hash(key) and len(event.hash) == 64
        assert event.hash != event.compute_hash(None)  # keyed: not the plain SHA-256 anyone could compute
    assert [e.pk for e in events] == list(range(1, len(events) + 1))  # written once, no gaps
    assert len({e.hash for e in events}) == len(events)
    assert audit.first_break() is None
    assert _verify().strip() == f"audit chain intact: {len(events)} events"
    audit.checkpoint(now=T0, email_dpo=False)
    assert f"audit chain intact: {len(events)} events, matches checkpoint" in _verify()


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
    assert f"events #{removed.pk} are missing" in message and "removed" in message


def test_recomputing_the_hash_of_an_edited_row_without_the_audit_key_is_reported_at_that_row():
    events = _life_of_a_subject()
    target, following = events[2], events[3]
    target.data = {**target.data, "size": 1}
    _raw("UPDATE dsr_event SET data = %s, hash = %s WHERE id = %s",
         [json.dumps(target.data), target.compute_hash(None), target.pk])

    message = _verify_fails_at(target.pk)
    assert "MAC" in message
    assert any(f.event_id == following.pk and f.kind == "link" for f in audit.verify().findings)


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
                          content=factories.jpeg_bytes(),
                          content_type=None),  # NOT NULL column: the INSERT itself fails
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



# --- issue 7 §2: a trail that cannot be rewritten without detection ------------------------------------


def _busy_trail(n: int = 30) -> list[Event]:
    for i in range(n):
        audit.record("test.event", actor="test", now=T0 + timedelta(seconds=i), object_type="test", object_id=i,
                     data={"n": i})
    return list(Event.objects.order_by("id"))


def test_deleting_the_last_20_events_is_reported_against_the_latest_checkpoint():
    events = _busy_trail(30)
    audit.checkpoint(now=T0 + timedelta(hours=1), email_dpo=False)
    _raw("DELETE FROM dsr_event WHERE id > %s", [events[-21].pk])

    assert audit.first_break() is None  # the shorter chain is internally consistent...
    report = audit.verify()
    assert not report.intact  # ...but not against the signed head
    message = _verify_fails_at(events[-1].pk)
    assert f"events #{events[-20].pk}–#{events[-1].pk} are missing" in message
    assert "tail was deleted" in message
    assert {f.kind for f in report.findings} == {"truncated", "count"}


def test_editing_an_event_and_rehashing_it_is_reported_against_the_latest_checkpoint():
    events = _busy_trail(30)
    audit.checkpoint(now=T0 + timedelta(hours=1), email_dpo=False)
    target = events[12]
    target.kind = "test.innocent"
    # The attacker re-hashes the row and every row after it, as a plain hash chain would allow.
    prev = target.prev_hash
    for event in events[12:]:
        event.prev_hash = prev
        event.hash = event.compute_hash(None)
        _raw("UPDATE dsr_event SET kind = %s, prev_hash = %s, hash = %s WHERE id = %s",
             [event.kind, event.prev_hash, event.hash, event.pk])
        prev = event.hash

    message = _verify_fails_at(target.pk)
    assert f"event #{target.pk} does not match its MAC" in message
    kinds = {f.kind for f in audit.verify().findings}
    assert "rewritten" in kinds  # the head no longer matches the signed checkpoint either
    assert f"event #{events[-1].pk} differs from checkpoint" in message


def test_appending_a_forged_event_is_reported():
    events = _busy_trail(5)
    audit.checkpoint(now=T0 + timedelta(hours=1), email_dpo=False)
    head = events[-1]
    forged = Event(id=head.pk + 1, at=T0 + timedelta(hours=2), kind="subject.created", actor="api:1",
                   object_type="subject", object_id="forged", data={}, prev_hash=head.hash)
    forged.hash = forged.compute_hash(b"attacker-guess-of-the-audit-key-0000")
    with _as_database_owner():
        Event.objects.bulk_create([forged])

    message = _verify_fails_at(forged.pk)
    assert "written without the audit key: forged" in message
    # An unkeyed (legacy-style) forgery after keyed events is named as such too.
    unkeyed = Event(id=forged.pk + 1, at=T0 + timedelta(hours=3), kind="subject.created", actor="api:1",
                    prev_hash=forged.hash, scheme="sha256")
    unkeyed.hash = unkeyed.compute_hash(None)
    with _as_database_owner():
        Event.objects.bulk_create([unkeyed])
    assert any(f.kind == "unkeyed" and f.event_id == unkeyed.pk for f in audit.verify().findings)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_update_and_delete_on_the_event_table_fail_on_postgresql():
    from django.db import DatabaseError

    events = _busy_trail(3)
    for sql in ("UPDATE dsr_event SET kind = 'x' WHERE id = %s", "DELETE FROM dsr_event WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [events[1].pk])
    assert [e.kind for e in Event.objects.order_by("id")] == ["test.event"] * 3
    assert audit.verify().intact


def test_a_forged_or_edited_checkpoint_in_the_sink_is_reported(settings):
    from dsr import checkpoints

    _busy_trail(3)
    good = audit.checkpoint(now=T0 + timedelta(hours=1), email_dpo=False)
    store = checkpoints.sink()
    document = json.loads(store.read(good.name))
    document["checkpoint"]["head_id"] = 99  # claims a longer chain, signature no longer matches
    store.write("checkpoint-000000000099-20260305T120000000000Z.json", json.dumps(document).encode())

    report = audit.verify()
    assert report.checkpoint == good  # the forged one is not believed...
    assert [f.kind for f in report.findings] == ["checkpoint"]  # ...and is reported
    assert "invalid signature" in report.findings[0].message

    # A verifier that pins another public key believes none of them.
    other = keys.parse_signing_key(keys.generate_audit_signing_key()).public_key()
    settings.DSR_AUDIT_VERIFY_KEY = keys.public_key_text(other)
    assert audit.verify().checkpoint is None


def test_checkpoint_command_writes_a_signed_checkpoint_to_the_sink_and_mails_the_dpo(settings, tmp_path):

    from dsr import checkpoints
    from dsr.models import OutboundMessage

    settings.DSR_AUDIT_CHECKPOINT_DIR = str(tmp_path / "elsewhere")
    settings.DSR_DPO_CONTACT = "dpo-canary@example.org"
    events = _busy_trail(4)
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)

    files = sorted((tmp_path / "elsewhere").glob("checkpoint-*.json"))
    assert len(files) == 1 and f"head #{events[-1].pk}" in out.getvalue()
    cp = checkpoints.parse_checkpoint(files[0].name, files[0].read_bytes())
    assert (cp.head_id, cp.head_hash, cp.events) == (events[-1].pk, events[-1].hash, 4)
    message = OutboundMessage.objects.get(template="audit_checkpoint")
    assert message.to == "dpo-canary@example.org"
    assert files[0].read_text() in message.body_text


def test_scheduled_checkpoint_writes_only_when_the_chain_moved(django_capture_on_commit_callbacks):
    from dsr import checkpoints, jobs

    _busy_trail(2)
    assert jobs.audit_checkpoint().startswith("checkpoint head=2")
    assert jobs.audit_checkpoint() == "unchanged"
    _busy_trail(1)
    assert jobs.audit_checkpoint().startswith("checkpoint head=3")
    assert len(checkpoints.sink().names()) == 2


def test_daily_verification_alerts_the_approvers_when_the_chain_breaks(django_capture_on_commit_callbacks):
    from django.core import mail

    from dsr import jobs, roles

    roles.create_staff("dpo-a", "pw-dpo-a-long-enough", roles.Role.APPROVER, email="approver.a@example.com")
    roles.create_staff("dpo-b", "pw-dpo-b-long-enough", roles.Role.APPROVER, email="approver.b@example.com")
    roles.create_staff("op", "pw-op-long-enough-x", roles.Role.OPERATOR, email="operator@example.com")
    events = _busy_trail(5)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.verify_audit() == "intact events=5"
    assert mail.outbox == []

    _raw("UPDATE dsr_event SET actor = %s WHERE id = %s", ["someone-else", events[2].pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.verify_audit() == "BROKEN problems=1"

    assert sorted(m.to[0] for m in mail.outbox) == ["approver.a@example.com", "approver.b@example.com"]
    assert f"event #{events[2].pk} does not match its MAC" in mail.outbox[0].body
    failed = Event.objects.get(kind="audit.verification_failed")
    assert failed.data == {"problems": 1, "kinds": ["mac"], "alerted": 2}


def test_events_written_before_the_audit_key_are_anchored_once_and_then_protected():
    """An installed database upgraded to the keyed chain: its plain SHA-256 events stay valid as a prefix."""
    prev = GENESIS
    legacy = []
    for i in range(1, 4):
        event = Event(id=i, at=T0, kind="subject.created", actor="test", object_type="subject",
                      object_id=str(i), prev_hash=prev, scheme="sha256")
        event.hash = event.compute_hash(None)
        legacy.append(event)
        prev = event.hash
    Event.objects.bulk_create(legacy)

    out = StringIO()
    call_command("audit_checkpoint", "--no-email", stdout=out)
    assert "3 events written before the audit key are now anchored" in out.getvalue()
    anchor = Event.objects.get(kind="audit.chain_keyed")
    assert anchor.pk == 4 and anchor.data == {"legacy_events": 3, "legacy_head": 3}
    assert "the first 3 predate the audit key" in _verify()
    call_command("audit_checkpoint", "--no-email", stdout=out)  # a second run anchors nothing new
    assert Event.objects.filter(kind="audit.chain_keyed").count() == 1

    # Re-hashing an edited legacy event (possible without any key) still breaks at the keyed anchor.
    legacy[1].kind = "subject.erased"
    for event in legacy[1:]:
        event.prev_hash = legacy[legacy.index(event) - 1].hash
        event.hash = event.compute_hash(None)
        _raw("UPDATE dsr_event SET kind = %s, prev_hash = %s, hash = %s WHERE id = %s",
             [event.kind, event.prev_hash, event.hash, event.pk])
    _verify_fails_at(anchor.pk)


def test_recording_fails_closed_in_production_without_an_audit_key(settings):
    settings.PRODUCTION = True
    settings.DSR_AUDIT_KEY = None
    with pytest.raises(keys.AuditKeyUnavailable):
        audit.record("test.event", actor="test", now=T0)
    assert Event.objects.count() == 0
