"""Known copies of a depiction (takedown.md "Copies"): perceptual hashes of everything held, taken at ingest; the
block list of removed items' hashes; matching one hash against all of them.

* Photos are hashed by the sanitiser from the pixels it already decoded (dsr/images.py); derived items that are
  pictures (thumbnails, frames, animations) are hashed when registered; videos by a job after commit (decoding
  a video takes longer than an API call should), one frame a second (dsr/perceptual.py).
* Both indexes live in memory (dsr.perceptual.HashIndex, ~32 MB per million hashes per process), loaded from the
  database and topped up with rows added since (by id) before each query; a hash whose row or item has gone
  since loading is dropped when the candidates are re-read from the database, and the index is rebuilt every
  ``REBUILD_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from dsr import audit
from dsr.models import DataItem
from dsr.models.takedowns import BlockedHash, ItemHash, ReuploadBlock
from dsr.perceptual import MIN_QUALITY, FrameHash, Hash, HashIndex, NotHashable, hamming, hash_content

log = logging.getLogger(__name__)

REBUILD_SECONDS = 600
HASHABLE_INLINE_BYTES = 32 * 1024 * 1024  # larger derived pictures are hashed by the job, like videos
MAX_VIDEO_BYTES = 512 * 1024 * 1024  # a video is decoded in memory (never written to disk in the clear)


def match_distance() -> int:
    return int(settings.DSR_TAKEDOWN_MATCH_DISTANCE)


# --- recording hashes ------------------------------------------------------------------------------------------


def record_hashes(item: DataItem | uuid.UUID, hashes: Sequence[FrameHash], *, now: datetime) -> int:
    """Store an item's hashes (idempotent: frames already stored are skipped). Returns how many were added."""
    item_id = item.pk if isinstance(item, DataItem) else item
    rows = [ItemHash(item_id=item_id, at_ms=f.at_ms, h0=f.hash.signed[0], h1=f.hash.signed[1], h2=f.hash.signed[2],
                     h3=f.hash.signed[3], quality=f.hash.quality, created_at=now) for f in hashes]
    before = ItemHash.objects.filter(item_id=item_id).count()
    ItemHash.objects.bulk_create(rows, ignore_conflicts=True)
    return ItemHash.objects.filter(item_id=item_id).count() - before


def hash_stored_item(item_id: uuid.UUID | str, *, now: datetime, check_block_list: bool = True) -> str:
    """Hash an item's stored content (the job behind a registered video). Safe to run again: an item with
    hashes is skipped. Returns a short outcome code (never content or names)."""
    from dsr import vault

    item = DataItem.objects.filter(pk=item_id).first()
    if item is None or item.purged_at is not None or not item.has_content:
        return "gone"
    if ItemHash.objects.filter(item=item).exists():
        return "already"
    kind = (item.content_type or "").split(";")[0].strip().lower()
    if not (kind.startswith("image/") or kind.startswith("video/")):
        return "not-visual"
    if item.size > MAX_VIDEO_BYTES:
        return "too-large"
    try:
        data = vault.read_item(item)
    except vault.VaultError:
        return "unreadable"
    try:
        hashes = hash_content(data, kind)
    except NotHashable as exc:
        log.info("item %s not hashed: %s", item.pk, exc)
        return "not-hashable"
    finally:
        del data
    with transaction.atomic():
        added = record_hashes(item, hashes, now=now)
        if check_block_list:
            _check_after_ingest(item, hashes, now=now)
    return f"hashed={added}"


def enqueue_hashing(item_id: uuid.UUID | str) -> None:
    """After commit: hash a stored item in a job (ids only in the task)."""
    item_id = str(item_id)

    def go() -> None:
        from django_q.tasks import async_task

        async_task("dsr.jobs.hash_item", item_id, task_name=f"hash-{item_id}")

    transaction.on_commit(go)


def purge_hashes_of_erased_items() -> int:
    """Hashes of items whose content is gone (retention, erasure) go too; a removed item's hashes were copied to
    the block list first (dsr/takedowns.py)."""
    deleted, _ = ItemHash.objects.filter(item__purged_at__isnull=False).delete()
    return deleted


# --- the in-memory indexes ------------------------------------------------------------------------------------


class _Loaded:
    """One process's copy of a table of hashes, topped up by id and rebuilt now and then."""

    def __init__(self, model: type[ItemHash] | type[BlockedHash]) -> None:
        self.model = model
        self.lock = threading.Lock()
        self.index: HashIndex | None = None
        self.loaded_upto = 0
        self.built_at = 0.0
        self.db_alias = ""

    def _rows(self, after: int) -> np.ndarray:
        table = self.model._meta.db_table
        extra = " AND lifted_at IS NULL" if self.model is BlockedHash else ""
        sql = (f"SELECT id, h0, h1, h2, h3 FROM {table} WHERE id > %s AND quality >= %s{extra} "  # noqa: S608
               "ORDER BY id")
        with connection.cursor() as cur:
            cur.execute(sql, [after, MIN_QUALITY])
            rows = cur.fetchall()
        return np.array(rows, dtype=np.int64).reshape(-1, 5)

    def _max_id(self) -> int:
        with connection.cursor() as cur:
            cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.model._meta.db_table}")  # noqa: S608
            return int(cur.fetchone()[0])

    def get(self) -> HashIndex:
        with self.lock:
            stale = (self.index is None or time.monotonic() - self.built_at > REBUILD_SECONDS
                     or self.db_alias != _db_identity())
            if stale:
                self.index, self.loaded_upto = HashIndex(), 0
                self.built_at = time.monotonic()
                self.db_alias = _db_identity()
            elif self.loaded_upto and self._max_id() < self.loaded_upto:
                # Rows the index holds were rolled back or deleted at the top of the id range: start again.
                self.index, self.loaded_upto = HashIndex(), 0
            rows = self._rows(self.loaded_upto)
            if len(rows):
                self.index.add_many(rows[:, 0], rows[:, 1:])  # type: ignore[union-attr]
                self.loaded_upto = int(rows[-1, 0])
            return self.index  # type: ignore[return-value]

    def reset(self) -> None:
        with self.lock:
            self.index, self.loaded_upto = None, 0


