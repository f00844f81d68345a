"""The vault's verbs: subjects, keys, items, lineage, consent. Each writes its audit event in the same
transaction as the change (design.md "Where logic lives"); callers pass ``actor`` and ``now``.

Key hierarchy (design.md "Encryption"): the key ring wraps one random data key per subject; each item's
content key is derived from the data keys of *all* the subjects it belongs to
(``crypto.derive_item_key``), so a video made from two people's photos becomes unreadable when either
person's key is destroyed.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from dsr import audit, crypto, storage
from dsr.keys import get_keyring
from dsr.models import (
    CategoryPolicy,
    Consent,
    DataItem,
    Derivation,
    Holding,
    ProcessingActivity,
    Subject,
    SubjectKey,
)
from dsr.models.vault import derived_item_ids, normalise_email

logger = logging.getLogger(__name__)

INLINE_LIMIT = 64 * 1024
# Small structured records live sealed in the database; media always goes to blob storage.
INLINE_CATEGORIES = frozenset(
    {"ip_log", "upload_metadata", "preferences", "consent_record", "account_profile", "face_embedding"}
)


class VaultError(Exception):
    """A refused vault operation; the message is safe to show (ids only, no personal data)."""


class KeyDestroyed(VaultError):
    pass


class WritesBlocked(VaultError):
    pass


class ContentUnavailable(VaultError):
    """Stored content that cannot be read back: the message names the kind of failure, never a path."""


class ContentCorrupt(ContentUnavailable):
    """The ciphertext failed authentication (tampered, truncated, or swapped)."""


class ContentMissing(ContentUnavailable):
    """The blob is not in storage."""


class KeyUnavailable(ContentUnavailable):
    """The ring key that wrapped a data key is not in the key ring (a configuration fault, not an erasure)."""


def _key_context(subject_id: uuid.UUID) -> bytes:
    return f"dsr-subject-key-v1|subject:{subject_id}".encode()


def item_aad(item: DataItem, subject_ids: Sequence[uuid.UUID]) -> bytes:
    """Associated data binding a blob to its item, subjects, category and purpose, so ciphertext moved
    to another item or subject fails to open."""
    subjects = ",".join(str(s) for s in sorted(subject_ids))
    return f"dsr-item-v1|item:{item.pk}|subjects:{subjects}|category:{item.category}|purpose:{item.purpose}".encode()


def meta_aad(item: DataItem, subject_ids: Sequence[uuid.UUID]) -> bytes:
    """The metadata blob is bound like the content, and to being metadata (so the two cannot be swapped)."""
    return item_aad(item, subject_ids) + b"|part:meta"


# --- subjects and keys ------------------------------------------------------------------------------


def create_subject(
    *,
    actor: str,
    now: datetime,
    email: str | None = None,
    account_id: str | None = None,
    kind: str = Subject.Kind.ACCOUNT_HOLDER,
) -> Subject:
    """Create a subject with a fresh wrapped data key. Steps: normalise identifiers, insert the subject,
    wrap a new data key under the active ring key, write ``subject.created``."""
    norm_email = normalise_email(email) if email else None
    if not norm_email and not account_id:
        raise VaultError("a subject needs an e-mail address or an account id")
    ring = get_keyring()  # fail closed before anything is written
    with transaction.atomic():
        subject_id = uuid.uuid4()
        subject = Subject.objects.create(
            id=subject_id,
            kind=kind,
            email=norm_email,
            account_id=account_id or None,
            reference=audit.subject_reference(subject_id),
            created_at=now,
        )
        SubjectKey.objects.create(
            subject=subject,
            wrapped=ring.wrap(crypto.new_data_key(), context=_key_context(subject_id)),
            ring_key_id=ring.active_id,
            created_at=now,
        )
        audit.record(
            "subject.created",
            actor=actor,
            now=now,
            object_type="subject",
            object_id=subject.pk,
            subject_ref=subject.reference,
            data={"kind": kind},
        )
    return subject


class IdentifierConflict(VaultError):
    """The identifiers given do not all belong to one subject (or one is missing from the subject found)."""


def find_or_create_subject(
    *, actor: str, now: datetime, email: str | None = None, account_id: str | None = None, kind: str | None = None
) -> tuple[Subject, bool]:
    """The one subject with these identifiers, created if there is none. Race-free: concurrent callers with
    the same new identifier all get the one subject (the loser of the insert race re-reads the winner's row).
    Raises IdentifierConflict when the e-mail and the account id point to different subjects, or when the
    subject found lacks or differs in an identifier given: nothing given is silently dropped."""
    found = _find_exact(email=email, account_id=account_id)
    if found is not None:
        return found, False
    try:
        with transaction.atomic():  # a savepoint, so the caller's transaction survives the lost race
            subject = create_subject(
                actor=actor, now=now, email=email, account_id=account_id, kind=kind or Subject.Kind.ACCOUNT_HOLDER
            )
        return subject, True
    except IntegrityError:
        # Another transaction created a subject with one of these identifiers since we looked; the unique
        # index made our insert wait for it to commit, so it is visible now.
        found = _find_exact(email=email, account_id=account_id)
        if found is None:
            raise
        return found, False


def set_residence(subject: Subject, code: str, *, actor: str, now: datetime) -> bool:
    """Record where the person lives (ISO 3166, dsr/residence.py): breach scoping counts people per
    jurisdiction and the breach clocks follow it (issue 12). Writes ``subject.residence_set`` (the field name
    only) when it changes; returns whether it did."""
    from dsr import residence

    code = residence.normalise(code)
    with transaction.atomic():
        _require_writable([subject.pk])
        changed = Subject.objects.filter(pk=subject.pk).exclude(residence=code).update(residence=code)
        subject.residence = code
        if changed:
            Holding.objects.filter(subject_id=subject.pk).update(subject_residence=code)  # breach scoping's copy
            audit.record("subject.residence_set", actor=actor, now=now, object_type="subject", object_id=subject.pk,
                         subject_ref=subject.reference, data={"field": "residence"})
    return bool(changed)


def _find_exact(*, email: str | None, account_id: str | None) -> Subject | None:
    found = list(Subject.objects.by_identifier(email=email, account_id=account_id)[:2])
    if len(found) > 1:
        raise IdentifierConflict("the e-mail address and the account id belong to different subjects")
    if not found:
        return None
    subject = found[0]
    if email and subject.email != normalise_email(email):
        raise IdentifierConflict("the subject with this account id has a different or no e-mail address on file")
    if account_id and subject.account_id != account_id:
        raise IdentifierConflict("the subject with this e-mail address has a different or no account id on file")
    return subject


def data_key(subject_id: uuid.UUID) -> bytes:
    """Unwrap a subject's data key, every time: never cached (a destroyed key must not live on)."""
    row = SubjectKey.objects.filter(subject_id=subject_id).only("wrapped", "destroyed_at").first()
    if row is None or row.destroyed_at is not None or not row.wrapped:
        raise KeyDestroyed(f"the data key of subject {subject_id} has been destroyed")
    return get_keyring().unwrap(row.wrapped, context=_key_context(subject_id))


def destroy_subject_key(subject: Subject, *, actor: str, now: datetime, erasure_replay: bool = False) -> bool:
    """Crypto-shred: blank the wrapped key so every blob and every item's metadata sealed under it becomes
    unreadable, in storage and in every backup taken from now on. Steps: lock the key row, blank it and
    mark its old bytes for purging, write ``subject.key_destroyed``; after commit a job removes the old bytes
    from the live database files (dsr/keystore.py: SQLite WAL checkpoint, PostgreSQL VACUUM FULL).
    Returns False if it was already destroyed (the purge is still re-enqueued: it is idempotent). Outside a
    legitimate erasure, an availability breach is opened too (dsr/breaches.py)."""
    with transaction.atomic():
        row = SubjectKey.objects.select_for_update().get(subject=subject)
        subject_id = str(subject.pk)
        transaction.on_commit(lambda: _enqueue_key_purge(subject_id))
        if row.destroyed_at is not None:
            return False
        row.wrapped = ""
        row.destroyed_at = now
        row.purge_pending = True
        row.save(update_fields=["wrapped", "destroyed_at", "purge_pending"])
        audit.record(
            "subject.key_destroyed",
            actor=actor,
            now=now,
            object_type="subject",
            object_id=subject.pk,
            subject_ref=subject.reference,
        )
        # Issue 12: a destruction outside an erasure of this subject in its shred step (or the replay of an
        # erasure a tombstone records) is erroneous by definition — the person's data is lost for good, an
        # availability breach, opened in this same transaction.
        from dsr import breaches

        if not erasure_replay and not breaches.destruction_is_legitimate(subject):
            breaches.open_key_destruction_breach(subject, actor=actor, now=now,
                                                 why="destroyed outside an erasure's shred step")
    return True


def _enqueue_key_purge(subject_id: str) -> None:
    from django_q.tasks import async_task

    async_task("dsr.jobs.purge_old_key_bytes", subject_id, task_name=f"key-purge-{subject_id}")


def rotate_keys(*, actor: str, now: datetime, batch: int = 500) -> int:
    """Re-wrap every live data key under the newest ring key. Data keys do not change, so no blob is
    touched. Safe to run again after an interruption: rows already under the active key are skipped."""
    ring = get_keyring()
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                SubjectKey.objects.select_for_update()
                .filter(destroyed_at__isnull=True)
                .exclude(ring_key_id=ring.active_id)
                .order_by("subject_id")[:batch]
            )
            if not rows:
                break
            for row in rows:
                row.wrapped = ring.rewrap(row.wrapped, context=_key_context(row.subject_id))
                row.ring_key_id = ring.active_id
                row.rotated_at = now
                row.purge_pending = True  # the wrap under the old ring key lingers until purged
            SubjectKey.objects.bulk_update(rows, ["wrapped", "ring_key_id", "rotated_at", "purge_pending"])
            audit.record(
                "keyring.rewrapped",
                actor=actor,
                now=now,
                object_type="keyring",
                object_id=ring.active_id,
                data={"count": len(rows)},
            )
            total += len(rows)
    return total


