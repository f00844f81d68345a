"""django-q2 entry points: stable names, ids in, nothing personal out (design.md "Jobs").

The ORM broker delivers at least once, so every job here is idempotent; our own rows are the truth.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from dsr import retention

SCHEDULES = {
    # name: (function path, schedule type, minutes)
    "dsr.purge_expired": ("dsr.jobs.purge_expired", "I", 15),
    "dsr.daily_digest": ("dsr.jobs.daily_digest", "D", None),
    "dsr.redeliver_messages": ("dsr.jobs.redeliver_messages", "I", 10),
    "dsr.sweep_orphan_blobs": ("dsr.jobs.sweep_orphan_blobs", "I", 60),
    # Audit trail (security.md "Audit"): signed checkpoints of the head, and a daily verification.
    "dsr.audit_checkpoint": ("dsr.jobs.audit_checkpoint", "I", settings.DSR_AUDIT_CHECKPOINT_MINUTES),
    "dsr.verify_audit": ("dsr.jobs.verify_audit", "D", None),
    "dsr.reconcile_steps": ("dsr.jobs.reconcile_steps", "I", 1),
    # Reconciler of the key purge that follows each shred (dsr/keystore.py), in case that job was deferred.
    "dsr.purge_old_key_bytes": ("dsr.jobs.purge_old_key_bytes", "I", 60),
    # Portal (issue 11): filings whose task was lost (Redis broker, a killed worker) are processed anyway.
    "dsr.reconcile_portal_filings": ("dsr.jobs.reconcile_portal_filings", "I", 5),
    # Takedown desk (issue 13): warnings 24 h / 4 h before an hour clock runs out; evidence periods and hashes.
    "dsr.takedown_escalations": ("dsr.jobs.takedown_escalations", "I", 5),
    "dsr.takedown_housekeeping": ("dsr.jobs.takedown_housekeeping", "I", 60),
    "dsr.expire_exports": ("dsr.jobs.expire_exports", "I", 15),
    # Breach desk (issue 12 §6): the DPO is warned 24 h and 6 h before each open breach deadline (the 72-hour mark).
    "dsr.breach_escalations": ("dsr.jobs.breach_escalations", "I", 5),
}


def purge_expired() -> str:
    """Retention: delete items past their retention. Returns counts only."""
    purged = retention.purge_expired(now=timezone.now(), actor="system:retention")
    return f"purged={purged}"


def sweep_orphan_blobs() -> str:
    """Delete stored blobs that no item references (left by a process killed mid-upload or mid-purge)."""
    from dsr import orphans

    return f"deleted={orphans.sweep_orphan_blobs(now=timezone.now(), actor='system:orphan-sweep')}"


def audit_checkpoint() -> str:
    """Sign the chain head to the sink (and the DPO) when events were added since the last checkpoint."""
    from dsr import audit

    cp = audit.checkpoint_if_moved(now=timezone.now())
    return f"checkpoint head={cp.head_id}" if cp else "unchanged"


def verify_audit() -> str:
    """Verify the chain; on a break, record it and alert the approvers."""
    from dsr import audit

    report = audit.verify_and_alert(now=timezone.now())
    return f"intact events={report.events}" if report.intact else f"BROKEN problems={len(report.findings)}"
def expire_exports() -> str:
    """Delete access/portability packages past their download window (issue 10)."""
    from dsr import exports

    return f"expired={exports.expire_packages(now=timezone.now())}"


def advance_run(run_id: str) -> str:
    """Run whatever steps of a durable run can run now (dsr/steps.py). Delivered twice? Harmless."""
    from dsr import steps

    return f"completed={steps.advance(run_id)}"


def reconcile_steps() -> str:
    """Re-enqueue runs with work due: a killed worker's step, a lost task, a back-off that has passed."""
    from dsr import steps

    return f"enqueued={steps.reconcile(timezone.now())}"


def purge_old_key_bytes(subject_id: str | None = None) -> str:
    """Remove destroyed or rotated-away wrapped keys from the live database files. ``subject_id`` only
    names the shred that enqueued it; every pending key is purged (idempotent)."""
    from dsr import keystore

    try:
        return f"purged={keystore.purge_old_key_bytes(actor='system:key-purge', now=timezone.now())}"
    except keystore.PurgeDeferred as exc:
        return f"deferred: {exc}"