def _db_identity() -> str:
    # Tests create and flush databases under one process; a different database means a different index.
    return f"{connection.settings_dict.get('NAME')}"


HELD = _Loaded(ItemHash)
BLOCKED = _Loaded(BlockedHash)


def reset_indexes() -> None:
    """Forget the in-memory indexes (tests that flush tables; rebuilding happens on the next query)."""
    HELD.reset()
    BLOCKED.reset()


@dataclass(frozen=True)
class HeldMatch:
    item_id: uuid.UUID
    at_ms: int
    distance: int
    hash: Hash


def held_matches(hashes: Iterable[Hash], *, max_distance: int | None = None,
                 exclude_items: Iterable[uuid.UUID] = ()) -> list[HeldMatch]:
    """Every live item holding a hash within the distance of any of ``hashes``: its nearest frame per item."""
    limit = match_distance() if max_distance is None else max_distance
    hashes = list(hashes)
    index = HELD.get()
    found: dict[int, int] = {}
    for h in hashes:
        if not h.matchable:
            continue
        for key, dist in index.query(h, limit):
            found[key] = min(dist, found.get(key, 999))
    if not found:
        return []
    excluded = set(exclude_items)
    queries = [h for h in hashes if h.matchable]
    best: dict[uuid.UUID, HeldMatch] = {}
    rows = ItemHash.objects.filter(pk__in=list(found), item__purged_at__isnull=True).values_list(
        "item_id", "at_ms", "h0", "h1", "h2", "h3", "quality")
    for item_id, at_ms, h0, h1, h2, h3, quality in rows:
        if item_id in excluded:
            continue
        held = Hash.from_signed((h0, h1, h2, h3), quality)
        # The distance is taken again from the row as read now: the index may be older than the table.
        dist = min(hamming(held, q) for q in queries)
        if dist > limit:
            continue
        m = HeldMatch(item_id, at_ms, dist, held)
        if item_id not in best or m.distance < best[item_id].distance:
            best[item_id] = m
    return sorted(best.values(), key=lambda m: (m.distance, str(m.item_id)))


@dataclass(frozen=True)
class BlockMatch:
    blocked: BlockedHash
    distance: int
    hash: Hash


def block_list_match(hashes: Iterable[Hash], _retry: bool = True) -> BlockMatch | None:
    """The nearest block-listed hash within the match distance of any of ``hashes`` (None: no match)."""
    hashes = [h for h in hashes if h.matchable]
    if not hashes or not BlockedHash.objects.filter(lifted_at__isnull=True).exists():
        return None
    index = BLOCKED.get()
    best: tuple[int, int, Hash] | None = None
    for h in hashes:
        for key, dist in index.query(h, match_distance()):
            if best is None or dist < best[1]:
                best = (key, dist, h)
            break  # nearest first
    if best is None:
        return None
    row = BlockedHash.objects.filter(pk=best[0], lifted_at__isnull=True).select_related("takedown").first()
    if row is None or hamming(row.hash, best[2]) > match_distance():
        # Lifted or changed since this process loaded the list: load it again and look once more.
        if _retry:
            BLOCKED.reset()
            return block_list_match(hashes, _retry=False)
        return None
    return BlockMatch(row, hamming(row.hash, best[2]), best[2])


# --- refusing re-uploads ---------------------------------------------------------------------------------------


class BlockedUpload(Exception):
    """An upload matched the block list; the refusal is recorded on the takedown. The message is safe to show."""

    code = "takedown_block_list_match"

    def __init__(self, match: BlockMatch) -> None:
        super().__init__("this content matches content removed after a takedown request and cannot be uploaded")
        self.match = match


def refuse_if_blocked(hashes: Iterable[Hash], *, actor: str, now: datetime, route: str,
                      uploader_ref: str = "") -> None:
    """Raise BlockedUpload (after recording the refusal on the takedown, committed) when any hash matches."""
    match = block_list_match(list(hashes))
    if match is None:
        return
    record_reupload_block(match, actor=actor, now=now, route=route, uploader_ref=uploader_ref)
    raise BlockedUpload(match)


def record_reupload_block(match: BlockMatch, *, actor: str, now: datetime, route: str, uploader_ref: str) -> None:
    with transaction.atomic():
        block = ReuploadBlock.objects.create(
            takedown=match.blocked.takedown, blocked_hash=match.blocked, distance=match.distance, pdq=match.hash.hex,
            at=now, actor=actor[:64], uploader_ref=uploader_ref[:40], route=route[:32])
        audit.record("takedown.reupload_blocked", actor=actor, now=now, object_type="takedown",
                     object_id=match.blocked.takedown_id, subject_ref=uploader_ref,
                     data={"block": block.pk, "distance": match.distance, "route": route,
                           "blocked_item": str(match.blocked.item_id)})


def _check_after_ingest(item: DataItem, hashes: Sequence[FrameHash], *, now: datetime) -> None:
    """A video hashed after it was stored that matches the block list: block it at once and list it on the
    takedown as a copy for the operator (it could not be refused at upload: it was hashed later)."""
    match = block_list_match([f.hash for f in hashes])
    if match is None:
        return
    from dsr import takedown_copies

    try:
        with transaction.atomic():
            takedown_copies.list_copy_after_ingest(match.blocked.takedown, item, match, now=now)
    except IntegrityError:  # already listed by an earlier run of this job
        pass
