"""The §5.1 decision aid: a suggested risk level with its reasons (legal-matrix §5.1, §11 item 9).

The operator decides (``dsr.breaches.assess_risk``, rationale required); this only suggests, and the
suggestion is stored beside the decision so the register shows both. The tree, in order:

1. No personal-data category affected → ``no_personal_data`` (a security incident, logged only).
2. Encrypted at rest, key not exposed, and availability only or already restored → ``unlikely`` (candidate:
   EDPB-EXAMPLES Case 01 — ransomware, proper backup, encrypted, restored) [V].
3. Special categories (CategoryPolicy.special_category; face embeddings are biometric templates and count
   even when the register does not flag them — §11 item 9: biometrics default HIGH), children, credentials,
   financial or identity data, or large scale (``DSR_BREACH_LARGE_SCALE_SUBJECTS`` people) → ``high``.
4. Otherwise → ``risk`` (notify the SA).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dsr.models import RiskFactor, RiskLevel

BIOMETRIC = frozenset({"face_embedding"})  # DataCategory values that are biometric templates


@dataclass(frozen=True)
class RiskFacts:
    categories: tuple[str, ...]
    special_categories: frozenset[str]
    types: tuple[str, ...]
    data_encrypted: bool
    keys_exposed: bool
    restored: bool
    factors: tuple[str, ...]
    people: int | None  # the stored scope's count, else the operator's estimate
    large_scale: int


def suggest_from(f: RiskFacts) -> tuple[str, list[str]]:
    """Pure: the level and the reasons, each reason a sentence an operator can check."""
    if not f.categories:
        return RiskLevel.NO_PERSONAL_DATA, ["no personal-data category is recorded as affected (§5.1 step 1)"]
    if f.data_encrypted and not f.keys_exposed and (set(f.types) <= {"availability"} or f.restored):
        why = "availability only" if set(f.types) <= {"availability"} else "availability restored"
        return RiskLevel.UNLIKELY, [f"encrypted at rest, key not exposed, {why}: candidate 'unlikely' "
                                    "(§5.1 step 2, EDPB-EXAMPLES Case 01) — check the restore and that nothing "
                                    "was exfiltrated"]
    reasons: list[str] = []
    biometric = sorted(set(f.categories) & BIOMETRIC)
    if biometric:
        reasons.append(f"biometric data affected ({', '.join(biometric)}): defaults to high (§11 item 9)")
    special = sorted((set(f.categories) & f.special_categories) - BIOMETRIC)
    if special:
        reasons.append(f"special-category data affected ({', '.join(special)}) (§5.1 step 3)")
    labels = dict(RiskFactor.choices)
    for factor in f.factors:
        if factor in labels:
            reasons.append(f"{labels[factor]} (§5.1 step 3)")
    if f.people is not None and f.people >= f.large_scale:
        reasons.append(f"large scale: {f.people} people, at or above the threshold of {f.large_scale} "
                       "(DSR_BREACH_LARGE_SCALE_SUBJECTS)")
    if reasons:
        return RiskLevel.HIGH, reasons
    if f.data_encrypted and not f.keys_exposed:
        return RiskLevel.RISK, ["encrypted and the key was not exposed, but not an availability-only breach: "
                                "notify the SA; Art. 34(3)(a) may spare the individual notices (§5.1 step 4)"]
    return RiskLevel.RISK, ["personal data affected without a high-risk factor (§5.1 step 4): notify the SA"]


def special_categories(categories: Iterable[str]) -> frozenset[str]:
    from dsr.models import CategoryPolicy

    return frozenset(CategoryPolicy.objects.filter(category__in=list(categories), special_category=True)
                     .values_list("category", flat=True))


def facts_of(breach: Any) -> RiskFacts:
    from django.conf import settings

    people = breach.scope_subjects if breach.scope_version else breach.subjects_estimate
    return RiskFacts(
        categories=tuple(breach.categories or ()), special_categories=special_categories(breach.categories or ()),
        types=tuple(breach.types or ()), data_encrypted=breach.data_encrypted, keys_exposed=breach.keys_exposed,
        restored=breach.restored_at is not None, factors=tuple(breach.risk_factors or ()), people=people,
        large_scale=settings.DSR_BREACH_LARGE_SCALE_SUBJECTS)


def suggest(breach: Any) -> tuple[str, list[str]]:
    """The §5.1 suggestion for a breach (reads the category policies: which categories are special)."""
    return suggest_from(facts_of(breach))