# --- items ------------------------------------------------------------------------------------------


@dataclass
class NewItem:
    category: str
    purpose: str
    holders: list[tuple[Subject, str]]
    content: bytes | BinaryIO | None = None
    content_type: str = "application/octet-stream"
    source: str = "platform"
    derived_from: list[DataItem] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)


def _item_key(subject_ids: Sequence[uuid.UUID], item_id: uuid.UUID) -> bytes:
    try:
        keys = [data_key(sid) for sid in sorted(subject_ids)]
    except crypto.KeyNotFound as exc:
        raise KeyUnavailable(f"item {item_id}: a data key was wrapped by a ring key that is not configured") from exc
    except crypto.IntegrityError as exc:
        raise KeyUnavailable(f"item {item_id}: a data key does not unwrap with the configured ring") from exc
    return crypto.derive_item_key(keys, item_id=item_id.bytes)


def store_item(new: NewItem, *, actor: str, now: datetime) -> DataItem:
    """Encrypt and store one item. Steps: check the tombstone gate of every holder, seal the content
    under the item key (streamed to blob storage, or inline when small), then in one transaction insert
    the item, its holders and lineage, start the parents' retention clocks, and write ``item.stored``.
    If the transaction fails the blob is removed again; nothing half-stored stays visible."""
    holders = _dedupe_holders(new.holders, new.derived_from)
    if not holders:
        raise VaultError("an item needs at least one subject")
    subject_ids = [s.pk for s, _ in holders]
    blocked = Subject.objects.filter(pk__in=subject_ids).filter(
        Q(writes_blocked_at__isnull=False) | Q(erased_at__isnull=False)
    )
    if blocked.exists():
        raise WritesBlocked("a subject of this item is being erased; no new data is accepted")

    if not isinstance(new.attributes, dict):
        raise VaultError("attributes must be a JSON object")
    item = DataItem(
        id=uuid.uuid4(),
        category=new.category,
        purpose=new.purpose,
        created_at=now,
        content_type=new.content_type if new.content is not None else "",
    )
    policy = CategoryPolicy.objects.filter(category=new.category).first()
    if policy:
        item.expires_at = policy.expiry_after_creation(now)

    key = _item_key(subject_ids, item.pk)
    try:
        meta = json.dumps({"source": new.source, "attributes": new.attributes}, sort_keys=True).encode()
    except (TypeError, ValueError) as exc:
        raise VaultError("attributes must be JSON-serialisable") from exc
    item.sealed_meta = crypto.seal(key, meta, aad=meta_aad(item, subject_ids))
    blob_name = ""
    if new.content is not None:
        aad = item_aad(item, subject_ids)
        src = io.BytesIO(new.content) if isinstance(new.content, bytes | bytearray) else new.content
        if (
            isinstance(new.content, bytes | bytearray)
            and len(new.content) <= INLINE_LIMIT
            and new.category in INLINE_CATEGORIES
        ):
            item.sealed_inline = crypto.seal(key, bytes(new.content), aad=aad)
            item.size = len(new.content)
            item.stored_size = len(item.sealed_inline)
        else:
            written = storage.write_sealed(key, src, aad=aad)
            blob_name = item.blob_name = written.name
            item.size, item.stored_size = written.plain_size, written.stored_size
    try:
        with transaction.atomic():
            _require_writable(subject_ids, [p.pk for p in new.derived_from])
            item.save(force_insert=True)
            # Read under the share lock _require_writable took, so a concurrent set_residence waits for us and
            # then updates this holding too.
            residences = dict(Subject.objects.filter(pk__in=subject_ids).values_list("pk", "residence"))
            Holding.objects.bulk_create([
                Holding(item=item, subject=s, role=role, item_category=item.category, item_purpose=item.purpose,
                        item_in_blob=bool(item.blob_name), item_created_at=item.created_at,
                        subject_residence=residences.get(s.pk, ""), item_first=n == 0)
                for n, (s, role) in enumerate(holders)
            ])
            if new.derived_from:
                Derivation.objects.bulk_create(
                    [Derivation(parent=p, child=item, created_at=now) for p in new.derived_from]
                )
                _start_retention_after_derivation(new.derived_from, now)
            audit.record(
                "item.stored",
                actor=actor,
                now=now,
                object_type="item",
                object_id=item.pk,
                data={
                    "category": item.category,
                    "purpose": item.purpose,
                    "subjects": [s.reference for s, _ in holders],
                    "derived_from": [str(p.pk) for p in new.derived_from],
                    "size": item.size,
                },
            )
    except BaseException:
        if blob_name:
            storage.delete_blob(blob_name)
        raise
    return item


