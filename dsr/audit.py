"""Writing and verifying the audit trail (design.md "Audit", security.md "Audit").

Each event's ``hash`` is HMAC-SHA256, under ``DSR_AUDIT_KEY`` (never in the database), of the previous
event's hash and this event's payload (id included). Without the key nobody can edit an event, forge
one or re-link the chain after a deletion; signed checkpoints of the head, kept outside the database
(``dsr/checkpoints.py``), catch a deleted tail."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction

from dsr import checkpoints, keys
from dsr.models.audit import GENESIS, SCHEME_KEYED, Event

# Any constant works; it only has to be the same for every writer of the chain.
_CHAIN_LOCK_KEY = 0x64737261  # "dsra"


def subject_reference(subject_id: uuid.UUID | str) -> str:
    """Keyed hash of a subject id: lets an auditor match events to a subject they can name, yet reveals
    nothing once the subject row is erased."""
    digest = hmac.new(keys.pseudonym_key(), str(subject_id).encode(), hashlib.sha256).hexdigest()
    return "sub_" + digest[:32]


def lock_chain() -> None:
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
    """Append one event in the caller's transaction. ``data`` holds ids, kinds and counts only.

    The row is written once, complete: its id is the head's id + 1, taken under the chain lock, so the
    MAC (which covers the id) is known before the INSERT, ids have no gaps, and the PostgreSQL trigger
    that refuses every UPDATE (migration 0008) never gets in the way."""
    if now.tzinfo is None:
        raise ValueError("audit times must be aware")
    # Hash the instant as the database will give it back (UTC): an aware time in another zone would
    # otherwise hash as "+01:00" at write time and "+00:00" at verification, a false "edited" break.
    now = now.astimezone(UTC)
    key = keys.audit_key()  # fail closed before anything is written
    with transaction.atomic():
        lock_chain()
        head = Event.objects.order_by("-id").values_list("id", "hash").first()
        event = Event(
            id=head[0] + 1 if head else 1,
            at=now,
            kind=kind,
            actor=actor[:64],
            subject_ref=subject_ref,
            object_type=object_type,
            object_id=str(object_id) if object_id else "",
            data=data or {},
            prev_hash=head[1] if head else GENESIS,
            scheme=SCHEME_KEYED,
        )
        # Through the JSON round trip, so the MAC covers exactly what verification will read back.
        event.data = json.loads(json.dumps(event.data, default=str))
        event.hash = event.compute_hash(key)
        event.save(force_insert=True)
        return event


# --- verification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the trail; ``event_id`` is the event it was found at (None: the sink)."""

    event_id: int | None
    kind: str
    message: str


@dataclass
class Report:
    events: int = 0
    head_id: int = 0
    legacy_events: int = 0
    checkpoint: checkpoints.Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        if self.intact:
            text = f"audit chain intact: {self.events} events"
            if self.checkpoint is not None:
                text += f", matches checkpoint {self.checkpoint.name} (head #{self.checkpoint.head_id})"
            if self.legacy_events:
                text += (f"; the first {self.legacy_events} predate the audit key "
                         "(plain SHA-256, anchored by the keyed chain)")
            return text
        lines = [f"audit chain BROKEN: {len(self.findings)} problem(s) in {self.events} events"]
        lines += [f"- {f.message}" for f in self.findings]
        return "\n".join(lines)


def iter_breaks(batch: int = 2000) -> Iterator[Finding]:
    """Walk the chain in id order; yield every broken link, MAC and id gap."""
    key = keys.audit_key()
    prev_hash, prev_id = GENESIS, 0
    keyed_seen = False
    last_id = 0
    while True:
        rows = list(Event.objects.filter(id__gt=last_id).order_by("id")[:batch])
        if not rows:
            return
        for ev in rows:
            keyed = ev.scheme == SCHEME_KEYED
            # Legacy rows took ids from a sequence, where a rolled-back insert leaves a gap; keyed rows
            # take head + 1, so any gap before a keyed row is a deletion.
            if keyed and ev.pk != prev_id + 1:
                span = f"#{prev_id + 1}" if ev.pk == prev_id + 2 else f"#{prev_id + 1}–#{ev.pk - 1}"
                yield Finding(ev.pk, "gap", f"events {span} are missing before event #{ev.pk} (deleted)")
            if ev.prev_hash != prev_hash:
                yield Finding(ev.pk, "link", f"event #{ev.pk} does not link to the event before it "
                              "(an event was removed, inserted or reordered, or the one before was edited)")
            if keyed:
                if not hmac.compare_digest(ev.compute_hash(key), ev.hash):
                    yield Finding(ev.pk, "mac", f"event #{ev.pk} does not match its MAC "
                                  "(edited, or written without the audit key: forged)")
            elif keyed_seen:
                yield Finding(ev.pk, "unkeyed", f"event #{ev.pk} carries no MAC but follows keyed events (forged)")
            elif ev.compute_hash(None) != ev.hash:
                yield Finding(ev.pk, "hash", f"event #{ev.pk} does not match its hash (edited)")
            keyed_seen = keyed_seen or keyed
            prev_hash, prev_id = ev.hash, ev.pk
            last_id = ev.pk


