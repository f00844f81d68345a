"""Orphan sweep: stored blobs that no item references are deleted (security.md: a completed erasure leaves
no blob).

Two ways a blob outlives its row, both by a process dying at the wrong moment: an upload killed after its
blob was written but before the item row committed, and a purge killed after its transaction committed but
before the after-commit delete ran. Either way nothing points at the blob any more, so nothing would ever
delete it. The sweep finds such blobs and deletes them. A grace period protects uploads in flight: a blob's
row commits right after its last write, so a blob untouched for ``grace`` with no row is an orphan. That
holds as long as no caller runs ``vault.store_item`` inside an outer transaction kept open for longer than
the grace period; nothing in dsr does (every upload commits as soon as its blob is sealed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice

from django.db import transaction

from dsr import audit, storage
from dsr.models import DataItem, ExportPackage

DEFAULT_GRACE = timedelta(hours=1)


def _batches(pairs: Iterable[tuple[str, datetime]], size: int) -> Iterator[list[tuple[str, datetime]]]:
    it = iter(pairs)
    while batch := list(islice(it, size)):
        yield batch


def sweep_orphan_blobs(*, now: datetime, actor: str, grace: timedelta = DEFAULT_GRACE, batch: int = 500) -> int:
    """Delete every blob older than ``grace`` that no item references; returns how many were deleted.

    Re-runnable at any point: deleting a missing blob is not an error, and a run killed half-way leaves
    the rest for the next one. One ``storage.orphans_swept`` event per run that deleted anything."""
    cutoff = now - grace
    deleted = 0
    for chunk in _batches(storage.iter_blobs(), batch):
        old = [name for name, modified in chunk if modified < cutoff]
        if not old:
            continue
        referenced = set(DataItem.objects.filter(blob_name__in=old).values_list("blob_name", flat=True))
        referenced |= set(ExportPackage.objects.filter(blob_name__in=old).values_list("blob_name", flat=True))
        for name in old:
            if name not in referenced:
                storage.delete_blob(name)
                deleted += 1
    if deleted:
        with transaction.atomic():
            audit.record("storage.orphans_swept", actor=actor, now=now, data={"deleted": deleted})
    return deleted
