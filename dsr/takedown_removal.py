"""The durable removal of a takedown's items (dsr/steps.py handlers; started by takedowns.start_removal).

One run per batch (batch 0: the decision; later batches: confirmed copies)::

    block-list ─> erase ─> complete ─> (batch 0: sweep) ─> notify

* block-list: the hashes of every item in the batch go to the block list (hashing any not hashed yet) while the
  content still exists, so a re-upload is refused from the moment the items are gone;
* erase: the erasure cascade (dsr/erasure.py ``erase_items``) removes the items and everything derived from
  them; this step starts it once (the removal row is locked and remembers the run), drives it, and waits until
  every item is gone — the cascade's later steps (processors, certificate) do not hold up the clock;
* complete: the removal time is recorded, the clock met, the items' hashes dropped from the held index;
* sweep: every block-listed hash is matched against everything held; matches are listed for the operator;
* notify: the outcome to the requester, a statement of reasons to each uploader (sent once each).

Every step is idempotent: a worker killed anywhere runs it again and nothing happens twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max

from dsr import audit, copies, hour_clocks, steps
from dsr.models import DataItem, RunState, StepRun, Subject
from dsr.models.takedowns import (
    BlockedHash,
    ItemHash,
    Takedown,
    TakedownClock,
    TakedownItem,
    TakedownRemoval,
    TakedownState,
)
from dsr.steps import Deferred, StepContext, StepError

ACTOR = "system:takedowns"
POLL_SECONDS = 5


def _load(ctx: StepContext) -> tuple[Takedown, int, list[TakedownItem]]:
    td = Takedown.objects.get(pk=ctx.params["takedown"])
    batch = int(ctx.params["batch"])
    items = list(TakedownItem.objects.filter(takedown=td, batch=batch).order_by("id"))
    return td, batch, items


def block_list(ctx: StepContext) -> dict[str, Any]:
    td, batch, items = _load(ctx)
    ids = [i.item_id for i in items]
    hashed = set(ItemHash.objects.filter(item_id__in=ids).values_list("item_id", flat=True))
    unhashed = DataItem.objects.live().filter(pk__in=[i for i in ids if i not in hashed]).values_list("pk", flat=True)
    for item_id in unhashed:  # e.g. a video whose ingest job has not run yet
        copies.hash_stored_item(item_id, now=ctx.now, check_block_list=False)
        ctx.heartbeat()
    category = {i.item_id: i.category for i in items}
    rows = [BlockedHash(takedown=td, item_id=h.item_id, category=category.get(h.item_id, ""), at_ms=h.at_ms, h0=h.h0,
                        h1=h.h1, h2=h.h2, h3=h.h3, quality=h.quality, created_at=ctx.now)
            for h in ItemHash.objects.filter(item_id__in=ids)]
    with ctx.fenced():
        BlockedHash.objects.bulk_create(rows, ignore_conflicts=True)
    return {"items": len(ids), "hashes": BlockedHash.objects.filter(takedown=td, item_id__in=ids).count()}


def erase(ctx: StepContext) -> dict[str, Any]:
    from dsr.erasure import erase_items

    td, batch, items = _load(ctx)
    ids = [i.item_id for i in items]
    removal = TakedownRemoval.objects.get(takedown=td, batch=batch)
    if removal.erasure_run_id is None:
        live = list(DataItem.objects.live().filter(pk__in=ids).values_list("pk", flat=True))
        if live:
            with ctx.fenced():
                locked = TakedownRemoval.objects.select_for_update().get(pk=removal.pk)
                if locked.erasure_run_id is None:
                    run = erase_items(live, reason="takedown", actor=ACTOR, now=ctx.now)
                    locked.erasure_run_id = run.pk
                    locked.save(update_fields=["erasure_run_id"])
                    audit.record("takedown.erasure_started", actor=ACTOR, now=ctx.now, object_type="takedown",
                                 object_id=td.pk, data={"number": td.number, "batch": batch, "run": str(run.pk),
                                                        "items": len(live)})
            removal.refresh_from_db()
    if removal.erasure_run_id and DataItem.objects.live().filter(pk__in=ids).exists():
        # Drive the cascade from here rather than wait for the queue to deliver its task: the clock is running.
        # Safe: advancing a run is idempotent and concurrent advances never claim the same step.
        ctx.heartbeat()
        steps.advance(removal.erasure_run_id, max_seconds=min(60.0, steps.lease_seconds() / 3))
        ctx.heartbeat()
    remaining = DataItem.objects.live().filter(pk__in=ids).count()
    if remaining:
        if removal.erasure_run_id and StepRun.objects.filter(pk=removal.erasure_run_id,
                                                              state=RunState.CANCELLED).exists():
            raise StepError(f"the erasure run of takedown {td.pk} batch {batch} was cancelled")
        raise Deferred(ctx.now + timedelta(seconds=POLL_SECONDS), f"waiting for the erasure cascade ({remaining} left)")
    return {"items": len(ids), "erasure_run": str(removal.erasure_run_id or "")}


def complete(ctx: StepContext) -> dict[str, Any]:
    td, batch, items = _load(ctx)
    ids = [i.item_id for i in items]
    purged = dict(DataItem.objects.filter(pk__in=ids).values_list("pk", "purged_at"))
    if any(purged.get(i) is None for i in ids):
        raise StepError(f"takedown {td.pk} batch {batch}: an item is still held")
    with ctx.fenced():
        removal = TakedownRemoval.objects.select_for_update().get(takedown=td, batch=batch)
        if removal.completed_at is not None:
            return {"removed": len(ids), "already": True}
        td = Takedown.objects.select_for_update().get(pk=td.pk)
        for row in items:
            TakedownItem.objects.filter(pk=row.pk).update(state=TakedownItem.State.REMOVED,
                                                          removed_at=purged[row.item_id], blocked_at=row.blocked_at
                                                          or purged[row.item_id])
        ItemHash.objects.filter(item_id__in=ids).delete()  # the hashes live on in the block list only
        removal.completed_at = ctx.now
        removal.save(update_fields=["completed_at"])
        removed_at = max(purged.values()) if purged else ctx.now
        data: dict[str, Any] = {"number": td.number, "batch": batch, "items": len(ids)}
        if batch == 0 and td.removed_at is None:
            td.removed_at = removed_at
            td.state, td.closed_at = TakedownState.REMOVED, ctx.now
            td.evidence_until = ctx.now + timedelta(days=settings.DSR_TAKEDOWN_EVIDENCE_DAYS)
            clocks = list(TakedownClock.objects.filter(takedown=td, superseded_at__isnull=True, met_at__isnull=True))
            TakedownClock.objects.filter(pk__in=[c.pk for c in clocks]).update(met_at=removed_at)
            gov = min(clocks, key=lambda c: c.due_at) if clocks else None
            td.due_at, td.due_regime = None, ""
            td.save(update_fields=["removed_at", "state", "closed_at", "evidence_until", "due_at", "due_regime"])
            if gov is not None:
                data.update(regime=gov.regime, due_at=gov.due_at.isoformat(),
                            margin_minutes=int(hour_clocks.margin(gov.due_at, removed_at).total_seconds() // 60))
            audit.record("takedown.removed", actor=ACTOR, now=ctx.now, object_type="takedown", object_id=td.pk,
                         data={**data, "removed_at": removed_at.isoformat(),
                               "hours_from_valid": round(hour_clocks.hours_between(td.valid_at, removed_at), 2)})
        else:
            audit.record("takedown.copies_removed", actor=ACTOR, now=ctx.now, object_type="takedown",
                         object_id=td.pk, data=data)
    return {"removed": len(ids)}


def sweep(ctx: StepContext) -> dict[str, Any]:
    from dsr import takedown_copies

    td, _batch, _items = _load(ctx)
    with ctx.fenced():
        found = takedown_copies.record_sweep(Takedown.objects.select_for_update().get(pk=td.pk), now=ctx.now)
    return {"copies_listed": found}


def notify(ctx: StepContext) -> dict[str, Any]:
    from dsr import takedown_notices

    td, batch, items = _load(ctx)
    requester_subject = td.erasure_case.subject_id if td.erasure_case_id and td.erasure_case else None
    owner_ids = sorted({o for i in items for o in i.owners} - {str(requester_subject)})
    sent = {"outcome": 0, "statements": 0}
    with ctx.fenced():
        td = Takedown.objects.select_for_update().get(pk=td.pk)
        if batch == 0:
            sent["outcome"] = int(takedown_notices.notify_outcome(td, now=ctx.now))
        for subject in Subject.objects.filter(pk__in=owner_ids):
            sent["statements"] += int(takedown_notices.statement_of_reasons(td, subject, batch=batch, now=ctx.now))
    last = td.removals.aggregate(m=Max("batch"))["m"]
    return {**sent, "uploaders": len(owner_ids), "latest_batch": last}
