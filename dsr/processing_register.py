"""Changes to the processing register (Art. 30) made by people: each one saved together with its audit event.

The register is data that access reports, recipient notices and retention read (dsr/models/register.py); the
DPO keeps it in the admin (dsr/admin.py). Events name the entry and the fields that changed, not their values.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import models, transaction

from dsr import audit
from dsr.models import CategoryPolicy, ProcessingActivity, Recipient

ENTRY_TYPES: dict[type[models.Model], str] = {
    Recipient: "recipient",
    CategoryPolicy: "category_policy",
    ProcessingActivity: "processing_activity",
}


def _actor(user: User) -> str:
    return f"staff:{user.pk}"


def save_entry(entry: models.Model, *, created: bool, fields: list[str], actor: User, now: datetime) -> None:
    """Save one register entry and record 'register.added' / 'register.changed' with the changed field names,
    in one transaction (related rows the admin saves afterwards are inside the admin's own transaction)."""
    with transaction.atomic():
        entry.save()
        audit.record("register.added" if created else "register.changed", actor=_actor(actor), now=now,
                     object_type=ENTRY_TYPES[type(entry)], object_id=entry.pk, data={"fields": sorted(fields)})


def delete_entry(entry: models.Model, *, actor: User, now: datetime) -> None:
    with transaction.atomic():
        pk = entry.pk
        entry.delete()
        audit.record("register.deleted", actor=_actor(actor), now=now, object_type=ENTRY_TYPES[type(entry)],
                     object_id=pk)