def _require_writable(subject_ids: Sequence[uuid.UUID], parent_ids: Sequence[uuid.UUID] = ()) -> None:
    """The erasure gate, checked inside the writer's transaction (issue 9 §2): the subjects' rows are share-locked,
    so an erasure approved while this upload was sealing waits for it to commit (and its manifest then lists the
    item), or — if it came first — this write is refused and rolls back (its blob is removed by the caller).
    Deriving from an item that an erasure is taking is refused too."""
    from dsr.models import ErasureTarget
    from dsr.models.erasure import ACTIVE_ERASURE_STATES

    ids = sorted({uuid.UUID(str(s)) for s in subject_ids})
    if connection.vendor == "postgresql" and ids:
        with connection.cursor() as cur:
            cur.execute(f"SELECT id FROM {Subject._meta.db_table} WHERE id = ANY(%s) FOR SHARE", [ids])  # noqa: S608
    if Subject.objects.filter(pk__in=ids).filter(
            Q(writes_blocked_at__isnull=False) | Q(erased_at__isnull=False)).exists():
        raise WritesBlocked("a subject of this item is being erased; no new data is accepted")
    if parent_ids and ErasureTarget.objects.filter(item_id__in=list(parent_ids),
                                                   erasure__state__in=ACTIVE_ERASURE_STATES).exists():
        raise WritesBlocked("an item this is derived from is being erased")