def verify() -> Report:
    """Check every link, MAC and id, then the chain against the latest signed checkpoint."""
    report = Report()
    report.findings = list(iter_breaks())
    report.events = Event.objects.count()
    report.head_id = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    report.legacy_events = Event.objects.exclude(scheme=SCHEME_KEYED).count()
    cp, problems = checkpoints.latest_checkpoint()
    report.findings += [Finding(None, "checkpoint", p) for p in problems]
    report.checkpoint = cp
    if cp is None:
        report.warnings.append("no signed checkpoint in the sink yet: a deleted tail would go unnoticed "
                               "(run `manage.py audit_checkpoint`)")
        return report
    signed = f"checkpoint {cp.name} (signed {cp.signed_at.isoformat()})"
    if cp.head_id == 0:
        return report
    at_head = Event.objects.filter(pk=cp.head_id).values_list("hash", flat=True).first()
    if at_head is None:
        if report.head_id < cp.head_id:
            report.findings.append(Finding(
                cp.head_id, "truncated",
                f"events #{report.head_id + 1}–#{cp.head_id} are missing: the chain ends at #{report.head_id} "
                f"but {signed} covers up to #{cp.head_id} (the tail was deleted)"))
        else:
            report.findings.append(Finding(cp.head_id, "truncated",
                                           f"event #{cp.head_id}, the head of {signed}, is missing (deleted)"))
    elif at_head != cp.head_hash:
        report.findings.append(Finding(cp.head_id, "rewritten",
                                       f"event #{cp.head_id} differs from {signed}: the chain up to it was rewritten"))
    counted = Event.objects.filter(pk__lte=cp.head_id).count()
    if counted != cp.events:
        report.findings.append(Finding(cp.head_id, "count", f"{signed} counted {cp.events} events up to "
                                       f"#{cp.head_id}; the database now has {counted}"))
    return report


def first_break() -> Finding | None:
    return next(iter_breaks(), None)


# --- anchoring --------------------------------------------------------------------------------------


def key_legacy_chain(*, actor: str, now: datetime) -> int:
    """On an installation whose events predate the audit key: record ``audit.chain_keyed``, the first
    keyed event, whose MAC covers the legacy head, so the unkeyed prefix can no longer be edited or cut
    without the break showing. Returns how many legacy events it anchored (0: nothing to do)."""
    with transaction.atomic():
        lock_chain()
        if Event.objects.filter(scheme=SCHEME_KEYED).exists():
            return 0
        legacy = Event.objects.count()
        if not legacy:
            return 0
        head_id = Event.objects.order_by("-id").values_list("id", flat=True).first()
        record("audit.chain_keyed", actor=actor, now=now, object_type="audit",
               data={"legacy_events": legacy, "legacy_head": head_id})
    return legacy


def checkpoint(*, now: datetime, email_dpo: bool = True) -> checkpoints.Checkpoint:
    return checkpoints.write_checkpoint(now=now, email_dpo=email_dpo)


def checkpoint_if_moved(*, now: datetime) -> checkpoints.Checkpoint | None:
    """The scheduled checkpoint: only when events were added since the latest one (no daily noise)."""
    latest, _ = checkpoints.latest_checkpoint()
    head = Event.objects.order_by("-id").values_list("id", "hash").first()
    if latest is not None and head is not None and (latest.head_id, latest.head_hash) == head:
        return None
    if latest is not None and head is None and latest.head_id == 0:
        return None
    return checkpoint(now=now)


def verify_and_alert(*, now: datetime) -> Report:
    """The daily check: verify, and when the trail is broken record it and alert every approver (DPO)."""
    from django.contrib.auth.models import User

    from dsr import emails
    from dsr.roles import Role

    report = verify()
    if report.intact:
        return report
    recipients = list(
        User.objects.filter(groups__name=Role.APPROVER.value, is_active=True)
        .exclude(email="").values_list("email", flat=True).distinct()
    )
    context = {
        "findings": [{"message": f.message} for f in report.findings],
        "events": report.events,
        "checkpoint": report.checkpoint.name if report.checkpoint else "",
        "checked_at": now,
    }
    with transaction.atomic():
        record("audit.verification_failed", actor="system:audit-verify", now=now, object_type="audit",
               data={"problems": len(report.findings), "kinds": sorted({f.kind for f in report.findings}),
                     "alerted": len(recipients)})
        for address in recipients:
            emails.queue("audit_alert", to=address, context=context, now=now)
    return report
