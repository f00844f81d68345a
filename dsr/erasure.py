"""Erasure that really erases (issue 9; design.md "Erasure cascade"): the verbs that start, steer and report on a
cascade. The cascade itself runs on the durable step runner (dsr/steps.py); its step handlers are in
dsr/cascade.py.

A whole-subject erasure: stop new writes (the gate, checked by every writer inside its transaction) → manifest of
ids → grace window (default 48 h, DSR_ERASURE_GRACE_HOURS; cancelling restores everything) → destroy the data key
→ erase every item → everything derived from them → the subject's rows in django-q2's tables → every holder's
records (identifiers, consents, cases' free text, flags…) → signed notices to downstream recipients, side by side
with a verification sweep → evidence, certificate and the case completed → the completion notice, after which the
sealed copy of the subject's address is wiped. A partial erasure runs the same steps on chosen categories or items
(no key destruction: the rest stays readable); ``erase_items`` does it for chosen items without a case (consent
withdrawal, takedowns).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse

from dsr import audit, crypto, steps, workflow
from dsr.deadlines import Kind, Regime
from dsr.keys import get_keyring
from dsr.models import (
    Case,
    CaseState,
    Consent,
    DataCategory,
    DataItem,
    Erasure,
    ErasureScope,
    ErasureState,
    ErasureTarget,
    Holding,
    LegalHold,
    PortalFiling,
    ProcessingActivity,
    RecipientNotice,
    StepRun,
    Subject,
)
from dsr.models.steps import Step, StepState
from dsr.models.vault import derived_item_ids
from dsr.steps import StepSpec
from dsr.workflow import WorkflowError

ACTOR = "system:erasure"
H = "dsr.cascade."


class ErasureError(WorkflowError):
    """A refused erasure action; the message is safe to show."""


# --- legal holds: Art. 17(3) grounds and CCPA §1798.105(d) exceptions ------------------------------------


@dataclass(frozen=True)
class HoldGround:
    code: str
    label: str
    regimes: frozenset[Regime]


_GDPR = frozenset({Regime.EU_GDPR, Regime.UK_GDPR})
_CCPA = frozenset({Regime.CCPA})
HOLD_GROUNDS: tuple[HoldGround, ...] = (
    HoldGround("art17_3_a_expression", "Freedom of expression and information — Art. 17(3)(a)", _GDPR),
    HoldGround("art17_3_b_legal_obligation", "Legal obligation / public task — Art. 17(3)(b)", _GDPR),
    HoldGround("art17_3_c_public_health", "Public health — Art. 17(3)(c)", _GDPR),
    HoldGround("art17_3_d_archiving", "Archiving, research or statistics — Art. 17(3)(d)", _GDPR),
    HoldGround("art17_3_e_legal_claims", "Establishment, exercise or defence of legal claims — Art. 17(3)(e)", _GDPR),
    HoldGround("ccpa_105d_1_transaction", "Complete the transaction or provide the service — §1798.105(d)(1)", _CCPA),
    HoldGround("ccpa_105d_2_security", "Security and integrity — §1798.105(d)(2)", _CCPA),
    HoldGround("ccpa_105d_3_debug", "Debug to repair errors — §1798.105(d)(3)", _CCPA),
    HoldGround("ccpa_105d_4_free_speech", "Free speech — §1798.105(d)(4)", _CCPA),
    HoldGround("ccpa_105d_5_calecpa", "California Electronic Communications Privacy Act — §1798.105(d)(5)", _CCPA),
    HoldGround("ccpa_105d_6_research", "Public-interest research — §1798.105(d)(6)", _CCPA),
    HoldGround("ccpa_105d_7_internal", "Internal uses aligned with the consumer's expectations — §1798.105(d)(7)",
               _CCPA),
    HoldGround("ccpa_105d_8_legal_obligation", "Comply with a legal obligation — §1798.105(d)(8)", _CCPA),
)
HOLD_GROUNDS_BY_CODE = {g.code: g for g in HOLD_GROUNDS}


def hold_grounds_for(case: Case) -> list[HoldGround]:
    regimes = {Regime(r) for r in case.regimes}
    return [g for g in HOLD_GROUNDS if g.regimes & regimes]


def category_label(category: str) -> str:
    try:
        return str(DataCategory(category).label)
    except ValueError:
        return category.replace("_", " ")


# --- the sealed contact ------------------------------------------------------------------------------------


def _contact_context(erasure_id: uuid.UUID) -> bytes:
    return f"dsr-erasure-contact-v1|erasure:{erasure_id}".encode()


def _seal_contact(erasure: Erasure, subject: Subject) -> None:
    key = crypto.new_data_key()
    erasure.contact_key = get_keyring().wrap(key, context=_contact_context(erasure.pk))
    # The language of the portal filing, if any: the portal's records go with the holders step, before the
    # completion notice is written, and the notice must still be in the language the person used.
    language = (PortalFiling.objects.filter(case_id=erasure.case_id).order_by("created_at")
                .values_list("language", flat=True).first() if erasure.case_id else None)
    plain = json.dumps({"email": subject.email or "", "account_id": subject.account_id or "",
                        "language": language or ""}).encode()
    erasure.contact_sealed = crypto.seal(key, plain, aad=_contact_context(erasure.pk))


def contact_of(erasure: Erasure) -> dict[str, str]:
    """The subject's address, account id and portal language, sealed at approval ({} once wiped or for other
    scopes)."""
    if not erasure.contact_sealed or not erasure.contact_key:
        return {}
    key = get_keyring().unwrap(erasure.contact_key, context=_contact_context(erasure.pk))
    return json.loads(crypto.open_sealed(key, bytes(erasure.contact_sealed), aad=_contact_context(erasure.pk)))


# --- starting a cascade --------------------------------------------------------------------------------------


def grace_period() -> timedelta:
    return timedelta(hours=float(getattr(settings, "DSR_ERASURE_GRACE_HOURS", 48)))


def _require_erasure_case(case: Case) -> None:
    if Kind(case.kind) != Kind.ERASURE:
        raise ErasureError("only an erasure request starts an erasure")
    if not case.is_open:
        raise ErasureError(f"case {case.reference} is {case.get_state_display().lower()}; it can no longer change")
    if case.state == CaseState.PAUSED:
        raise ErasureError("resume the case before approving the erasure")
    if not case.verified_at and case.forced_erasure_approved_by_id is None:
        raise ErasureError("verify the requester's identity first (or have a forced erasure approved by a second "
                           "person)")


def approve_erasure(case: Case, *, actor: User | str, now: datetime, categories: Iterable[str] = (),
                    item_ids: Iterable[uuid.UUID | str] = ()) -> StepRun:
    """Start the cascade for an erasure case. With ``categories`` or ``item_ids`` only those (and everything
    derived from them) are erased; otherwise everything about the subject. Steps: the case must be an open,
    verified (or forced-approved) erasure request with no erasure already running; set the gate (a whole-subject
    erasure stops every write for the subject), record the manifest and the recipients to tell, start the run
    (its grace step waits until the window ends), write ``case.erasure_approved``."""
    categories = sorted(set(categories))
    chosen = sorted({uuid.UUID(str(i)) for i in item_ids})
    bad = [c for c in categories if c not in DataCategory.values]
    if bad:
        raise ErasureError(f"unknown category {', '.join(bad)}")
    label = workflow.actor_label(actor)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        _require_erasure_case(case)
        if Erasure.objects.active().filter(case=case).exists():
            raise ErasureError("an erasure is already running for this case")
        subject = Subject.objects.select_for_update().filter(pk=case.subject_id).first()
        if subject is None or subject.erased_at is not None:
            raise ErasureError("the subject has already been erased")
        partial = bool(categories or chosen)
        if not partial and Erasure.objects.active().filter(subject=subject, scope=ErasureScope.SUBJECT).exists():
            raise ErasureError("the subject is already being erased (another case)")
        roots: list[uuid.UUID] = []
        if partial:
            held_by = DataItem.objects.filter(holders__subject=subject)
            if chosen:
                found = set(held_by.filter(pk__in=chosen).values_list("pk", flat=True))
                if found != set(chosen):
                    raise ErasureError("an item given is not the subject's")
            roots = list(held_by.filter(category__in=categories).values_list("pk", flat=True)) + chosen
            if not roots:
                raise ErasureError("the subject holds nothing in the chosen categories")
        grace = grace_period()
        erasure = Erasure(
            id=uuid.uuid4(), scope=ErasureScope.PARTIAL if partial else ErasureScope.SUBJECT,
            state=ErasureState.GRACE if grace else ErasureState.RUNNING, reason="erasure_request", case=case,
            subject=subject, subject_ref=subject.reference, categories=categories, approved_by=label[:64],
            created_at=now, grace_ends_at=now + grace if grace else None,
        )
        if not partial:
            _seal_contact(erasure, subject)
            if subject.writes_blocked_at is None:
                Subject.objects.filter(pk=subject.pk).update(writes_blocked_at=now)
        erasure.save(force_insert=True)
        counts = build_manifest(erasure, roots=None if not partial else roots)
        run = _start(erasure, actor=label, now=now)
        workflow_event(case, "erasure_approved", actor=actor, now=now, erasure=str(erasure.pk), scope=erasure.scope,
                       grace_ends_at=erasure.grace_ends_at.isoformat() if erasure.grace_ends_at else None,
                       items=counts["own"], derived=counts["derived"], categories=categories)
    return run


def erase_items(item_ids: Iterable[uuid.UUID | str], *, reason: str, actor: User | str, now: datetime,
                case: Case | None = None, subject: Subject | None = None) -> StepRun:
    """Erase chosen items and everything derived from them, through the cascade, at once (no grace window): a
    withdrawn consent (G-CW), a takedown. New items derived from them are refused while it runs."""
    ids = sorted({uuid.UUID(str(i)) for i in item_ids})
    if not ids:
        raise ErasureError("no items to erase")
    label = workflow.actor_label(actor)
    with transaction.atomic():
        if DataItem.objects.filter(pk__in=ids).count() != len(ids):
            raise ErasureError("unknown item")
        erasure = Erasure.objects.create(
            id=uuid.uuid4(), scope=ErasureScope.ITEMS, state=ErasureState.RUNNING, reason=reason[:40], case=case,
            subject=subject, subject_ref=subject.reference if subject else "", approved_by=label[:64], created_at=now)
        build_manifest(erasure, roots=ids)
        run = _start(erasure, actor=label, now=now)
    return run


def build_manifest(erasure: Erasure, *, roots: list[uuid.UUID] | None) -> dict[str, int]:
    """Record every item the erasure covers (idempotent). ``roots=None``: every item the subject holds.
    Everything derived from a root, transitively, is added as 'derived' unless the subject holds it directly."""
    if roots is None:
        own = list(Holding.objects.filter(subject_id=erasure.subject_id)
                   .exclude(role=Holding.Role.DERIVED).values_list("item_id", flat=True))
        by_lineage = list(Holding.objects.filter(subject_id=erasure.subject_id, role=Holding.Role.DERIVED)
                          .values_list("item_id", flat=True))
    else:
        own, by_lineage = list(roots), []
    walked: set[uuid.UUID] = set()
    seeds = own + by_lineage
    for start in range(0, len(seeds), 5000):  # bounded parameter lists, however many items
        walked |= derived_item_ids(seeds[start:start + 5000])
    derived = (walked | set(by_lineage)) - set(own)
    rows = []
    for role, ids in ((ErasureTarget.Role.OWN, own), (ErasureTarget.Role.DERIVED, sorted(derived))):
        for start in range(0, len(ids), 2000):
            chunk = ids[start:start + 2000]
            for pk, category, purpose, blob in (DataItem.objects.filter(pk__in=chunk)
                                                .values_list("pk", "category", "purpose", "blob_name")):
                rows.append(ErasureTarget(erasure=erasure, item_id=pk, category=category, purpose=purpose,
                                          blob_name=blob, role=role))
    ErasureTarget.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return {"own": len(own), "derived": len(derived)}


def _recipients_for(erasure: Erasure) -> list[Any]:
    """Every recipient in the register that received the subject's data: those of the activities whose purpose
    the erased items served, or that use their categories (a consent-based activity only if the subject consented
    to it); for a whole subject also the account's and the consent records' activities."""
    targets = ErasureTarget.objects.filter(erasure=erasure)
    purposes = set(targets.values_list("purpose", flat=True).distinct())
    categories = set(targets.values_list("category", flat=True).distinct())
    consented: set[str] = set()
    if erasure.scope == ErasureScope.SUBJECT:
        consented = set(Consent.objects.filter(subject_id=erasure.subject_id).values_list("purpose", flat=True))
        categories.add(DataCategory.ACCOUNT_PROFILE)
        if consented:
            categories.add(DataCategory.CONSENT_RECORD)
    chosen: dict[int, Any] = {}
    for activity in ProcessingActivity.objects.prefetch_related("recipients"):
        uses = categories & set(activity.categories or [])
        if activity.purpose in purposes or activity.purpose in consented or (
                uses and (not activity.needs_consent or activity.purpose in consented)):
            for r in activity.recipients.all():
                chosen[r.pk] = r
    return [chosen[k] for k in sorted(chosen)]


def _start(erasure: Erasure, *, actor: str, now: datetime) -> StepRun:
    notices = [RecipientNotice.objects.create(erasure=erasure, recipient=r, step_name=f"notify-recipient-{r.pk}",
                                              created_at=now) for r in _recipients_for(erasure)]
    p = {"erasure": str(erasure.pk)}
    specs = [StepSpec("manifest", H + "manifest", 10, p)]
    if erasure.grace_ends_at:
        specs.append(StepSpec("grace", H + "grace", 20, p, not_before=erasure.grace_ends_at))
    if erasure.scope == ErasureScope.SUBJECT:
        specs.append(StepSpec("shred", H + "shred", 30, p))
    specs += [StepSpec("items", H + "erase_own", 40, p), StepSpec("derived", H + "erase_derived", 50, p),
              StepSpec("queue", H + "scrub_queue", 60, p)]
    if erasure.scope == ErasureScope.SUBJECT:
        specs.append(StepSpec("holders", H + "erase_holders", 70, p))
    webhook_attempts = int(getattr(settings, "DSR_WEBHOOK_MAX_ATTEMPTS", 8))
    for n in notices:
        # Without a webhook there is nothing to retry: the step waits at once for an operator to record the channel.
        specs.append(StepSpec(n.step_name, H + "notify_recipient", 80, {**p, "notice": str(n.pk)},
                              max_attempts=webhook_attempts if n.recipient.webhook_url else 1))
    specs.append(StepSpec("sweep", H + "sweep", 80, p))
    specs.append(StepSpec("complete", H + "complete", 90, p))
    specs.append(StepSpec("notice", H + "notice", 100, p))
    run = steps.start_run("erasure", specs, object_type="erasure", object_id=erasure.pk, actor=actor, now=now,
                          subject_ref=erasure.subject_ref)
    Erasure.objects.filter(pk=erasure.pk).update(run=run)
    erasure.run = run
    return run


def workflow_event(case: Case, event: str, *, actor: User | str, now: datetime, **data: Any) -> None:
    audit.record(f"case.{event}", actor=workflow.actor_label(actor), now=now, object_type="case", object_id=case.pk,
                 subject_ref=case.subject_ref, data=data)


# --- steering ------------------------------------------------------------------------------------------------


def active_erasure(case: Case) -> Erasure | None:
    return Erasure.objects.active().filter(case=case).first()


def cancel_erasure(case: Case, *, actor: User | str, now: datetime, reason: str) -> None:
    """Cancel in the grace window (operator, or the subject through the portal): nothing has been destroyed yet,
    so this restores everything — the run stops, the gate lifts (writes allowed again), the manifest goes, and the
    case is cancelled with its event. Refused once the window is over and destruction may have begun."""
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ErasureError("a reason for cancelling is required (at least 5 characters)")
    with transaction.atomic():
        found = active_erasure(case)
        if found is None:
            raise ErasureError("no erasure is running for this case")
        # Lock order shared with the grace step (run, then erasure) so the two cannot deadlock.
        StepRun.objects.select_for_update().filter(pk=found.run_id).first()
        erasure = Erasure.objects.select_for_update().get(pk=found.pk)
        if erasure.state != ErasureState.GRACE:
            raise ErasureError("the grace window is over: the erasure can no longer be cancelled")
        if erasure.run is not None:
            steps.cancel_run(erasure.run, actor=workflow.actor_label(actor), now=now, subject_ref=erasure.subject_ref)
        erasure.state, erasure.cancelled_at = ErasureState.CANCELLED, now
        erasure.contact_sealed, erasure.contact_key = None, ""
        erasure.save(update_fields=["state", "cancelled_at", "contact_sealed", "contact_key"])
        ErasureTarget.objects.filter(erasure=erasure).delete()
        RecipientNotice.objects.filter(erasure=erasure).delete()
        if erasure.scope == ErasureScope.SUBJECT and not Erasure.objects.active().filter(
                subject_id=erasure.subject_id, scope=ErasureScope.SUBJECT).exists():
            Subject.objects.filter(pk=erasure.subject_id, erased_at__isnull=True).update(writes_blocked_at=None)
        workflow_event(case, "erasure_cancelled", actor=actor, now=now, erasure=str(erasure.pk))
        workflow.cancel_case(case, reason=reason, actor=actor, now=now)


def record_hold(case: Case, *, category: str, ground: str, note: str, actor: User, now: datetime) -> LegalHold:
    """An approver keeps a category despite the erasure (Art. 17(3) / §1798.105(d)). Recorded before the cascade
    starts destroying (before approval or in the grace window); the certificate and notice name it."""
    from dsr.roles import Action, can

    note = (note or "").strip()
    if not can(actor, Action.APPROVE):
        raise ErasureError("only an approver (DPO) can record a legal hold")
    if category not in DataCategory.values:
        raise ErasureError("choose a category of the register")
    if len(note) < 10:
        raise ErasureError("say what the hold is for (at least 10 characters)")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if Kind(case.kind) != Kind.ERASURE or not case.is_open:
            raise ErasureError("legal holds are recorded on open erasure requests")
        g = HOLD_GROUNDS_BY_CODE.get(ground)
        if g is None or g not in hold_grounds_for(case):
            raise ErasureError("that ground does not apply under this case's regimes")
        running = active_erasure(case)
        if running is not None and running.state != ErasureState.GRACE:
            raise ErasureError("the erasure is past its grace window; a hold can no longer be added")
        if LegalHold.objects.filter(case=case, category=category).exists():
            raise ErasureError("this category is already held")
        hold = LegalHold.objects.create(case=case, category=category, ground=ground, note=note, recorded_by=actor,
                                        recorded_at=now)
        workflow_event(case, "hold_recorded", actor=actor, now=now, category=category, ground=ground)
    return hold


def record_other_channel(notice: RecipientNotice, *, note: str, actor: User | str, now: datetime) -> None:
    """An operator told a recipient another way (letter, their portal): the notice counts as given and the run
    goes on. The note is kept on the notice and the step (not in the audit trail)."""
    note = (note or "").strip()
    with transaction.atomic():
        notice = RecipientNotice.objects.select_for_update(of=("self",)).select_related("erasure").get(pk=notice.pk)
        if notice.delivered_at or notice.other_channel_at:
            raise ErasureError("this recipient has already been told")
        step = Step.objects.filter(run_id=notice.erasure.run_id, name=notice.step_name).first()
        if step is None or step.state not in (StepState.PENDING, StepState.DEAD):
            raise ErasureError("this notice is being sent right now or was cancelled; try again in a moment")
        try:
            steps.resolve_step(step, note=note, actor=workflow.actor_label(actor), now=now,
                               evidence={"other_channel": True})
        except steps.StepError as exc:
            raise ErasureError(str(exc)) from exc
        notice.other_channel_note, notice.other_channel_at = note, now
        notice.save(update_fields=["other_channel_note", "other_channel_at"])
        audit.record("erasure.recipient_other_channel", actor=workflow.actor_label(actor), now=now,
                     object_type="erasure", object_id=notice.erasure_id, data={"recipient": notice.recipient_id})


def confirm_notice(notice: RecipientNotice, *, confirmation: str, now: datetime) -> bool:
    """A recipient's signed confirmation (dsr/views/hooks.py). Idempotent: returns False if already confirmed."""
    with transaction.atomic():
        updated = RecipientNotice.objects.filter(pk=notice.pk, confirmed_at__isnull=True).update(
            confirmed_at=now, confirmation=confirmation[:32])
        if updated:
            audit.record("erasure.recipient_confirmed", actor=f"recipient:{notice.recipient_id}", now=now,
                         object_type="erasure", object_id=notice.erasure_id,
                         data={"recipient": notice.recipient_id, "confirmation": confirmation[:32]})
    return bool(updated)


