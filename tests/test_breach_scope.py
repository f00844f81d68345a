"""Breach scoping from the vault (issue 12 §3): exactly the expected people, items and counts; window edges;
items of several people; the system filter; the Art. 34(3)(a) flag and its reason; re-scoping that keeps
notice state; the audit event. Runs on SQLite and, with DATABASE_URL set, on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from dsr import breach_scope, vault
from dsr.breach_scope import compute_scope, processor_system, store_scope, system_choices, unknown_systems
from dsr.models import Breach, BreachAffected, DataItem, Event, Recipient, Subject
from tests import factories

pytestmark = pytest.mark.django_db

W0 = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)  # exposure window start
W1 = datetime(2026, 3, 24, 0, 0, tzinfo=UTC)  # exposure window end
NOW = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)
EMBEDDING = bytes(range(256)) * 8  # 2 KiB: sealed inline, like a real 512-float template


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


@dataclass
class World:
    people: dict[str, Subject]
    items: dict[str, DataItem]


def _person(name: str, residence: str) -> Subject:
    s = factories.subject(f"{name}@example.com", now=at(1, 0))
    Subject.objects.filter(pk=s.pk).update(residence=residence)
    return s


def _item(category: str, purpose: str, holders: list[Subject], created: datetime, purged: datetime | None = None,
          ) -> DataItem:
    content = EMBEDDING if category == "face_embedding" else b"\xff\xd8" + b"x" * 70_000
    roles = ["owner"] + ["depicted"] * (len(holders) - 1)
    item = vault.store_item(
        vault.NewItem(category=category, purpose=purpose, holders=list(zip(holders, roles, strict=True)),
                      content=content, content_type="application/octet-stream"),
        actor="test", now=created,
    )
    if purged is not None:
        assert vault.purge_item(item, actor="test", now=purged, reason="retention")
    return item


@pytest.fixture
def world(db) -> World:
    p = {
        "alice": _person("alice", "DE"),
        "bob": _person("bob", "FR"),
        "carol": _person("carol", "US-CA"),
        "dave": _person("dave", "GB"),
        "erin": _person("erin", "GB"),
        "frank": _person("frank", "DE"),
        "gina": _person("gina", ""),  # residence unknown
    }
    i = {
        # before the window and still held → in
        "alice_photo": _item("photo", "photo_generation", [p["alice"]], at(1)),
        # purged before the window started → out
        "alice_emb_gone": _item("face_embedding", "face_matching", [p["alice"]], at(1), purged=at(5)),
        # created during the window → in
        "bob_emb": _item("face_embedding", "face_matching", [p["bob"]], at(12)),
        # purged during the window → in (it existed while the window was open)
        "carol_emb": _item("face_embedding", "face_matching", [p["carol"]], at(1), purged=at(15)),
        "carol_photo": _item("photo", "photo_generation", [p["carol"]], at(2), purged=at(20)),
        # created after the window → out
        "dave_emb": _item("face_embedding", "face_matching", [p["dave"]], at(25)),
        # a category the breach does not name → out
        "erin_ip": _item("ip_log", "security", [p["erin"]], at(11)),
        # a video of two people: both are affected
        "video": _item("generated_video", "photo_generation", [p["alice"], p["bob"]], at(11)),
        # exactly on the edges (inclusive): created at the window's end, purged at its start → in
        "frank_photo": _item("photo", "photo_generation", [p["frank"]], W1),
        "frank_emb": _item("face_embedding", "face_matching", [p["frank"]], at(1), purged=W0),
        "gina_photo": _item("photo", "photo_generation", [p["gina"]], at(3)),
    }
    return World(people=p, items=i)


def _breach(**kw) -> Breach:
    fields = dict(
        reference=f"BR-2026-{Breach.objects.count() + 1:04d}",
        title="Object storage bucket exposed",
        description="A misconfigured bucket policy.",
        opened_by="staff:lead",
        created_at=NOW,
        detected_at=NOW,
        aware_at=NOW,
        aware_basis="Access logs",
        aware_by="security team",
        types=["confidentiality"],
        categories=["photo", "face_embedding", "generated_video"],
        systems=[],
        occurred_from=W0,
        occurred_until=W1,
    )
    fields.update(kw)
    return Breach.objects.create(**fields)


def _ids(*names: str, world: World) -> set:
    return {world.people[n].pk for n in names}


def test_scope_finds_exactly_the_people_and_items_that_existed_during_the_window(world):
    result = compute_scope(_breach())
    # alice: photo + video; bob: embedding + video; carol: embedding and photo purged during the window;
    # frank: both edge items; gina: a photo. Not dave (after), not erin (other category), not alice's
    # embedding purged before the window.
    assert result.subjects == 5
    assert result.items == 8
    assert result.counts == {
        "categories": {
            "face_embedding": {"subjects": 3, "items": 3},  # bob, carol, frank
            "generated_video": {"subjects": 2, "items": 1},  # one video, two people
            "photo": {"subjects": 4, "items": 4},  # alice, carol, frank, gina
        },
        "jurisdictions": {"DE": 2, "FR": 1, "US-CA": 1, "unknown": 1},
    }


def test_stored_scope_has_one_row_per_affected_person_with_item_counts_and_jurisdiction(world):
    breach = _breach()
    store_scope(breach, actor="staff:lead", now=NOW)
    rows = {r.subject_id: r for r in BreachAffected.objects.filter(breach=breach)}
    assert set(rows) == _ids("alice", "bob", "carol", "frank", "gina", world=world)
    assert {k: (r.items, r.jurisdiction, r.in_scope, r.notice_state) for k, r in rows.items()} == {
        world.people["alice"].pk: (2, "DE", True, "not_due"),
        world.people["bob"].pk: (2, "FR", True, "not_due"),
        world.people["carol"].pk: (2, "US-CA", True, "not_due"),
        world.people["frank"].pk: (2, "DE", True, "not_due"),
        world.people["gina"].pk: (1, "", True, "not_due"),
    }
    breach.refresh_from_db()
    assert (breach.scope_subjects, breach.scope_items, breach.scope_version) == (5, 8, 1)
    assert breach.scope_computed_at == NOW
    assert breach.scope_counts["jurisdictions"] == {"DE": 2, "FR": 1, "US-CA": 1, "unknown": 1}


def test_window_edges_are_inclusive_and_an_open_window_reaches_back_to_the_start(world):
    # One second before the window's end excludes frank's photo; one second after its start excludes his
    # embedding purged exactly at the start.
    narrow = compute_scope(_breach(occurred_until=W1 - timedelta(seconds=1), occurred_from=W0 + timedelta(seconds=1)))
    assert narrow.counts["categories"]["photo"]["items"] == 3
    assert narrow.counts["categories"]["face_embedding"] == {"subjects": 2, "items": 2}
    # No start, no end: every item ever held in these categories, purged or not.
    ever = compute_scope(_breach(occurred_from=None, occurred_until=None))
    assert ever.items == 10 and ever.subjects == 6  # + alice's purged embedding and dave's later one


def test_system_filter_blob_storage_finds_media_including_purged_blobs_but_not_inline_embeddings(world):
    result = compute_scope(_breach(systems=["blob_storage"]))
    assert result.counts["categories"] == {
        "generated_video": {"subjects": 2, "items": 1},
        "photo": {"subjects": 4, "items": 4},  # carol's photo was purged during the window: its blob was there
    }
    assert result.subjects == 5  # alice, bob (video), carol, frank, gina


def test_system_filter_database_reaches_every_item_row(world):
    assert compute_scope(_breach(systems=["database"])).items == 8
    assert compute_scope(_breach(systems=["database", "blob_storage"])).items == 8


def test_system_filter_processor_follows_the_register(world):
    facemodel = Recipient.objects.get(name="FaceModel Inference Inc.")
    cloudhost = Recipient.objects.get(name="CloudHost Europe GmbH")
    mailrelay = Recipient.objects.get(name="MailRelay Ltd")
    # FaceModel receives photos and embeddings for face matching and everything for video generation.
    assert compute_scope(_breach(systems=[processor_system(facemodel)])).items == 8
    # CloudHost is in photo_generation (photos, videos) but not in face_matching (the embeddings).
    hosted = compute_scope(_breach(systems=[processor_system(cloudhost)]))
    assert set(hosted.counts["categories"]) == {"photo", "generated_video"}
    assert hosted.items == 5
    # MailRelay gets none of these categories.
    assert compute_scope(_breach(systems=[processor_system(mailrelay)])).subjects == 0
    assert unknown_systems(["database", processor_system(facemodel), "processor:999999", "tape"]) == [
        "processor:999999", "tape"]
    assert ("blob_storage", breach_scope.SYSTEMS["blob_storage"]) in system_choices()
    # Input validation elsewhere checks names against set(SYSTEMS): the register's recipients are in it.
    assert {"blob_storage", "database", processor_system(facemodel)} <= set(breach_scope.SYSTEMS)
    assert breach_scope.SYSTEMS[processor_system(facemodel)].startswith("FaceModel Inference Inc.")
    assert "processor:999999" not in breach_scope.SYSTEMS


def test_no_categories_is_an_empty_scope(world):
    result = compute_scope(_breach(categories=[]))
    assert (result.subjects, result.items) == (0, 0)
    assert result.art34_3_a is False


def test_art34_3a_applies_when_encrypted_and_keys_not_exposed_and_says_why(world):
    result = compute_scope(_breach(categories=["photo", "face_embedding"], systems=["blob_storage"]))
    assert result.art34_3_a is True
    assert result.reason.startswith(
        "The affected face embeddings and photos were encrypted with per-person AES-256-GCM keys that were not "
        "exposed")
    assert "Art. 34(3)(a), no individual notice required" in result.reason


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        ({"keys_exposed": True}, "the keys were exposed too"),
        ({"data_encrypted": False}, "were not encrypted"),
        ({"types": ["availability"]}, "not from being lost or altered"),
    ],
)
def test_art34_3a_does_not_apply_when_the_data_could_be_read_or_was_lost(world, changes, phrase):
    applies, reason = breach_scope.art34_3a_applies(_breach(**changes))
    assert applies is False
    assert phrase in reason


def test_art34_3a_does_not_apply_to_a_processors_readable_copy(world):
    facemodel = Recipient.objects.get(name="FaceModel Inference Inc.")
    applies, reason = breach_scope.art34_3a_applies(_breach(systems=[processor_system(facemodel)]))
    assert applies is False
    assert reason.startswith("FaceModel Inference Inc. received the affected face embeddings, generated videos and "
                             "photos in readable form")


def test_rescope_narrowing_keeps_notice_state_and_widening_brings_rows_back(world):
    breach = _breach()
    store_scope(breach, actor="staff:lead", now=NOW)
    bob = world.people["bob"]
    BreachAffected.objects.filter(breach=breach, subject=bob).update(notice_state="sent", notice_sent_at=NOW)

    # Narrow to photos only: bob (embedding, video) falls out; alice keeps her photo.
    Breach.objects.filter(pk=breach.pk).update(categories=["photo"])
    breach.refresh_from_db()
    later = NOW.replace(hour=23)
    result = store_scope(breach, actor="staff:lead", now=later)
    assert result.subjects == 4  # alice, carol, frank, gina
    rows = {r.subject_id: r for r in BreachAffected.objects.filter(breach=breach)}
    assert len(rows) == 5  # bob's row is kept …
    assert rows[bob.pk].in_scope is False  # … out of scope …
    assert (rows[bob.pk].notice_state, rows[bob.pk].notice_sent_at) == ("sent", NOW)  # … with its notice state
    assert rows[world.people["alice"].pk].items == 1
    breach.refresh_from_db()
    assert (breach.scope_subjects, breach.scope_items, breach.scope_version) == (4, 4, 2)

    # Widen again: bob is back in scope, his notice still recorded as sent (never sent twice).
    Breach.objects.filter(pk=breach.pk).update(categories=["photo", "face_embedding", "generated_video"])
    breach.refresh_from_db()
    store_scope(breach, actor="staff:lead", now=later.replace(minute=45))
    bob_row = BreachAffected.objects.get(breach=breach, subject=bob)
    assert (bob_row.in_scope, bob_row.notice_state, bob_row.items) == (True, "sent", 2)
    assert BreachAffected.objects.filter(breach=breach, in_scope=True).count() == 5


def test_an_identical_rescope_changes_nothing_but_the_computed_instant(world):
    breach = _breach()
    store_scope(breach, actor="staff:lead", now=NOW)
    before = list(BreachAffected.objects.filter(breach=breach).order_by("id").values())
    later = NOW.replace(hour=23)
    store_scope(breach, actor="staff:lead", now=later)
    assert list(BreachAffected.objects.filter(breach=breach).order_by("id").values()) == before
    breach.refresh_from_db()
    assert (breach.scope_version, breach.scope_computed_at) == (1, later)

    # New data in the window changes the scope: a new version.
    _item("face_embedding", "face_matching", [world.people["gina"]], at(13))
    store_scope(breach, actor="staff:lead", now=later.replace(minute=50))
    breach.refresh_from_db()
    assert breach.scope_version == 2
    assert breach.scope_counts["categories"]["face_embedding"] == {"subjects": 4, "items": 4}
    assert BreachAffected.objects.get(breach=breach, subject=world.people["gina"]).items == 2


def test_scoping_writes_one_audit_event_with_old_and_new_counts(world):
    breach = _breach()
    store_scope(breach, actor="staff:lead", now=NOW)
    Breach.objects.filter(pk=breach.pk).update(systems=["blob_storage"])
    breach.refresh_from_db()
    store_scope(breach, actor="staff:lead", now=NOW.replace(hour=23))
    events = list(Event.objects.filter(kind="breach.scoped", object_type="breach", object_id=str(breach.pk))
                  .order_by("id"))
    assert len(events) == 2
    first, second = events[0].data, events[1].data
    assert first["old"] == {"subjects": 0, "items": 0, "counts": {}}
    assert first["new"]["subjects"] == 5 and first["version"] == 1 and first["changed"] is True
    assert second["old"]["items"] == 8 and second["new"]["items"] == 5  # embeddings are not blobs
    assert second["new"]["counts"]["categories"]["photo"] == {"subjects": 4, "items": 4}
    assert second["version"] == 2
    assert events[1].actor == "staff:lead"
    # No personal data in the event: ids and counts only.
    assert "example.com" not in str(second)


def test_a_failed_scope_writes_nothing(world, monkeypatch):
    breach = _breach()

    def boom(*args, **kwargs):
        raise RuntimeError("audit sink down")

    monkeypatch.setattr(breach_scope.audit, "record", boom)
    with pytest.raises(RuntimeError):
        store_scope(breach, actor="staff:lead", now=NOW)
    assert not BreachAffected.objects.filter(breach=breach).exists()
    breach.refresh_from_db()
    assert (breach.scope_version, breach.scope_subjects, breach.scope_computed_at) == (0, 0, None)


# --- the item facts each holding carries (models.Holding item_*) ------------------------------------------


def _copies_agree_with_items() -> None:
    from dsr.models import Holding

    for h in Holding.objects.select_related("item", "subject"):
        i = h.item
        assert (h.item_category, h.item_purpose, h.item_created_at, h.item_purged_at) == (
            i.category, i.purpose, i.created_at, i.purged_at), h
        assert h.item_in_blob == (i.size > 64 * 1024 or i.category not in vault.INLINE_CATEGORIES), h
        assert h.subject_residence == h.subject.residence, h
    firsts = Holding.objects.filter(item_first=True)
    assert sorted(firsts.values_list("item_id", flat=True)) == sorted(set(Holding.objects.values_list("item_id",
                                                                                                      flat=True)))


def test_every_holding_carries_its_items_facts_through_store_purge_and_erasure(world):
    _copies_agree_with_items()  # stored, and purged during and before the window (the world)
    video = world.items["video"]
    assert vault.purge_item(video, actor="test", now=at(26), reason="retention")
    _copies_agree_with_items()
    from dsr.cascade import erase_item_rows
    from dsr.models import Holding

    erase_item_rows([world.items["gina_photo"].pk], now=at(27))
    assert not Holding.objects.filter(item=world.items["gina_photo"]).exists()  # an erased item leaves no scope
    _copies_agree_with_items()
    assert compute_scope(_breach()).items == 7  # gina's photo is gone from the vault, and from the scope


def test_migration_0024_fills_the_copies_from_the_items_in_batches_and_can_run_again(world, monkeypatch):
    import importlib

    from django.apps import apps
    from django.db import connection

    from dsr.models import Holding

    Holding.objects.update(item_category="", item_purpose="", item_in_blob=False, item_created_at=None,
                           item_purged_at=None, subject_residence="", item_first=False)
    assert compute_scope(_breach()).subjects == 0  # the scope reads the copies only
    migration = importlib.import_module("dsr.migrations.0024_holding_scope_fill")
    monkeypatch.setattr(migration, "BATCH", 3)  # several batches, with gaps in the ids between them

    class Editor:  # what fill uses of a schema editor (SQLite's refuses to open inside the test's transaction)
        pass

    editor = Editor()
    editor.connection = connection
    migration.fill(apps, editor)
    _copies_agree_with_items()
    assert compute_scope(_breach()).subjects == 5
    migration.fill(apps, editor)  # a second run finds nothing left to fill and changes nothing
    _copies_agree_with_items()


def test_a_changed_residence_moves_the_person_to_their_new_jurisdiction_in_the_next_scope(world):
    breach = _breach()
    assert compute_scope(breach).counts["jurisdictions"] == {"DE": 2, "FR": 1, "US-CA": 1, "unknown": 1}
    assert vault.set_residence(world.people["gina"], "BR", actor="api:platform", now=NOW)
    _copies_agree_with_items()
    assert compute_scope(breach).counts["jurisdictions"] == {"BR": 1, "DE": 2, "FR": 1, "US-CA": 1}
    store_scope(breach, actor="staff:lead", now=NOW)
    assert BreachAffected.objects.get(breach=breach, subject=world.people["gina"]).jurisdiction == "BR"


def test_one_category_counts_a_two_person_video_once_as_an_item_and_both_people(world):
    result = compute_scope(_breach(categories=["generated_video"]))
    assert (result.subjects, result.items) == (2, 1)
    assert result.counts == {"categories": {"generated_video": {"subjects": 2, "items": 1}},
                             "jurisdictions": {"DE": 1, "FR": 1}}


def _expected(breach: Breach, facts: list[dict]) -> tuple[int, int, dict]:
    """The scope worked out the long way, from the items' own facts recorded as they were stored (not from the
    copies the holdings carry): who held what, in which category, store and window."""
    cats = set(breach.categories or [])
    systems = set(breach.systems or [])
    people: dict[str, set] = {}
    items: dict[str, set] = {}
    places: dict = {}
    for f in facts:
        if f["category"] not in cats:
            continue
        if systems and "database" not in systems and not ("blob_storage" in systems and f["in_blob"]):
            continue
        if breach.occurred_until is not None and f["created"] > breach.occurred_until:
            continue
        if f["purged"] is not None and breach.occurred_from is not None and f["purged"] < breach.occurred_from:
            continue
        items.setdefault(f["category"], set()).add(f["item"])
        for pk in f["holders"]:
            people.setdefault(f["category"], set()).add(pk)
            places[pk] = f["residence"][pk] or breach_scope.UNKNOWN_JURISDICTION
    everyone = set().union(*people.values()) if people else set()
    jurisdictions: dict[str, int] = {}
    for pk in everyone:
        jurisdictions[places[pk]] = jurisdictions.get(places[pk], 0) + 1
    counts = {"categories": {c: {"subjects": len(people[c]), "items": len(items[c])} for c in sorted(people)},
              "jurisdictions": dict(sorted(jurisdictions.items()))}
    return len(everyone), sum(len(v) for v in items.values()), counts


@pytest.mark.parametrize("seed", range(4))
def test_random_vaults_and_incidents_are_scoped_exactly_as_worked_out_the_long_way(seed):
    """One category and several take different SQL (breach_scope._count); both must agree with the long way on
    vaults where people hold several items of a category, share items, and move house."""
    import random

    rnd = random.Random(seed)
    places = ["DE", "FR", "GB", "US-CA", ""]
    people = [_person(f"p{seed}-{n}", rnd.choice(places)) for n in range(9)]
    categories = ["photo", "face_embedding", "generated_video", "ip_log"]
    purposes = {"photo": "photo_generation", "face_embedding": "face_matching",
                "generated_video": "photo_generation", "ip_log": "security"}
    facts = []
    for _ in range(28):
        category = rnd.choice(categories)
        holders = rnd.sample(people, 2 if category == "generated_video" or rnd.random() < 0.15 else 1)
        created = at(rnd.randint(1, 26), rnd.randint(0, 23))
        purged = created + timedelta(days=rnd.randint(0, 6), hours=rnd.randint(1, 20)) if rnd.random() < 0.5 \
            else None
        if purged is not None and purged > NOW:
            purged = None
        item = _item(category, purposes[category], holders, created)
        in_blob = bool(item.blob_name)
        if purged is not None:
            assert vault.purge_item(item, actor="test", now=purged, reason="retention")
        facts.append({"item": item.pk, "category": category, "holders": [h.pk for h in holders],
                      "created": created, "purged": purged, "in_blob": in_blob})
    for p in rnd.sample(people, 2):  # people who move: every holding follows
        vault.set_residence(p, rnd.choice(["BR", "NL"]), actor="test", now=NOW)
    residence = dict(Subject.objects.filter(pk__in=[p.pk for p in people]).values_list("pk", "residence"))
    for f in facts:
        f["residence"] = residence
    for _ in range(25):
        start = at(rnd.randint(1, 20), rnd.randint(0, 23)) if rnd.random() < 0.8 else None
        end = start + timedelta(days=rnd.randint(0, 10)) if start and rnd.random() < 0.8 else None
        breach = _breach(categories=rnd.sample(categories, rnd.choice([1, 1, 2, 3])),
                         systems=rnd.choice([[], ["database"], ["blob_storage"]]),
                         occurred_from=start, occurred_until=end)
        result = compute_scope(breach)
        assert (result.subjects, result.items, result.counts) == _expected(breach, facts), (
            breach.categories, breach.systems, start, end)
