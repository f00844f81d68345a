"""Operator roles and what each may do, enforced server-side (least privilege; issue 3 §5).

operator  — works cases: assign, verify identity, extend, pause/resume, refuse, complete.
approver  — the DPO: everything an operator does, plus the second approval for forced erasure, and keeping the
            processing register (in the admin).
auditor   — read-only: sees the queue, cases, timelines and reports; changes nothing.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import Group, User


class Role(StrEnum):
    OPERATOR = "operator"
    APPROVER = "approver"
    AUDITOR = "auditor"


class Action(StrEnum):
    VIEW = "view"
    REPORTS = "reports"
    WORK = "work"          # assign, verify, acknowledge, extend, pause, resume, refuse, complete
    APPROVE = "approve"    # second approval of forced erasure
    REGISTER = "register"  # edit the processing register (Art. 30) in the admin


CAPABILITIES: dict[Role, frozenset[Action]] = {
    Role.AUDITOR: frozenset({Action.VIEW, Action.REPORTS}),
    Role.OPERATOR: frozenset({Action.VIEW, Action.REPORTS, Action.WORK}),
    Role.APPROVER: frozenset({Action.VIEW, Action.REPORTS, Action.WORK, Action.APPROVE, Action.REGISTER}),
}


def roles_of(user: User) -> set[Role]:
    if not user.is_authenticated or not user.is_active:
        return set()
    if not hasattr(user, "_dsr_roles"):  # one query per request, however many checks a page makes
        user._dsr_roles = {Role(n) for n in user.groups.values_list("name", flat=True) if n in Role._value2member_map_}
    return user._dsr_roles


def can(user: User, action: Action) -> bool:
    return any(action in CAPABILITIES[r] for r in roles_of(user))


def ensure_groups() -> dict[Role, Group]:
    return {r: Group.objects.get_or_create(name=r.value)[0] for r in Role}


def create_staff(username: str, password: str, role: Role, **extra: str) -> User:
    groups = ensure_groups()
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": False, **extra})
    if created:
        user.set_password(password)
        user.save()
    user.groups.add(groups[role])
    return user


def ensure_roles_and_demo_staff(operator_login: tuple[str, str]) -> User:
    ensure_groups()
    create_staff("dpo", "dpo-demo-pass", Role.APPROVER, email="dpo@example.com")
    create_staff("auditor", "auditor-demo-pass", Role.AUDITOR, email="auditor@example.com")
    create_staff("operator2", "operator2-demo-pass", Role.OPERATOR, email="operator2@example.com")
    return create_staff(operator_login[0], operator_login[1], Role.OPERATOR, email="operator@example.com")