def deliver_message(message_id: str) -> str:
    """Send one outbox message (id only in the task arguments)."""
    from dsr import emails

    return "sent" if emails.deliver(message_id) else "not sent"


def redeliver_messages() -> str:
    """Reconciler: retry outbox messages whose delivery failed or whose task was lost."""
    from datetime import timedelta

    from dsr import emails
    from dsr.models import OutboundMessage

    cutoff = timezone.now() - timedelta(minutes=5)
    ids = list(
        OutboundMessage.objects.filter(sent_at__isnull=True, created_at__lt=cutoff, attempts__lt=10)
        .exclude(template__in=emails.SELF_DELIVERED).values_list("pk", flat=True)[:200]
    )
    return f"sent={sum(emails.deliver(str(i)) for i in ids)} of {len(ids)}"


def daily_digest() -> str:
    from dsr.digest import send_digest

    return f"queued={send_digest(now=timezone.now())}"


def ensure_schedules() -> int:
    """Create or update the recurring schedules; safe to call at every start."""
    from datetime import timedelta

    from django_q.models import Schedule

    now = timezone.now()
    for name, (func, schedule_type, minutes) in SCHEDULES.items():
        defaults = {"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1}
        if schedule_type == "D":
            first = now.replace(hour=settings.DSR_DIGEST_HOUR_UTC, minute=0, second=0, microsecond=0)
            defaults["next_run"] = first if first > now else first + timedelta(days=1)
        Schedule.objects.update_or_create(name=name, defaults=defaults)
    return len(SCHEDULES)


def process_portal_filing(filing_id: str) -> str:
    """A portal filing becomes a case; the code goes to the address on file (dsr/portal.py)."""
    from dsr import portal

    return portal.process_filing(filing_id, now=timezone.now())


def resend_portal_code(filing_id: str) -> str:
    from dsr import portal

    return portal.resend_code(filing_id, now=timezone.now())


def portal_signin(request_id: str) -> str:
    """'Send me a link to my requests': a sign-in link to the address on file, if it has requests."""
    from dsr import portal

    return portal.send_signin(request_id, now=timezone.now())


def reconcile_portal_filings() -> str:
    """Process filings still unprocessed a few minutes after they arrived (their task was lost)."""
    from datetime import timedelta

    from dsr import portal
    from dsr.models import PortalFiling

    now = timezone.now()
    from dsr.models import SigninRequest

    ids = list(PortalFiling.objects.filter(processed_at__isnull=True, created_at__lt=now - timedelta(minutes=3))
               .values_list("pk", flat=True)[:200])
    done = sum(1 for i in ids if portal.process_filing(str(i), now=now) != "nothing to do")
    # 'Send me a link' requests hold an address until handled: handle (and so delete) any whose task was lost.
    stale = list(SigninRequest.objects.filter(created_at__lt=now - timedelta(minutes=3))
                 .values_list("pk", flat=True)[:200])
    for request_id in stale:
        portal.send_signin(str(request_id), now=now)
    return f"processed={done} sign-in requests={len(stale)}"


def hash_item(item_id: str) -> str:
    """Perceptual hashes of a stored video or large picture (dsr/copies.py); safe to run twice."""
    from dsr import copies

    return copies.hash_stored_item(item_id, now=timezone.now())


def takedown_escalations() -> str:
    from dsr import takedown_notices

    return f"sent={takedown_notices.send_escalations(now=timezone.now())}"


def takedown_housekeeping() -> str:
    """Evidence periods that ended (reference images shredded, requesters' words blanked) and hashes of items
    whose content is gone."""
    from dsr import copies, takedowns

    ended = takedowns.end_evidence_periods(now=timezone.now())
    return f"anonymised={ended} hashes_deleted={copies.purge_hashes_of_erased_items()}"


def breach_escalations() -> str:
    """Warnings to the approvers before open breach deadlines (dsr/breach_escalations.py); each sent once."""
    from dsr import breach_escalations as escalations

    return f"sent={escalations.escalate(now=timezone.now())}"
