"""Copies of a removed depiction (issue 13; takedown.md "Copies"): a stored item found to match the block list
after ingest, the sweep of every held item against a request's block-listed hashes, and the operator's
confirmation (removed the same way, in a new batch) or dismissal of what the sweep listed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from dsr import takedown_notices, takedowns
from dsr.copies import BlockMatch, held_matches
from dsr.models import DataItem
from dsr.models.takedowns import Takedown, TakedownItem, TakedownRemoval, TakedownState
from dsr.models.vault import derived_item_ids
from dsr.perceptual import Hash

Actor = User | str


def list_copy_after_ingest(td: Takedown, item: DataItem, match: BlockMatch, *, now: datetime) -> None:
    """A stored item found (after ingest) to match the block list: listed on the takedown as a copy and blocked
    at once; the operator confirms its removal."""
    found = (TakedownItem.Role.COPY, TakedownItem.FoundBy.REUPLOAD, match.distance, match.hash.hex)
    rows = takedowns.add_items(td, {item.pk: found}, now=now, block=True)
    takedowns.record_event(td, "copy_found_after_ingest", actor=takedowns.ACTOR, now=now, item=str(item.pk),
                           distance=match.distance)
    # T-DSA (DSA Art. 17): the uploader's statement of reasons goes out as the copy is restricted, by automated means.
    takedown_notices.notify_restriction(td, rows, tag=f"copy:{item.pk}", now=now)


def record_sweep(td: Takedown, *, now: datetime) -> int:
    """Match every block-listed hash of this takedown against everything held; list new matches for the operator
    (not blocked: a match is a candidate until a person confirms it). Returns how many were listed."""
    hashes = [b.hash for b in td.blocked_hashes.filter(lifted_at__isnull=True)]
    if td.ref_pdq and (td.ref_quality or 0) > 0:
        hashes.append(Hash.from_hex(td.ref_pdq, td.ref_quality or 0))
    listed = set(td.items.values_list("item_id", flat=True))
    matches = held_matches(hashes, exclude_items=listed)
    found = {m.item_id: (TakedownItem.Role.COPY, TakedownItem.FoundBy.SWEEP, m.distance, m.hash.hex) for m in matches}
    rows = takedowns.add_items(td, found, now=now, block=False)
    takedowns.record_event(td, "copies_swept", actor=takedowns.ACTOR, now=now, hashes=len(hashes), found=len(rows))
    return len(rows)


def sweep_again(td: Takedown, *, actor: Actor, now: datetime) -> int:
    with transaction.atomic():
        td = takedowns.lock_for_update(td)
        if not td.blocked_hashes.exists() and not td.ref_pdq:
            raise takedowns.TakedownError("nothing to match yet: the block list of this request is empty")
        return record_sweep(td, now=now)


def confirm_copies(td: Takedown, item_ids: Iterable[uuid.UUID | str], *, actor: User, now: datetime
                   ) -> TakedownRemoval:
    """The operator confirms listed copies: they (and what was made from them) are removed the same way, in a
    new batch, and their uploaders get a statement of reasons."""
    ids = {uuid.UUID(str(i)) for i in item_ids}
    if not ids:
        raise takedowns.TakedownError("choose the copies to remove")
    with transaction.atomic():
        td = takedowns.lock_for_update(td)
        if td.decision_valid is not True or td.state not in (TakedownState.REMOVING, TakedownState.REMOVED):
            raise takedowns.TakedownError("copies are removed only for a request decided valid")
        rows = TakedownItem.objects.filter(takedown=td, item_id__in=list(ids), role=TakedownItem.Role.COPY,
                                           state=TakedownItem.State.LISTED)
        if rows.count() != len(ids):
            raise takedowns.TakedownError("a chosen item is not a listed copy of this request")
        live = set(DataItem.objects.live().filter(pk__in=list(ids)).values_list("pk", flat=True))
        batch = (td.removals.aggregate(m=Max("batch"))["m"] or 0) + 1
        derived = derived_item_ids(live) - live
        derived = set(DataItem.objects.live().filter(pk__in=list(derived)).values_list("pk", flat=True))
        lineage = (TakedownItem.Role.DERIVED, TakedownItem.FoundBy.LINEAGE, None, "")
        takedowns.add_items(td, dict.fromkeys(derived, lineage), now=now, block=True)
        TakedownItem.objects.filter(takedown=td, item_id__in=list(ids | derived)).update(
            state=TakedownItem.State.CONFIRMED, batch=batch)
        TakedownItem.objects.filter(takedown=td, item_id__in=list(ids), blocked_at__isnull=True).update(blocked_at=now)
        takedowns.record_event(td, "copies_confirmed", actor=actor, now=now, batch=batch, copies=len(ids),
                               derived=len(derived))
        return takedowns.start_removal(td, batch=batch, actor=actor, now=now)


def dismiss_copies(td: Takedown, item_ids: Iterable[uuid.UUID | str], *, reason: str, actor: User,
                   now: datetime) -> int:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise takedowns.TakedownError("say why these are not copies")
    ids = [uuid.UUID(str(i)) for i in item_ids]
    with transaction.atomic():
        td = takedowns.lock_for_update(td)
        n = TakedownItem.objects.filter(takedown=td, item_id__in=ids, role=TakedownItem.Role.COPY,
                                        state=TakedownItem.State.LISTED).update(
            state=TakedownItem.State.DISMISSED, unblocked_at=now)
        takedowns.record_event(td, "copies_dismissed", actor=actor, now=now, count=n)
        takedown_notices.notify_lifted(td, why="dismissed", tag=f"dismissed:{now.isoformat()}", now=now,
                                       item_ids=ids)
    return n
