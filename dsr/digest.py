"""The daily digest: e-mail every operator and approver the cases at risk and overdue (issue 3 §5)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User

from dsr import emails
from dsr.models import Case, OutboundMessage
from dsr.roles import Role
from dsr.workflow import controller_time_zone, local_today


def recipients() -> list[str]:
    users = User.objects.filter(is_active=True, groups__name__in=[Role.OPERATOR, Role.APPROVER]).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def send_digest(*, now: datetime) -> int:
    """Queue one digest per operator; returns how many were queued (0 when nothing needs attention).
    Once per local day: the job queue delivers at least once, so an address that already has today's
    digest in the outbox is skipped."""
    today = local_today(now)
    days = settings.DSR_AT_RISK_DAYS
    overdue = list(Case.objects.overdue(today).order_by("due_on", "received_at")[:500])
    at_risk = list(Case.objects.at_risk(today, days).order_by("due_on", "received_at")[:500])
    if not overdue and not at_risk:
        return 0
    day_start = datetime.combine(today, time.min, tzinfo=ZoneInfo(controller_time_zone()))
    already = set(
        OutboundMessage.objects.filter(template="digest", created_at__gte=day_start,
                                       created_at__lt=day_start + timedelta(days=1)).values_list("to", flat=True)
    )
    context = {"today": today, "overdue": overdue, "at_risk": at_risk, "at_risk_days": days,
               "base_url": settings.DSR_BASE_URL.rstrip("/")}
    sent = 0
    for address in recipients():
        if address in already:
            continue
        emails.queue("digest", to=address, context=context, now=now)
        sent += 1
    return sent