def _dedupe_holders(
    holders: Iterable[tuple[Subject, str]], parents: Iterable[DataItem]
) -> list[tuple[Subject, str]]:
    """The explicit holders, plus every subject of every parent: a derivative is their data too."""
    seen: dict[uuid.UUID, tuple[Subject, str]] = {}
    for subject, role in holders:
        seen.setdefault(subject.pk, (subject, role))
    parent_ids = [p.pk for p in parents]
    if parent_ids:
        for h in Holding.objects.filter(item_id__in=parent_ids).select_related("subject"):
            seen.setdefault(h.subject_id, (h.subject, Holding.Role.DERIVED))
    return list(seen.values())


def _start_retention_after_derivation(parents: Iterable[DataItem], now: datetime) -> None:
    """Retention default: a source photo goes 24 h after the first item derived from it (issue 2 §6)."""
    policies = {p.category: p for p in CategoryPolicy.objects.all()}
    for parent in parents:
        policy = policies.get(parent.category)
        if policy is None or parent.expires_at is not None:
            continue
        expires = policy.expiry_after_first_derivative(now)
        if expires is not None:
            DataItem.objects.filter(pk=parent.pk, expires_at__isnull=True).update(expires_at=expires)


def open_item(item: DataItem) -> Iterator[bytes]:
    """Decrypted content, streamed. Raises KeyDestroyed if any holder's key is gone, and a
    ContentUnavailable subclass when the stored bytes cannot be read back. A failure can come after some
    chunks were yielded (a blob tampered past its first chunk): a consumer must then discard them all."""
    if item.purged_at is not None or not item.has_content:
        raise VaultError(f"item {item.pk} has no content")
    subject_ids = list(item.holders.values_list("subject_id", flat=True))
    try:
        key = _item_key(subject_ids, item.pk)
        aad = item_aad(item, subject_ids)
        if item.sealed_inline is not None:
            yield crypto.open_sealed(key, bytes(item.sealed_inline), aad=aad)
            return
        yield from storage.read_sealed(key, item.blob_name, aad=aad)
    except crypto.IntegrityError as exc:
        logger.error("item %s failed its integrity check: %s", item.pk, exc)
        raise ContentCorrupt(f"item {item.pk}: the stored content failed its integrity check") from exc
    except FileNotFoundError as exc:
        logger.error("item %s: blob missing from storage", item.pk)
        raise ContentMissing(f"item {item.pk}: the stored content is missing") from exc
    except OSError as exc:
        logger.error("item %s: storage error %s", item.pk, type(exc).__name__)
        raise ContentMissing(f"item {item.pk}: the stored content could not be read") from exc


