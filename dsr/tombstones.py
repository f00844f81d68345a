"""Tombstones: what a whole-subject erasure leaves, so that restoring a backup cannot bring the subject back
(security.md "Crypto-shredding pitfalls"; legal-matrix §3.4 "re-deletion on restore").

A tombstone is the subject id and keyed hashes (HMAC-SHA256 under the pseudonym key) of its e-mail address and
account id: nothing readable. It is written twice: a row in the database, and a file in the tombstone directory
(``DSR_TOMBSTONE_DIR``, default ``<DSR_DATA_DIR>/tombstones``), which lives outside the database and must not be
restored from the same backup. After a restore, ``manage.py replay_erasures`` re-erases every tombstoned subject
the restored database still holds — matched by id, or by an identifier hash — before the service is started.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction

from dsr import audit, keys
from dsr.models import DataItem, Subject, SubjectKey, Tombstone
from dsr.models.vault import normalise_email


def tombstone_dir() -> Path:
    configured = getattr(settings, "DSR_TOMBSTONE_DIR", None)
    return Path(configured) if configured else Path(settings.DSR_DATA_DIR) / "tombstones"


def identifier_hash(kind: str, value: str) -> str:
    if kind == "email":
        try:
            value = normalise_email(value)
        except ValueError:
            value = value.strip().lower()
    message = f"dsr-tombstone-v1|{kind}:{value}".encode()
    return hmac.new(keys.pseudonym_key(), message, hashlib.sha256).hexdigest()


def hashes_of(subject: Subject) -> list[str]:
    out = []
    if subject.email:
        out.append(identifier_hash("email", subject.email))
    if subject.account_id:
        out.append(identifier_hash("account_id", subject.account_id))
    return out


def record(subject: Subject, *, erasure_id: uuid.UUID | None, now: datetime) -> Tombstone:
    """Write (or complete) the subject's tombstone: the row in the caller's transaction, the file at once (an
    extra file for a subject whose erasure then rolled back is harmless: it was past its grace window)."""
    hashes = hashes_of(subject)
    stone, created = Tombstone.objects.get_or_create(
        subject_id=subject.pk,
        defaults={"identifier_hashes": hashes, "erased_at": now, "erasure_id": erasure_id or uuid.uuid4()})
    if not created and set(hashes) - set(stone.identifier_hashes):
        stone.identifier_hashes = sorted(set(stone.identifier_hashes) | set(hashes))
        stone.save(update_fields=["identifier_hashes"])
    _write_file(stone)
    return stone


def _write_file(stone: Tombstone) -> None:
    directory = tombstone_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{stone.subject_id}.json"
    tmp = directory / f".{stone.subject_id}.{uuid.uuid4().hex}.tmp"
    data = {"subject_id": str(stone.subject_id), "identifier_hashes": sorted(stone.identifier_hashes),
            "erased_at": stone.erased_at.isoformat(), "erasure_id": str(stone.erasure_id)}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def known() -> dict[uuid.UUID, set[str]]:
    """Every tombstone: the directory's files and the database's rows (a restored database may lack the newest)."""
    out: dict[uuid.UUID, set[str]] = {}
    directory = tombstone_dir()
    if directory.is_dir():
        for path in sorted(directory.glob("*.json")):
            data = json.loads(path.read_text())
            out.setdefault(uuid.UUID(data["subject_id"]), set()).update(data.get("identifier_hashes", []))
    for subject_id, hashes in Tombstone.objects.values_list("subject_id", "identifier_hashes"):
        out.setdefault(subject_id, set()).update(hashes or [])
    return out


@dataclass
class Replay:
    tombstones: int = 0
    subjects: list[uuid.UUID] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _needs_erasing(subject: Subject) -> bool:
    return bool(subject.email or subject.account_id or subject.erased_at is None
                or SubjectKey.objects.filter(subject=subject).exclude(wrapped="").exists()
                or DataItem.objects.filter(holders__subject=subject).exists())


def replay(*, actor: str, now: datetime, dry_run: bool = False) -> Replay:
    """Re-erase every tombstoned subject that a restored database still holds (by id or identifier hash):
    destroy its key, erase its items, what was derived from them and every holder's records, again. Idempotent."""
    from dsr import cascade, holders, taskrows, vault

    stones = known()
    result = Replay(tombstones=len(stones))
    by_hash = {h: sid for sid, hs in stones.items() for h in hs}
    candidates: dict[uuid.UUID, Subject] = {s.pk: s for s in Subject.objects.filter(pk__in=list(stones))}
    if by_hash:
        for s in Subject.objects.filter(erased_at__isnull=True).exclude(pk__in=list(candidates)).iterator():
            if any(h in by_hash for h in hashes_of(s)):
                candidates[s.pk] = s
    for subject in candidates.values():
        if not _needs_erasing(subject):
            continue
        result.subjects.append(subject.pk)
        if dry_run:
            continue
        ctx = cascade.PlainContext(now)
        items = list(DataItem.objects.filter(holders__subject=subject).values_list("pk", flat=True))
        with transaction.atomic():
            for key, value in taskrows.scrub(taskrows.Needles.of(
                    [subject.pk, *items], [subject.email or "", subject.account_id or ""])).items():
                result.counts[f"queue.{key}"] = result.counts.get(f"queue.{key}", 0) + value
        Subject.objects.filter(pk=subject.pk, writes_blocked_at__isnull=True).update(writes_blocked_at=now)
        if SubjectKey.objects.filter(subject=subject, destroyed_at__isnull=True).exists():
            vault.destroy_subject_key(subject, actor=actor, now=now, erasure_replay=True)
        for holder in holders.HOLDERS:
            if holder.erase is not None:
                for key, value in holder.erase(subject, ctx).items():
                    result.counts[f"{holder.name}.{key}"] = result.counts.get(f"{holder.name}.{key}", 0) + value
        with transaction.atomic():
            audit.record("erasure.replayed", actor=actor, now=now, object_type="subject", object_id=subject.pk,
                         subject_ref=subject.reference)
    return result
