"""Signed checkpoints of the audit chain head, kept outside the database (security.md "Audit").

A keyed chain stops anyone without the audit key from editing or forging events, but not from deleting
the newest ones: the shorter chain still verifies. A checkpoint — the head's id and MAC, signed with an
Ed25519 key that is not in the database — written to a sink the database cannot reach (a directory, or
an S3 bucket with object lock) pins what the chain looked like, so a truncated or rewritten tail is
reported against the latest checkpoint. Truncation of events newer than the latest checkpoint cannot be
detected: the checkpoint interval bounds that window.

Checkpoint object (JSON, UTF-8)::

    {"checkpoint": {"type": "dsr-audit-checkpoint", "version": 1, "head_id": 41, "head_hash": "<hex>",
                    "events": 41, "signed_at": "2026-03-05T10:00:00+00:00", "public_key": "<b64url>"},
     "signature": "<b64url Ed25519 signature over the canonical JSON of 'checkpoint'>"}
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.db import transaction

from dsr import keys
from dsr.models.audit import GENESIS, Event

CHECKPOINT_TYPE = "dsr-audit-checkpoint"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Checkpoint:
    name: str
    head_id: int
    head_hash: str
    events: int
    signed_at: datetime


class CheckpointError(Exception):
    """A checkpoint object that is malformed or whose signature does not verify."""


# --- sinks ------------------------------------------------------------------------------------------


class Sink(Protocol):
    def write(self, name: str, data: bytes) -> None: ...
    def names(self) -> list[str]: ...
    def read(self, name: str) -> bytes: ...


class DirectorySink:
    """A directory outside the database (mount it from another host, or ship it off-site)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.root / name
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.suffix == ".json")

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


class S3Sink:
    """An S3 bucket with object lock: each checkpoint is written once, under a retention the database's
    owner cannot shorten (COMPLIANCE mode), so an attacker cannot remove the evidence of a rewrite."""

    def __init__(self) -> None:
        import boto3

        self.bucket = settings.DSR_AUDIT_S3_BUCKET
        self.prefix = settings.DSR_AUDIT_S3_PREFIX or ""
        self.client = boto3.client(
            "s3", endpoint_url=settings.DSR_AUDIT_S3_ENDPOINT_URL or None,
            region_name=settings.DSR_AUDIT_S3_REGION_NAME or None,
        )

    def write(self, name: str, data: bytes) -> None:
        retain_until = datetime.now(UTC) + timedelta(days=settings.DSR_AUDIT_S3_RETAIN_DAYS)
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + name, Body=data, ContentType="application/json",
            ObjectLockMode=settings.DSR_AUDIT_S3_LOCK_MODE, ObjectLockRetainUntilDate=retain_until,
        )

    def names(self) -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            found += [obj["Key"][len(self.prefix):] for obj in page.get("Contents", [])]
        return sorted(n for n in found if n.endswith(".json"))

    def read(self, name: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()


def sink() -> Sink:
    if settings.DSR_AUDIT_SINK == "s3":
        return S3Sink()
    root = settings.DSR_AUDIT_CHECKPOINT_DIR or Path(settings.DSR_DATA_DIR) / "audit-checkpoints"
    return DirectorySink(Path(root))


# --- writing and reading ----------------------------------------------------------------------------


def _name(head_id: int, at: datetime) -> str:
    # Sorts by head, then time: the last name is the newest checkpoint of the longest chain.
    return f"checkpoint-{head_id:012d}-{at.strftime('%Y%m%dT%H%M%S%fZ')}.json"


def write_checkpoint(*, now: datetime, email_dpo: bool = True) -> Checkpoint:
    """Sign the current chain head and write it to the sink; queue a copy to the DPO (outbox).

    Read under the chain lock, so the head signed is a committed one that no append is racing."""
    from dsr import audit, emails

    now = now.astimezone(UTC)
    with transaction.atomic():
        audit.lock_chain()
        head = Event.objects.order_by("-id").values_list("id", "hash").first()
        count = Event.objects.count()
    head_id, head_hash = head if head else (0, GENESIS)
    signing_key = keys.audit_signing_key()
    body = {
        "type": CHECKPOINT_TYPE,
        "version": 1,
        "head_id": head_id,
        "head_hash": head_hash,
        "events": count,
        "signed_at": now.isoformat(),
        "public_key": keys.public_key_text(signing_key.public_key()),
    }
    document = {"checkpoint": body, "signature": _b64(signing_key.sign(_canonical(body)))}
    data = json.dumps(document, indent=1, sort_keys=True).encode()
    name = _name(head_id, now)
    sink().write(name, data)
    if email_dpo:
        with transaction.atomic():
            emails.queue("audit_checkpoint", to=settings.DSR_DPO_CONTACT, now=now,
                         context={"name": name, "document": data.decode()})
    return Checkpoint(name=name, head_id=head_id, head_hash=head_hash, events=count, signed_at=now)


def parse_checkpoint(name: str, data: bytes) -> Checkpoint:
    """Check the signature with the verify key; raise CheckpointError naming what is wrong."""
    try:
        document = json.loads(data)
        body = document["checkpoint"]
        signature = _unb64(document["signature"])
        if body.get("type") != CHECKPOINT_TYPE or body.get("version") != 1:
            raise CheckpointError(f"checkpoint {name} is not a dsr audit checkpoint")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {name} is malformed") from exc
    try:
        keys.audit_verify_key().verify(signature, _canonical(body))
    except InvalidSignature:
        raise CheckpointError(f"checkpoint {name} has an invalid signature (forged, edited, or another key)") from None
    try:
        return Checkpoint(
            name=name, head_id=int(body["head_id"]), head_hash=str(body["head_hash"]),
            events=int(body["events"]), signed_at=datetime.fromisoformat(body["signed_at"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {name} is malformed") from exc


def latest_checkpoint() -> tuple[Checkpoint | None, list[str]]:
    """The newest validly signed checkpoint (longest chain, then newest), and a problem per bad one."""
    store = sink()
    problems: list[str] = []
    best: Checkpoint | None = None
    for name in store.names():
        try:
            cp = parse_checkpoint(name, store.read(name))
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        if best is None or (cp.head_id, cp.signed_at) > (best.head_id, best.signed_at):
            best = cp
    return best, problems
