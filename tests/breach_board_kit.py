"""Breaches written straight into the tables, for console and escalation tests that must not depend on how the
verbs compute clocks (dsr/breaches.py is tested by its own suite): a breach with the deadlines given."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from dsr.models import Breach, BreachDeadline

_numbers = itertools.count(1)

B_SA_BASIS = "Art. 33(1): notify the supervisory authority within 72 hours of awareness (wall clock)"


def make_breach(*, aware_at: datetime, title: str = "Misconfigured bucket", deadlines: list[dict] | None = None,
                **fields) -> Breach:
    """A breach aware at ``aware_at`` with a B-SA deadline at +72 h unless ``deadlines`` says otherwise."""
    n = next(_numbers)
    values = {
        "reference": f"BR-{aware_at:%Y}-{9000 + n:04d}", "title": title,
        "description": "A storage bucket of face embeddings was readable from the internet.",
        "opened_by": "system:test", "created_at": aware_at, "detected_at": aware_at - timedelta(hours=1),
        "aware_at": aware_at, "aware_basis": "Access log shows downloads from an unknown address.",
        "aware_by": "Security on-call", "types": ["confidentiality"], "categories": ["face_embedding"],
        "systems": ["vault"],
    }
    values.update(fields)
    breach = Breach.objects.create(**values)
    if deadlines is None:
        deadlines = [{"rule": "B-SA", "regime": "eu_gdpr", "authority": "Data Protection Commission (IE)",
                      "due_at": aware_at + timedelta(hours=72), "basis": B_SA_BASIS}]
    for d in deadlines:
        BreachDeadline.objects.create(breach=breach, started_at=d.pop("started_at", aware_at), **d)
    return breach