@dataclass(frozen=True)
class ItemMeta:
    """An item's sealed metadata. ``state`` is "sealed" (readable: ``source``/``attributes`` set), "erased"
    (a holder's key is destroyed: unreadable for good) or "purged" (deleted with the content)."""

    state: str
    source: str | None = None
    attributes: dict | None = None


def item_metadata(items: Iterable[DataItem]) -> dict[uuid.UUID, ItemMeta]:
    """Open the sealed metadata of many items, unwrapping each holder's data key once for the whole call
    (keys live only in this call's frame, never in a cache that outlives it)."""
    items = list(items)
    holders: dict[uuid.UUID, list[uuid.UUID]] = {i.pk: [] for i in items}
    for item_id, subject_id in Holding.objects.filter(item_id__in=list(holders)).values_list("item_id", "subject_id"):
        holders[item_id].append(subject_id)
    data_keys: dict[uuid.UUID, bytes | None] = {}
    out: dict[uuid.UUID, ItemMeta] = {}
    for item in items:
        if item.sealed_meta is None:
            out[item.pk] = ItemMeta("purged" if item.purged_at is not None else "erased")
            continue
        subject_ids = sorted(holders[item.pk])
        keys = []
        for sid in subject_ids:
            if sid not in data_keys:
                try:
                    data_keys[sid] = data_key(sid)
                except KeyDestroyed:
                    data_keys[sid] = None
                except (crypto.KeyNotFound, crypto.IntegrityError) as exc:
                    raise KeyUnavailable(f"item {item.pk}: a data key does not unwrap with the ring") from exc
            keys.append(data_keys[sid])
        if not subject_ids or any(k is None for k in keys):
            out[item.pk] = ItemMeta("erased")
            continue
        key = crypto.derive_item_key(keys, item_id=item.pk.bytes)  # type: ignore[arg-type]
        try:
            meta = json.loads(crypto.open_sealed(key, bytes(item.sealed_meta), aad=meta_aad(item, subject_ids)))
        except crypto.IntegrityError as exc:
            raise ContentCorrupt(f"item {item.pk}: its metadata failed its integrity check") from exc
        out[item.pk] = ItemMeta("sealed", meta.get("source"), meta.get("attributes"))
    return out


def read_item(item: DataItem) -> bytes:
    return b"".join(open_item(item))


def purge_item(item: DataItem, *, actor: str, now: datetime, reason: str) -> bool:
    """Delete an item's content (retention or erasure) and keep a content-free row for lineage and
    evidence. Idempotent: a second run finds it purged and returns False."""
    with transaction.atomic():
        locked = DataItem.objects.select_for_update().filter(pk=item.pk, purged_at__isnull=True).first()
        if locked is None:
            return False
        blob_name = locked.blob_name
        locked.purged_at = now
        locked.sealed_inline = None
        locked.blob_name = ""
        locked.sealed_meta = None
        locked.save(update_fields=["purged_at", "sealed_inline", "blob_name", "sealed_meta"])
        Holding.objects.filter(item_id=locked.pk).update(item_purged_at=now)  # the copy breach scoping reads
        audit.record(
            "item.purged",
            actor=actor,
            now=now,
            object_type="item",
            object_id=item.pk,
            data={"reason": reason, "category": locked.category},
        )
        if blob_name:
            # Deleted after commit: if the transaction rolls back the item keeps its content.
            transaction.on_commit(lambda: storage.delete_blob(blob_name))
    return True


