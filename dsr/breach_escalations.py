"""Escalation e-mails of the breach desk (issue 12 §6): the approvers (the DPO) are warned 24 hours and 6 hours
(``DSR_BREACH_ESCALATION_HOURS``) before every open deadline of an open breach that has a due instant — above all
the 72-hour mark of Art. 33 (B-SA, UK-BR), but also CB-AG, US state and BR-BR (LGPD) deadlines. Rules with no
fixed instant ("without undue delay", B-DS) have no ``due_at`` and are not escalated; met and not-required
deadlines are not either.

Each warning is sent once: the ``BreachEscalation`` row (unique per deadline and threshold) is written in the same
transaction as the queued e-mails and the audit event, so a job delivered twice, or two workers at once, send it
once. If the deadline later moves (awareness corrected to a later instant), the row's ``sent_at`` lies before the
new threshold instant and the warning is sent again for the new due instant, once. When several thresholds have
passed at once (a breach entered late, a worker that was down) only the nearest one is sent: a "24 hours left"
warning 5 hours before the mark would mislead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from dsr import audit, breach_console, emails, takedowns
from dsr.models import BreachDeadline, BreachEscalation, BreachState
from dsr.models.breaches import OPEN_DEADLINE
from dsr.roles import Role

ACTOR = "system:breach-escalation"
TEMPLATE = "breach_escalation"


def thresholds() -> list[int]:
    """Hours before a deadline at which to warn, largest first (settings; 24 and 6 by default)."""
    return sorted({h for h in settings.DSR_BREACH_ESCALATION_HOURS if 0 < h <= 24 * 30}, reverse=True)


def label(hours: int) -> str:
    """The stored threshold: '24h', '6h'."""
    return f"{hours}h"


def due_threshold(due_at: datetime, now: datetime, hours_before: list[int]) -> int | None:
    """The warning due at ``now`` for a deadline: the nearest threshold whose instant has come, while the
    deadline has not yet passed; None when none is due."""
    if now >= due_at:
        return None
    passed = [h for h in hours_before if due_at - timedelta(hours=h) <= now]
    return min(passed) if passed else None


def recipients() -> list[str]:
    """The approvers (the DPO role) with an address, and the DPO contact mailbox (``DSR_DPO_CONTACT``) so a
    warning never goes nowhere."""
    addresses = set(User.objects.filter(is_active=True, groups__name=Role.APPROVER.value).exclude(email="")
                    .values_list("email", flat=True))
    if settings.DSR_DPO_CONTACT:
        addresses.add(settings.DSR_DPO_CONTACT)
    return sorted(addresses)


def escalate(*, now: datetime) -> int:
    """Send the warnings due at ``now``; returns how many (one per deadline and threshold, whatever the number
    of recipients). Safe to run as often as wanted: a warning already sent is never sent again."""
    hours_before = thresholds()
    if not hours_before:
        return 0
    horizon = now + timedelta(hours=max(hours_before))
    candidates = (BreachDeadline.objects.filter(OPEN_DEADLINE, breach__state=BreachState.OPEN,
                                                due_at__gt=now, due_at__lte=horizon)
                  .select_related("breach").order_by("due_at", "rule"))
    zone = takedowns.operator_zone()
    sent = 0
    for deadline in candidates:
        hours = due_threshold(deadline.due_at, now, hours_before)
        if hours is None:
            continue
        instant = deadline.due_at - timedelta(hours=hours)
        earlier = deadline.escalations.filter(threshold=label(hours)).first()
        if earlier is not None and earlier.sent_at >= instant:
            continue  # sent for this due instant already
        try:
            with transaction.atomic():
                if earlier is None:
                    BreachEscalation.objects.create(deadline=deadline, threshold=label(hours), sent_at=now)
                # Sent before this threshold's instant: the warning was for an earlier due instant (awareness
                # corrected to later, so sync_deadlines moved the deadline). Warn again — the conditional update
                # lets exactly one worker do it.
                elif not BreachEscalation.objects.filter(pk=earlier.pk, sent_at__lt=instant).update(sent_at=now):
                    continue
                addresses = recipients()
                breach = deadline.breach
                context = {"breach": breach, "deadline": deadline, "hours": hours, "zone": zone,
                           "due_local": takedowns.shown(deadline.due_at, zone),
                           "left_text": breach_console.describe_left(deadline.due_at - now),
                           "base_url": settings.DSR_BASE_URL}
                for address in addresses:
                    emails.queue(TEMPLATE, to=address, context=context, now=now)
                audit.record("breach.escalated", actor=ACTOR, now=now, object_type="breach", object_id=breach.pk,
                             data={"reference": breach.reference, "rule": deadline.rule, "threshold": label(hours),
                                   "due_at": deadline.due_at.isoformat(), "recipients": len(addresses)})
        except IntegrityError:  # another worker sent this warning between our check and our insert
            continue
        sent += 1
    return sent
