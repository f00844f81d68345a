"""Processing flags the platform obeys (issue 9 §7). ``GET /api/v1/subjects/{id}/processing`` answers from them
through ``vault.processing_allowed``.

* Objection (Art. 21(1), G-OBJ) and restriction (Art. 18, G-RES) set their flags when the case is completed with
  the purposes it covers; a restriction may cover every purpose ("*": storage only, Art. 18(2)).
* An objection to direct marketing (Art. 21(2)-(3), G-DM) takes effect at once: the flag is set when the case is
  filed, on every purpose of the register marked as direct marketing. It is absolute: never refused.
* Consent withdrawal (Art. 7(3), G-CW) withdraws the consents, sets the flag, and erases through the cascade the
  derived items that relied on the consent (a face embedding, the videos made from it).
* A flag on a subject stops the purpose for every item that subject holds and for every item derived from one
  of theirs, whoever else holds it.
* Lifting: a restriction only after the subject has been told (Art. 18(3)); any flag only with a recorded reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext

from dsr import audit, emails, notices, vault, workflow
from dsr.deadlines import Kind
from dsr.models import (
    Case,
    CaseState,
    Consent,
    DataItem,
    Derivation,
    FlagKind,
    Holding,
    ProcessingActivity,
    ProcessingFlag,
    StepRun,
    Subject,
)
from dsr.workflow import Actor, WorkflowError

ALL_PURPOSES = "*"
FLAG_FOR_KIND = {
    Kind.OBJECTION: FlagKind.OBJECTION,
    Kind.RESTRICTION: FlagKind.RESTRICTION,
    Kind.CONSENT_WITHDRAWAL: FlagKind.CONSENT_WITHDRAWN,
    Kind.DIRECT_MARKETING_OBJECTION: FlagKind.DIRECT_MARKETING,
}


def register_purposes() -> list[str]:
    return list(ProcessingActivity.objects.order_by("purpose").values_list("purpose", flat=True))


def marketing_purposes() -> list[str]:
    return list(ProcessingActivity.objects.filter(direct_marketing=True).order_by("purpose")
                .values_list("purpose", flat=True))


def _set_flag(subject: Subject, purpose: str, kind: str, *, case: Case | None, actor: str,
              now: datetime) -> ProcessingFlag:
    existing = ProcessingFlag.objects.active().filter(subject=subject, purpose=purpose, kind=kind).first()
    if existing is not None:
        return existing
    flag = ProcessingFlag.objects.create(subject=subject, purpose=purpose, kind=kind, case=case, set_at=now,
                                         set_by=actor[:64])
    audit.record("flag.set", actor=actor, now=now, object_type="flag", object_id=flag.pk,
                 subject_ref=subject.reference,
                 data={"kind": kind, "purpose": purpose, "case": str(case.pk) if case else ""})
    return flag


def on_direct_marketing_objection(case: Case, *, actor: str, now: datetime) -> list[ProcessingFlag]:
    """G-DM: called by ``workflow.submit_case`` in its transaction, so marketing stops the moment it is filed."""
    if case.subject is None:
        return []
    return [_set_flag(case.subject, p, FlagKind.DIRECT_MARKETING, case=case, actor=actor, now=now)
            for p in marketing_purposes()]


def complete_with_flags(case: Case, *, purposes: Iterable[str], actor: Actor, now: datetime) -> Case:
    """Complete an objection, restriction, direct-marketing objection or consent withdrawal with the purposes it
    covers. Steps: the case must be open, not paused, and (objection, restriction) verified; every purpose must be
    in the register ("*" only for a restriction); set one flag per purpose; for a consent withdrawal, withdraw the
    subject's active consents for those purposes and erase what relied on them through the cascade; then close the
    case (``case.completed``) and send the completion notice."""
    purposes = sorted(set(purposes))
    label = workflow.actor_label(actor)
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("subject").get(pk=case.pk)
        kind = Kind(case.kind)
        if kind not in FLAG_FOR_KIND:
            raise WorkflowError("only objections, restrictions and consent withdrawals set processing flags")
        if not case.is_open:
            raise WorkflowError(f"case {case.reference} is {case.get_state_display().lower()}; it can no longer "
                                "change")
        if case.state == CaseState.PAUSED:
            raise WorkflowError("resume the case before completing it")
        if kind in (Kind.OBJECTION, Kind.RESTRICTION) and not case.verified_at:
            raise WorkflowError("verify the requester's identity first")
        if case.subject is None:
            raise WorkflowError("the case has no subject")
        if kind == Kind.DIRECT_MARKETING_OBJECTION and not purposes:
            purposes = marketing_purposes()
        known = set(register_purposes()) | ({ALL_PURPOSES} if kind == Kind.RESTRICTION else set())
        if not purposes or set(purposes) - known:
            raise WorkflowError("choose the purposes of the register the request covers")
        for purpose in purposes:
            _set_flag(case.subject, purpose, FLAG_FOR_KIND[kind], case=case, actor=label, now=now)
        if kind == Kind.CONSENT_WITHDRAWAL:
            consents = Consent.objects.active(now).filter(subject=case.subject, purpose__in=purposes)
            for consent in consents.select_related("subject"):
                withdraw_consent(consent, actor=actor, now=now, case=case)
        case = workflow.record_completion(case, outcome="complied_full", note="", actor=actor, now=now)
    return case


# --- consent withdrawal --------------------------------------------------------------------------------------


def relying_items(consent: Consent, now: datetime) -> list[uuid.UUID]:
    """Derived items that relied on this consent: made from the consented item (or, for a consent about no
    particular item, any derived item of the person) for the consent's purpose, with no other active consent of
    the person still covering them. Their own derivatives follow through the cascade."""
    from dsr.models.vault import derived_item_ids

    other = Consent.objects.active(now).filter(subject=consent.subject, purpose=consent.purpose).exclude(pk=consent.pk)
    if other.filter(item__isnull=True).exists():
        return []
    held = DataItem.objects.filter(holders__subject=consent.subject, purpose=consent.purpose, purged_at__isnull=True)
    if consent.item_id:
        if other.filter(item_id=consent.item_id).exists():
            return []
        held = held.filter(pk__in=list(derived_item_ids([consent.item_id])))
    else:
        held = held.filter(parent_links__isnull=False)
    return sorted(set(held.values_list("pk", flat=True)))


def withdraw_consent(consent: Consent, *, actor: Actor, now: datetime, case: Case | None = None) -> StepRun | None:
    """G-CW: the withdrawal takes effect at once, and what relied on the consent is erased through the cascade
    (dsr.erasure.erase_items) in the same transaction. Returns the erasure's run, if anything was to be erased."""
    from dsr import erasure

    label = workflow.actor_label(actor)
    with transaction.atomic():
        vault.withdraw_consent(consent, actor=label, now=now)
        items = relying_items(consent, now)
        if not items:
            return None
        return erasure.erase_items(items, reason="consent_withdrawal", actor=actor, now=now, case=case,
                                   subject=consent.subject)


