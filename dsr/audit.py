"""Writing and verifying the hash-chained audit trail (design.md "Audit", security.md "Audit")."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction

from dsr import keys
from dsr.models.audit import GENESIS, Event

# Any constant works; it only has to be the same for every writer of the chain.
_CHAIN_LOCK_KEY = 0x64737261  # "dsra"


def subject_reference(subject_id: uuid.UUID | str) -> str:
    """Keyed hash of a subject id: lets an auditor match events to a subject they can name, yet reveals
    nothing once the subject row is erased."""
    digest = hmac.new(keys.pseudonym_key(), str(subject_id).encode(), hashlib.sha256).hexdigest()
    return "sub_" + digest[:32]


def _lock_chain() -> None:
    """Serialise appends so two transactions never chain onto the same head."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    # SQLite: dsr opens write transactions IMMEDIATE (settings), so writers are already serialised.


def record(
    kind: str,
    *,
    actor: str,
    now: datetime,
    object_type: str = "",
    object_id: object = "",
    subject_ref: str = "",
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one event in the caller's transaction. ``data`` holds ids, kinds and counts only."""
    if now.tzinfo is None:
        raise ValueError("audit times must be aware")
    # Hash the instant as the database will give it back (UTC): an aware time in another zone would
    # otherwise hash as "+01:00" at write time and "+00:00" at verification, a false "edited" break.
    now = now.astimezone(UTC)
    with transaction.atomic():
        _lock_chain()
        head = Event.objects.order_by("-id").values_list("hash", flat=True).first()
        event = Event(
            at=now,
            kind=kind,
            actor=actor[:64],
            subject_ref=subject_ref,
            object_type=object_type,
            object_id=str(object_id) if object_id else "",
            data=data or {},
            prev_hash=head or GENESIS,
            hash="pending-" + uuid.uuid4().hex,
        )
        event.save()
        # The id is part of the hashed payload, so the hash is set once the row has one.
        event.hash = event.compute_hash()
        Event.objects.filter(pk=event.pk).update(hash=event.hash)
        return event


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def iter_breaks(batch: int = 2000) -> Iterator[ChainBreak]:
    """Walk the chain in id order; yield each row whose content or link does not verify."""
    prev = GENESIS
    last_id = 0
    while True:
        rows = list(Event.objects.filter(id__gt=last_id).order_by("id")[:batch])
        if not rows:
            return
        for ev in rows:
            if ev.prev_hash != prev:
                yield ChainBreak(ev.pk, "link to the previous event does not match (a row was removed or reordered)")
            elif ev.compute_hash() != ev.hash:
                yield ChainBreak(ev.pk, "content does not match its hash (the row was edited)")
            prev = ev.hash
            last_id = ev.pk


def first_break() -> ChainBreak | None:
    return next(iter_breaks(), None)
