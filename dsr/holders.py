"""Registry of what holds personal data, in one explicit order (design.md "Erasure cascade").

Every model that stores personal data must be claimed by exactly one holder; ``checks.py`` refuses to
start otherwise (the Sentry-deletions pattern), so a new table cannot silently escape access reports and
erasure. A model opts in by setting ``PERSONAL_DATA = True``; audit events and the register hold none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import models
from django.db.models import Count

from dsr.models import Case, Consent, DataItem, Holding, OutboundMessage, Subject, SubjectKey


@dataclass(frozen=True)
class Holder:
    name: str
    models: tuple[type[models.Model], ...]
    describe: Callable[[Subject], dict[str, int]]


def _describe_items(subject: Subject) -> dict[str, int]:
    rows = (DataItem.objects.live().filter(holders__subject=subject)
            .values("category").annotate(n=Count("pk")).order_by("category"))
    return {row["category"]: row["n"] for row in rows}


def _describe_consents(subject: Subject) -> dict[str, int]:
    return {"consent_records": Consent.objects.filter(subject=subject).count()}


def _describe_identity(subject: Subject) -> dict[str, int]:
    return {"identifiers": int(bool(subject.email)) + int(bool(subject.account_id))}


def _describe_cases(subject: Subject) -> dict[str, int]:
    return {
        "cases": Case.objects.filter(subject=subject).count(),
        "messages": OutboundMessage.objects.filter(case__subject=subject).count(),
    }


HOLDERS: tuple[Holder, ...] = (
    Holder("identity", (Subject, SubjectKey), _describe_identity),
    Holder("vault", (DataItem, Holding), _describe_items),
    Holder("consents", (Consent,), _describe_consents),
    # Case records are kept for accountability (CCPA §7101: 24 months) and anonymised, not deleted.
    Holder("cases", (Case, OutboundMessage), _describe_cases),
)


def claimed_models() -> set[type[models.Model]]:
    return {m for h in HOLDERS for m in h.models}


def unclaimed_personal_models() -> list[type[models.Model]]:
    claimed = claimed_models()
    return [
        m
        for m in apps.get_models()
        if getattr(m, "PERSONAL_DATA", False) and m not in claimed
    ]


def describe(subject: Subject) -> dict[str, dict[str, int]]:
    return {h.name: h.describe(subject) for h in HOLDERS}
