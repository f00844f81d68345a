"""Retention: items past their retention date are purged (issue 2 §6), each with its audit event."""

from __future__ import annotations

from datetime import datetime

from dsr import vault
from dsr.models import DataItem


def purge_expired(*, now: datetime, actor: str, batch: int = 200) -> int:
    """Purge every expired item not under legal hold. Re-runnable: purge_item skips purged items, so a
    run killed half-way simply continues next time."""
    total = 0
    while True:
        ids = list(DataItem.objects.expired(now).order_by("expires_at").values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        for item in DataItem.objects.filter(pk__in=ids):
            if vault.purge_item(item, actor=actor, now=now, reason="retention"):
                total += 1