# --- telling the subject and lifting --------------------------------------------------------------------------


def _lifting_law(regimes: Iterable[str], case: Case | None = None) -> dict[str, str]:
    """The law and the authority a restriction-lifting notice names, from the regimes of its case (issue 8 §6:
    a UK case names UK GDPR Art. 18(3) and the ICO, never the EU authority of the controller's country).
    Restriction is a GDPR / UK GDPR right only; a flag without a case is treated as EU GDPR. The law's name is
    in the language of the letter (the portal filer's), like the rest of it."""
    gdpr = [r for r in (notices.EU, notices.UK) if r in set(regimes)] or [notices.EU]
    with translation.override(emails.language_of(case)):
        names = [gettext("the UK GDPR") if r == notices.UK else gettext("the GDPR") for r in gdpr]
        law = gettext("%(first)s and %(second)s") % {"first": names[0], "second": names[1]} if len(names) == 2 \
            else names[0]
    authority = "; ".join(notices.ICO.text() if r == notices.UK else workflow.supervisory_authority().text()
                          for r in gdpr)
    return {"law": law, "supervisory_authority": authority}


def inform_before_lifting(flag: ProcessingFlag, *, actor: Actor, now: datetime, channel: str = "email") -> None:
    """Art. 18(3): the subject must be told before a restriction is lifted. By e-mail to the address on file (the
    notice is queued), or an operator records another channel (post, phone)."""
    with transaction.atomic():
        flag = ProcessingFlag.objects.select_for_update(of=("self",)).select_related("subject", "case").get(pk=flag.pk)
        if flag.kind != FlagKind.RESTRICTION or not flag.is_active:
            raise WorkflowError("only an active restriction is announced before it is lifted")
        if channel == "email":
            if not flag.subject.email:
                raise WorkflowError("no address on file: record how the subject was told (post, phone)")
            emails.queue("restriction_lifting", to=flag.subject.email, now=now, case=flag.case,
                         context={"flag": flag, "purpose": flag.purpose, "case": flag.case,
                                  **_lifting_law(flag.case.regimes if flag.case else [], flag.case)})
        elif channel not in ("post", "phone", "in_app"):
            raise WorkflowError("choose how the subject was told: email, post, phone or in_app")
        flag.subject_told_at, flag.told_channel = now, channel
        flag.save(update_fields=["subject_told_at", "told_channel"])
        audit.record("flag.subject_told", actor=workflow.actor_label(actor), now=now, object_type="flag",
                     object_id=flag.pk, subject_ref=flag.subject.reference, data={"channel": channel})


