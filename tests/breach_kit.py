"""Breaches and affected people built directly as rows (the verbs of dsr/breaches.py and the scope of
dsr/breach_scope.py are other helpers'), for the notice and document tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from dsr.models import Subject
from dsr.models.breaches import Breach, BreachAffected, BreachType, RiskLevel

T0 = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)

FACTS = "An access key to the photo storage bucket was published by mistake in a public code repository."
CONSEQUENCES = "Your photos could be copied and shared without your agreement."
MEASURES = "We revoked the leaked key the same day and checked every access made with it."
ACTION = "Storage access keys rotated and scanning for secrets added to our code reviews"
ADVICE = "Keep this message: it has the reference you need if you contact us."


def breach(**overrides: Any) -> Breach:
    fields: dict[str, Any] = {
        "reference": f"BR-2026-{uuid.uuid4().int % 10000:04d}",
        "title": "Photo bucket key leaked",
        "description": FACTS,
        "opened_by": "staff:alice",
        "created_at": T0,
        "detected_at": datetime(2026, 3, 27, 20, 5, tzinfo=UTC),
        "investigation_started_at": datetime(2026, 3, 27, 20, 40, tzinfo=UTC),
        "aware_at": T0,
        "aware_basis": "Access logs show downloads with the leaked key from an unknown address.",
        "aware_by": "staff:alice",
        "types": [BreachType.CONFIDENTIALITY],
        "categories": ["photo", "face_embedding", "account_profile"],
        "systems": ["blobs"],
        "occurred_from": datetime(2026, 3, 20, 8, 0, tzinfo=UTC),
        "occurred_until": datetime(2026, 3, 27, 21, 0, tzinfo=UTC),
        "data_encrypted": False,
        "keys_exposed": True,
        "risk_suggested": RiskLevel.HIGH,
        "risk_suggested_reasons": ["biometric data (face templates)"],
        "risk_level": RiskLevel.HIGH,
        "risk_rationale": "Face templates cannot be changed; unencrypted copies were downloaded.",
        "risk_assessed_at": datetime(2026, 3, 27, 23, 0, tzinfo=UTC),
        "risk_assessed_by": "staff:alice",
        "high_risk_determined_at": datetime(2026, 3, 27, 23, 0, tzinfo=UTC),
        "consequences": CONSEQUENCES,
        "measures": MEASURES,
        "remedial_actions": [{"at": "2026-03-28T09:00:00+00:00", "action": ACTION, "by": "staff:alice"}],
        "subject_advice": ADVICE,
        "scope_version": 1,
        "scope_computed_at": datetime(2026, 3, 27, 23, 10, tzinfo=UTC),
        "scope_subjects": 0,
        "scope_items": 0,
    }
    fields.update(overrides)
    return Breach.objects.create(**fields)


def affect(b: Breach, n: int, *, residence: str = "DE", email: bool = True, prefix: str | None = None,
           items: int = 3) -> list[BreachAffected]:
    """``n`` people (with an address unless ``email`` is False) found by the scope of ``b``."""
    prefix = prefix or uuid.uuid4().hex[:8]
    subjects = Subject.objects.bulk_create([
        Subject(email=f"{prefix}.{i}@example.com" if email else None, account_id=None if email else f"{prefix}-{i}",
                residence=residence, reference=f"ref-{uuid.uuid4().hex}", created_at=T0)
        for i in range(n)
    ])
    rows = BreachAffected.objects.bulk_create([
        BreachAffected(breach=b, subject=s, jurisdiction=residence, items=items) for s in subjects
    ])
    Breach.objects.filter(pk=b.pk).update(scope_subjects=BreachAffected.objects.filter(breach=b).count())
    return rows
