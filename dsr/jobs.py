"""django-q2 entry points: stable names, ids in, nothing personal out (design.md "Jobs").

The ORM broker delivers at least once, so every job here is idempotent; our own rows are the truth.
"""

from __future__ import annotations

from django.utils import timezone

from dsr import retention

SCHEDULES = {
    # name: (function path, schedule type, minutes)
    "dsr.purge_expired": ("dsr.jobs.purge_expired", "I", 15),
}


def purge_expired() -> str:
    """Retention: delete items past their retention. Returns counts only."""
    purged = retention.purge_expired(now=timezone.now(), actor="system:retention")
    return f"purged={purged}"


def ensure_schedules() -> int:
    """Create or update the recurring schedules; safe to call at every start."""
    from django_q.models import Schedule

    for name, (func, schedule_type, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1},
        )
    return len(SCHEDULES)