def lift_flag(flag: ProcessingFlag, *, reason: str, actor: Actor, now: datetime) -> ProcessingFlag:
    """Lift a flag, with the reason (the subject withdrew the objection, the accuracy was verified…). A
    restriction only once the subject has been told, at an earlier moment (Art. 18(3))."""
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise WorkflowError("say why the flag is lifted (at least 10 characters)")
    with transaction.atomic():
        flag = ProcessingFlag.objects.select_for_update(of=("self",)).select_related("subject").get(pk=flag.pk)
        if not flag.is_active:
            raise WorkflowError("this flag was already lifted")
        if flag.kind == FlagKind.RESTRICTION and (flag.subject_told_at is None or flag.subject_told_at >= now):
            raise WorkflowError("a restriction is lifted only after the subject has been told (Art. 18(3)): "
                                "tell them first")
        flag.lifted_at, flag.lifted_by, flag.lift_reason = now, workflow.actor_label(actor)[:64], reason
        flag.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
        audit.record("flag.lifted", actor=workflow.actor_label(actor), now=now, object_type="flag", object_id=flag.pk,
                     subject_ref=flag.subject.reference, data={"kind": flag.kind, "purpose": flag.purpose})
    return flag


# --- answering the platform ----------------------------------------------------------------------------------


def ancestor_holders(item: DataItem) -> list[Subject]:
    """Every subject holding an item ``item`` was derived from, transitively (their flags bind it too)."""
    table = Derivation._meta.db_table
    to_db = (lambda u: u) if connection.vendor == "postgresql" else (lambda u: u.hex)
    sql = f"""
        WITH RECURSIVE up(id) AS (
            SELECT parent_id FROM {table} WHERE child_id = %s
            UNION
            SELECT d.parent_id FROM {table} d JOIN up u ON d.child_id = u.id
        )
        SELECT id FROM up
    """  # noqa: S608 - table name from model meta, value parametrised
    with connection.cursor() as cur:
        cur.execute(sql, [to_db(item.pk)])
        parents = [uuid.UUID(str(row[0])) for row in cur.fetchall()]
    if not parents:
        return []
    ids = set(Holding.objects.filter(item_id__in=parents).values_list("subject_id", flat=True))
    return list(Subject.objects.filter(pk__in=ids))


_LABEL = {FlagKind.OBJECTION: "objected (Art. 21(1))", FlagKind.DIRECT_MARKETING: "objected to direct marketing "
          "(Art. 21(2))", FlagKind.RESTRICTION: "restricted processing (Art. 18)",
          FlagKind.CONSENT_WITHDRAWN: "withdrew consent (Art. 7(3))"}


def flag_reasons(people: Iterable[Subject], purpose: str, now: datetime) -> list[str]:
    people = list(people)
    flags = (ProcessingFlag.objects.active().filter(subject__in=people)
             .filter(Q(purpose=purpose) | Q(purpose=ALL_PURPOSES)).select_related("subject").order_by("set_at", "pk"))
    reasons = []
    for flag in flags:
        if flag.kind == FlagKind.CONSENT_WITHDRAWN and Consent.objects.active(now).filter(
                subject=flag.subject, purpose=purpose, granted_at__gt=flag.set_at).exists():
            continue  # consent given again after the withdrawal
        reasons.append(f"subject {flag.subject.reference} {_LABEL[FlagKind(flag.kind)]}: '{purpose}' is stopped")
    return reasons