# --- reporting -----------------------------------------------------------------------------------------------


def _step_view(step: Step) -> dict[str, Any]:
    counts = {k: v for k, v in (step.evidence or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {"name": step.name, "state": step.state, "attempts": step.attempts,
            "completed_at": step.completed_at.isoformat() if step.completed_at else None,
            "waiting_until": step.not_before.isoformat() if step.state == StepState.PENDING and step.not_before
            else None, "last_error": step.last_error or None, "counts": counts}


def recipient_view(notice: RecipientNotice, step: Step | None) -> dict[str, Any]:
    status = notice.status
    if status == "pending" and step is not None and step.state == StepState.DEAD:
        status = "failed"
    elif status == "pending" and step is not None and step.attempts:
        status = "retrying"
    return {"notice": str(notice.pk), "recipient": notice.recipient.name, "recipient_id": notice.recipient_id,
            "status": status, "attempts": step.attempts if step else notice.attempts,
            "last_status": notice.last_status or None, "webhook": bool(notice.recipient.webhook_url),
            "delivered_at": notice.delivered_at.isoformat() if notice.delivered_at else None,
            "confirmed_at": notice.confirmed_at.isoformat() if notice.confirmed_at else None,
            "other_channel_at": notice.other_channel_at.isoformat() if notice.other_channel_at else None}


def erasure_status(case: Case) -> dict[str, Any] | None:
    """The latest erasure of a case, for the case JSON, the console and the portal: state, current step, each
    step's counts, the grace window, recipients' statuses, holds and — when done — the certificate URL."""
    erasure = Erasure.objects.filter(case=case).select_related("run").first()
    return status_of(erasure) if erasure else None


def status_of(erasure: Erasure) -> dict[str, Any]:
    run_steps = list(Step.objects.filter(run_id=erasure.run_id).order_by("seq", "id")) if erasure.run_id else []
    by_name = {s.name: s for s in run_steps}
    current = next((s.name for s in run_steps if s.state != StepState.DONE and s.state != StepState.CANCELLED), None)
    notices = list(erasure.notices.select_related("recipient"))
    holds = list(LegalHold.objects.filter(case_id=erasure.case_id)) if erasure.case_id else []
    done = erasure.state == ErasureState.COMPLETED
    return {
        "id": str(erasure.pk),
        "scope": erasure.scope,
        "state": erasure.state,
        "needs_attention": any(s.state == StepState.DEAD for s in run_steps),
        "approved_at": erasure.created_at.isoformat(),
        "grace_ends_at": erasure.grace_ends_at.isoformat() if erasure.grace_ends_at else None,
        "cancellable": erasure.state == ErasureState.GRACE,
        "current_step": current,
        "steps": [_step_view(s) for s in run_steps],
        "key_destroyed_at": erasure.key_destroyed_at.isoformat() if erasure.key_destroyed_at else None,
        "recipients": [recipient_view(n, by_name.get(n.step_name)) for n in notices],
        "holds": [{"category": h.category, "ground": h.ground,
                   "ground_label": HOLD_GROUNDS_BY_CODE[h.ground].label if h.ground in HOLD_GROUNDS_BY_CODE
                   else h.ground} for h in holds],
        "erased": (erasure.evidence or {}).get("erased", {}),
        "completed_at": erasure.completed_at.isoformat() if erasure.completed_at else None,
        "certificate_url": reverse("api-case-certificate", args=[erasure.case_id]) if done and erasure.case_id
        else None,
    }
