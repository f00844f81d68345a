"""The audit trail: append-only, chained under a key kept outside the database, ids and kinds only
(design.md "Audit")."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.db import models

GENESIS = "0" * 64
# Events written before the chain was keyed (plain SHA-256 links) stay verifiable as a prefix: the first
# keyed event commits to their head, and no unkeyed event may follow it.
SCHEME_LEGACY = "sha256"
SCHEME_KEYED = "hmac-sha256"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class EventQuerySet(models.QuerySet["Event"]):
    def for_object(self, object_type: str, object_id: object) -> EventQuerySet:
        return self.filter(object_type=object_type, object_id=str(object_id))


class Event(models.Model):
    """One state change. Never personal data: subjects appear only as their keyed-hash reference,
    so the trail survives erasure and can be handed to a regulator."""

    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=64)
    subject_ref = models.CharField(max_length=40, blank=True, db_index=True)
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    scheme = models.CharField(max_length=16, default=SCHEME_KEYED)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Append-only: rows are written once by dsr.audit.record and never updated through the ORM.
        if not self._state.adding:
            raise RuntimeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("audit events are append-only")

    def payload(self) -> dict[str, Any]:
        """The fields the hash covers. The id is included so that reordering rows breaks the chain."""
        return {
            "id": self.pk,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "actor": self.actor,
            "subject_ref": self.subject_ref,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "data": self.data,
        }

    def compute_hash(self, key: bytes | None) -> str:
        """HMAC-SHA256 under the audit key over the previous hash and this row's payload; ``key=None``
        gives the plain SHA-256 of events written before the chain was keyed."""
        message = (self.prev_hash + _canonical(self.payload())).encode()
        if key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(key, message, hashlib.sha256).hexdigest()