def holdings(subject: Subject, *, include_purged: bool = False) -> list[DataItem]:
    qs = DataItem.objects.of_subject(subject).prefetch_related("holders", "parent_links")
    if not include_purged:
        qs = qs.live()
    return list(qs.order_by("created_at", "id"))


def derived_items(roots: Iterable[DataItem | uuid.UUID]) -> list[DataItem]:
    ids = derived_item_ids(r.pk if isinstance(r, DataItem) else r for r in roots)
    return list(DataItem.objects.filter(pk__in=ids).order_by("created_at", "id"))


def derived_from_subject(subject: Subject) -> list[DataItem]:
    own = list(DataItem.objects.of_subject(subject).values_list("pk", flat=True))
    return derived_items(own)


# --- consent and processing decisions -------------------------------------------------------------


def record_consent(
    subject: Subject,
    *,
    purpose: str,
    granted_at: datetime,
    actor: str,
    now: datetime,
    item: DataItem | None = None,
    method: str = "in_app",
    notice_version: str = "",
) -> Consent:
    if not ProcessingActivity.objects.filter(purpose=purpose).exists():
        raise VaultError(f"purpose '{purpose}' is not in the processing register")
    if granted_at > now:
        raise VaultError("consent cannot be granted in the future")
    with transaction.atomic():
        _require_writable([subject.pk])
        consent = Consent.objects.create(
            subject=subject,
            item=item,
            purpose=purpose,
            granted_at=granted_at,
            method=method,
            notice_version=notice_version,
            recorded_at=now,
        )
        audit.record(
            "consent.recorded",
            actor=actor,
            now=now,
            object_type="consent",
            object_id=consent.pk,
            subject_ref=subject.reference,
            data={"purpose": purpose, "item": str(item.pk) if item else ""},
        )
    return consent


def withdraw_consent(consent: Consent, *, actor: str, now: datetime) -> bool:
    """G-CW: withdrawal takes effect at once for future processing."""
    with transaction.atomic():
        updated = Consent.objects.filter(pk=consent.pk, withdrawn_at__isnull=True).update(withdrawn_at=now)
        if not updated:
            return False
        audit.record(
            "consent.withdrawn",
            actor=actor,
            now=now,
            object_type="consent",
            object_id=consent.pk,
            subject_ref=consent.subject.reference,
            data={"purpose": consent.purpose},
        )
    consent.withdrawn_at = now
    return True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    legal_basis: str
    reasons: list[str]


def processing_allowed(subject: Subject, purpose: str, *, now: datetime, item: DataItem | None = None) -> Decision:
    """May the platform process ``subject`` (and, if given, ``item``) for ``purpose`` right now?

    Answered from the register and the consent records: the purpose must be registered; a consent-based
    purpose needs the subject's active consent and, for an item, the active consent of every person the
    item belongs to (each person depicted in a photo). Erased or being-erased subjects are never allowed, and
    neither is a purpose stopped by a processing flag (objection, restriction, direct-marketing objection,
    withdrawn consent: dsr/processing.py) of any person the item belongs to or was derived from.
    """
    reasons: list[str] = []
    activity = ProcessingActivity.objects.filter(purpose=purpose).first()
    if activity is None:
        return Decision(False, "", [f"purpose '{purpose}' is not in the processing register"])
    from dsr import processing

    people = [subject]
    if item is not None:
        people += [h.subject for h in item.holders.select_related("subject") if h.subject_id != subject.pk]
        # An objection binds everything derived from the objector's data, whoever else it now belongs to.
        people += [s for s in processing.ancestor_holders(item) if s.pk not in {p.pk for p in people}]
        if item.purged_at is not None:
            reasons.append("the item has been deleted")
    for person in people:
        if person.erased_at is not None or person.writes_blocked_at is not None:
            reasons.append(f"subject {person.reference} is erased or being erased")
    if activity.needs_consent:
        for person in people:
            consents = Consent.objects.active(now).filter(subject=person, purpose=purpose)
            consents = consents.filter(Q(item__isnull=True) | Q(item=item)) if item else consents.filter(item=None)
            if not consents.exists():
                reasons.append(f"no active consent from subject {person.reference} for '{purpose}'")
    if item is not None:
        from dsr import takedowns  # the takedown desk blocks a reported depiction while it is reviewed

        if takedowns.is_blocked(item.pk):
            reasons.append("the item is blocked while a takedown request about it is reviewed")
    reasons += processing.flag_reasons(people, purpose, now)
    return Decision(not reasons, activity.legal_basis, reasons)
