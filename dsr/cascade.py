"""The erasure cascade's steps (dsr/erasure.py starts them; dsr/steps.py runs them).

Every handler is idempotent: it reads what is left to do from the rows, so a step killed at any point — or
delivered twice — finishes the work on its next attempt without doing anything twice that must not be. Blobs
are deleted before the rows that name them (a deleted blob is deleted again harmlessly; a row deleted first
would leave an orphan nobody could find), and every row change commits inside ``ctx.fenced()``, so a worker that
lost its lease commits nothing. Counts, never personal data, go into step evidence and audit events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import translation

from dsr import audit, certificates, emails, holders, storage, taskrows, tombstones, vault, webhooks, workflow
from dsr.erasure import ACTOR, HOLD_GROUNDS_BY_CODE, category_label, contact_of
from dsr.models import (
    Case,
    Consent,
    DataItem,
    Derivation,
    Erasure,
    ErasureScope,
    ErasureState,
    ErasureTarget,
    Holding,
    LegalHold,
    OutboundMessage,
    ProcessingFlag,
    RecipientNotice,
    Subject,
    SubjectKey,
)
from dsr.models.cases import Outcome
from dsr.models.vault import derived_item_ids
from dsr.steps import Deferred, StepContext, StepError

BATCH = 500


def _erasure(ctx: StepContext) -> Erasure:
    return Erasure.objects.select_related("case", "subject").get(pk=ctx.params["erasure"])


def _held_categories(erasure: Erasure) -> set[str]:
    if erasure.case_id is None:
        return set()
    return set(LegalHold.objects.filter(case_id=erasure.case_id).values_list("category", flat=True))


# --- erasing items ---------------------------------------------------------------------------------------------


def _blank_content_fields() -> dict[str, Any]:
    """Every content-bearing column of an item, blanked (whichever the model has: metadata may be sealed)."""
    names = {f.name for f in DataItem._meta.get_fields()}
    blank: dict[str, Any] = {"blob_name": "", "sealed_inline": None, "size": 0, "stored_size": 0, "content_type": "",
                             "legal_hold": False, "expires_at": None}
    for name, value in (("sealed_meta", None), ("attributes", {}), ("sha256", ""), ("source", "")):
        if name in names:
            blank[name] = value
    return blank


def erase_item_rows(item_ids: list[uuid.UUID], *, now: Any) -> int:
    """In the caller's transaction: unlink the items from every subject and from their lineage, drop the consents
    given about them, and keep each as a content-free husk (so its id answers 410 Gone, not 404, and nobody learns
    who asked). Returns how many were still live."""
    Holding.objects.filter(item_id__in=item_ids).delete()
    Derivation.objects.filter(Q(parent_id__in=item_ids) | Q(child_id__in=item_ids)).delete()
    Consent.objects.filter(item_id__in=item_ids).delete()
    live = DataItem.objects.filter(pk__in=item_ids, purged_at__isnull=True).count()
    DataItem.objects.filter(pk__in=item_ids).update(purged_at=Coalesce(F("purged_at"), now), **_blank_content_fields())
    return live


def delete_blobs(item_ids: list[uuid.UUID], heartbeat: Callable[[], None]) -> int:
    names = [n for n in DataItem.objects.filter(pk__in=item_ids).exclude(blob_name="")
             .values_list("blob_name", flat=True)]
    for i, name in enumerate(names, 1):
        storage.delete_blob(name)
        if i % 200 == 0:
            heartbeat()
    return len(names)


def _erase_targets(ctx: StepContext, role: str) -> dict[str, Any]:
    erasure = _erasure(ctx)
    held = _held_categories(erasure)
    if held:
        with ctx.fenced():
            ErasureTarget.objects.filter(erasure=erasure, category__in=held).update(held=True)
            DataItem.objects.filter(pk__in=ErasureTarget.objects.filter(erasure=erasure, held=True)
                                    .values("item_id")).update(legal_hold=True)
    todo = ErasureTarget.objects.filter(erasure=erasure, role=role, erased=False, held=False)
    blobs = 0
    while batch := list(todo.order_by("pk").values_list("pk", "item_id")[:BATCH]):
        ids = [item_id for _, item_id in batch]
        blobs += delete_blobs(ids, ctx.heartbeat)
        with ctx.fenced():
            erase_item_rows(ids, now=ctx.now)
            ErasureTarget.objects.filter(pk__in=[pk for pk, _ in batch]).update(erased=True)
            audit.record("erasure.items_erased", actor=ACTOR, now=ctx.now, object_type="erasure",
                         object_id=erasure.pk, subject_ref=erasure.subject_ref, data={"role": role, "count": len(ids)})
        ctx.heartbeat()
    counts = dict(ErasureTarget.objects.filter(erasure=erasure, role=role, erased=True)
                  .values_list("category").annotate(n=Count("pk")).order_by())
    return {"erased": sum(counts.values()), "blobs_deleted": blobs,
            "held": ErasureTarget.objects.filter(erasure=erasure, role=role, held=True).count(), **counts}


# --- the steps -------------------------------------------------------------------------------------------------


def manifest(ctx: StepContext) -> dict[str, Any]:
    """The manifest was recorded in the approval's transaction, after the gate shut and every upload already in
    its transaction had committed (vault._require_writable share-locks the subject): nothing can slip in after
    it. This step gives the run its counts."""
    erasure = _erasure(ctx)
    rows = ErasureTarget.objects.filter(erasure=erasure)
    by_role = dict(rows.values_list("role").annotate(n=Count("pk")).order_by())
    return {"items": by_role.get("own", 0), "derived": by_role.get("derived", 0),
            "recipients": erasure.notices.count()}


def grace(ctx: StepContext) -> dict[str, Any]:
    """Runs once the window has ended (its ``not_before``): from now on the erasure cannot be cancelled."""
    with ctx.fenced():
        erasure = Erasure.objects.select_for_update().get(pk=ctx.params["erasure"])
        if erasure.state == ErasureState.GRACE:
            erasure.state = ErasureState.RUNNING
            erasure.save(update_fields=["state"])
            audit.record("erasure.grace_ended", actor=ACTOR, now=ctx.now, object_type="erasure",
                         object_id=erasure.pk, subject_ref=erasure.subject_ref)
    return {"grace_ended": True}


def shred(ctx: StepContext) -> dict[str, Any]:
    """Destroy the subject's data key (physically: dsr/vault.py + dsr/keystore.py purge its old bytes). Kept when
    an approver holds some of the subject's data: those items must stay readable."""
    erasure = _erasure(ctx)
    if _held_categories(erasure):
        return {"key_kept": True}
    started = time.perf_counter()
    with ctx.fenced():
        vault.destroy_subject_key(erasure.subject, actor=ACTOR, now=ctx.now)
        destroyed_at = SubjectKey.objects.filter(subject_id=erasure.subject_id).values_list(
            "destroyed_at", flat=True).first()
        Erasure.objects.filter(pk=erasure.pk).update(key_destroyed_at=destroyed_at)
    return {"key_destroyed": True, "shred_ms": round((time.perf_counter() - started) * 1000, 2)}


def erase_own(ctx: StepContext) -> dict[str, Any]:
    return _erase_targets(ctx, ErasureTarget.Role.OWN)


def erase_derived(ctx: StepContext) -> dict[str, Any]:
    """Everything derived from the erased items, transitively (a video made from two people's photos goes when
    either is erased; the other person's own photos stay)."""
    return _erase_targets(ctx, ErasureTarget.Role.DERIVED)


def needles_for(erasure: Erasure, *, with_items: bool = True) -> taskrows.Needles:
    ids: list[object] = [erasure.subject_id] if erasure.scope != ErasureScope.ITEMS else []
    if with_items:
        ids += list(ErasureTarget.objects.filter(erasure=erasure, held=False).values_list("item_id", flat=True))
    contact = contact_of(erasure)
    return taskrows.Needles.of(ids, [contact.get("email", ""), contact.get("account_id", "")])


def scrub_queue(ctx: StepContext) -> dict[str, Any]:
    """The subject's rows in django-q2's tables: task args, results and tracebacks that mention it."""
    erasure = _erasure(ctx)
    with ctx.fenced():
        return taskrows.scrub(needles_for(erasure))


def erase_holders(ctx: StepContext) -> dict[str, Any]:
    """Every registered holder's records of the subject, in registry order (dsr/holders.py)."""
    erasure = _erasure(ctx)
    out: dict[str, Any] = {}
    for holder in holders.HOLDERS:
        if holder.erase is None:
            continue
        for key, value in holder.erase(erasure.subject, ctx).items():
            out[f"{holder.name}.{key}"] = value
    return out


def notify_recipient(ctx: StepContext) -> dict[str, Any]:
    """Tell one recipient by signed webhook; retried with back-off by the runner until it answers 2xx. Without a
    webhook, the step waits for an operator to record another channel (dsr.erasure.record_other_channel)."""
    notice = RecipientNotice.objects.select_related("recipient", "erasure").get(pk=ctx.params["notice"])
    if notice.delivered_at or notice.other_channel_at:
        return {"already_told": True}
    recipient, erasure = notice.recipient, notice.erasure
    if not recipient.webhook_url:
        raise StepError(f"recipient {recipient.pk} has no webhook: tell them another way and record it")
    targets = ErasureTarget.objects.filter(erasure=erasure, held=False)
    body = webhooks.notice_body(
        notice_id=notice.pk, erasure_id=erasure.pk, scope=erasure.scope,
        # An item erasure (a withdrawn consent, a takedown) names items only, never whose request caused it.
        subject_id=str(erasure.subject_id) if erasure.scope != ErasureScope.ITEMS else None,
        item_ids=[str(i) for i in targets.values_list("item_id", flat=True)],
        categories=sorted(set(targets.values_list("category", flat=True))), requested_at=erasure.created_at,
        callback_url=settings.DSR_BASE_URL.rstrip("/") + reverse("hooks-erasure-confirmation"))
    from django.utils import timezone

    headers = webhooks.signed_headers(webhooks.secret_of(recipient), body, delivery=str(notice.pk),
                                      event=webhooks.EVENT_REQUESTED, now=timezone.now())
    try:
        status = webhooks.post(recipient.webhook_url, body, headers)
    except webhooks.DeliveryFailed as exc:
        RecipientNotice.objects.filter(pk=notice.pk).update(attempts=F("attempts") + 1, last_status=exc.status)
        raise StepError(f"recipient {recipient.pk}: {exc.status}") from None
    with ctx.fenced():
        RecipientNotice.objects.filter(pk=notice.pk).update(attempts=F("attempts") + 1, last_status=f"HTTP {status}",
                                                            delivered_at=ctx.now)
        audit.record("erasure.recipient_notified", actor=ACTOR, now=ctx.now, object_type="erasure",
                     object_id=erasure.pk, data={"recipient": recipient.pk, "status": status})
    return {"status": status}


# --- the verification sweep ------------------------------------------------------------------------------------


def _text_hits(model: type, needle: str) -> int:
    """Rows of ``model`` whose text mentions ``needle`` (PostgreSQL: the whole row as text)."""
    table = connection.ops.quote_name(model._meta.db_table)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table} t WHERE t::text ILIKE %s", [f"%{needle}%"])  # noqa: S608
            return cur.fetchone()[0]
    text_fields = [f.name for f in model._meta.concrete_fields if f.get_internal_type() in ("CharField", "TextField")]
    cond = Q()
    for name in text_fields:
        cond |= Q(**{f"{name}__icontains": needle})
    return model.objects.filter(cond).count() if text_fields else 0


def sweep(ctx: StepContext) -> dict[str, Any]:
    """Check that nothing is left: no live row or holding of an erased item, no blob of it in storage, no row of
    django-q2 that mentions the subject, and (whole subject) no identifier, consent, flag or message address of
    theirs, and no text in any personal-data table containing their address or account id."""
    erasure = _erasure(ctx)
    with ctx.fenced():
        taskrows.scrub(needles_for(erasure))  # rows a job wrote since the queue step
    left: dict[str, int] = {}
    erased = ErasureTarget.objects.filter(erasure=erasure, held=False)
    left["items_not_erased"] = erased.filter(erased=False).count()
    item_ids = erased.values("item_id")
    left["live_items"] = DataItem.objects.filter(pk__in=item_ids, purged_at__isnull=True).count()
    left["holdings"] = Holding.objects.filter(item_id__in=item_ids).count()
    store = storage.blob_storage()
    names = [n for n in erased.exclude(blob_name="").values_list("blob_name", flat=True)]
    left["blobs"] = sum(1 for n in names if store.exists(n))
    needles = needles_for(erasure)
    left["queue_rows"] = sum(len(v) for v in taskrows.matching(needles).values())
    if erasure.scope == ErasureScope.SUBJECT:
        subject = Subject.objects.get(pk=erasure.subject_id)
        held = _held_categories(erasure)
        left["identifiers"] = int(bool(subject.email)) + int(bool(subject.account_id))
        if not held:
            left["live_key"] = SubjectKey.objects.filter(subject=subject).exclude(wrapped="").count()
        left["subject_holdings"] = Holding.objects.filter(subject=subject).exclude(item__category__in=held).count()
        if "consent_record" not in held:
            left["consents"] = Consent.objects.filter(subject=subject).count()
        left["flags"] = ProcessingFlag.objects.filter(subject=subject).count()
        left["case_text"] = Case.objects.filter(subject=subject).exclude(details="").count()
        for needle in needles.texts:
            for model in sorted(holders.claimed_models(), key=lambda m: m._meta.db_table):
                hits = _text_hits(model, needle)
                if hits:
                    left[f"text_in_{model._meta.db_table}"] = left.get(f"text_in_{model._meta.db_table}", 0) + hits
    found = {k: v for k, v in left.items() if v}
    if found:
        raise StepError("the sweep found leftovers: " + ", ".join(f"{k}={v}" for k, v in sorted(found.items())))
    return {"checks": len(left), "blobs_checked": len(names), "leftovers": 0}


# --- evidence, completion and the notice ---------------------------------------------------------------------


def evidence_of(erasure: Erasure, ctx: StepContext) -> dict[str, Any]:
    targets = ErasureTarget.objects.filter(erasure=erasure)
    erased = dict(targets.filter(erased=True).values_list("category").annotate(n=Count("pk")).order_by())
    kept_counts = dict(targets.filter(held=True).values_list("category").annotate(n=Count("pk")).order_by())
    holds = list(LegalHold.objects.filter(case_id=erasure.case_id)) if erasure.case_id else []
    records = ctx.step_evidence("holders")
    return {
        "case": erasure.case.reference if erasure.case else None,
        "scope": erasure.scope,
        "reason": erasure.reason,
        "approved_at": erasure.created_at.isoformat(),
        "grace_ends_at": erasure.grace_ends_at.isoformat() if erasure.grace_ends_at else None,
        "erased": {category_label(c): n for c, n in sorted(erased.items())},
        "erased_total": sum(erased.values()),
        "derived": targets.filter(erased=True, role=ErasureTarget.Role.DERIVED).count(),
        "records": {k: v for k, v in records.items() if isinstance(v, int) and not isinstance(v, bool) and v},
        "queue_rows": sum(v for v in ctx.step_evidence("queue").values() if isinstance(v, int)),
        "key_destroyed_at": erasure.key_destroyed_at.isoformat() if erasure.key_destroyed_at else None,
        "kept": [{"category": h.category, "label": category_label(h.category), "ground": h.ground,
                  "ground_label": HOLD_GROUNDS_BY_CODE[h.ground].label if h.ground in HOLD_GROUNDS_BY_CODE
                  else h.ground, "count": kept_counts.get(h.category, 0)} for h in holds],
        "sweep": ctx.step_evidence("sweep"),
    }


def _kept_note(kept: list[dict[str, Any]]) -> str:
    return "; ".join(f"{k['label']} kept on the ground: {k['ground_label']}" for k in kept)


def complete(ctx: StepContext) -> dict[str, Any]:
    """Freeze the evidence, complete the case (only now), record the audit-chain head, queue the completion
    notice (sent after commit), and drop the manifest: no list of the subject's item ids outlives the erasure."""
    with ctx.fenced():
        erasure = Erasure.objects.select_for_update(of=("self",)).select_related("case").get(pk=ctx.params["erasure"])
        if erasure.state == ErasureState.COMPLETED:
            return {"completed": True}
        evidence = evidence_of(erasure, ctx)
        case = erasure.case
        partial = erasure.scope != ErasureScope.SUBJECT or bool(evidence["kept"])
        note = _kept_note(evidence["kept"])
        completes_case = case is not None and case.is_open  # a consent-withdrawal case closed when it started
        if completes_case:
            # The part kept is the part denied: its ground feeds the §7102 breakdown ("other" for a CCPA exception).
            codes = {k["ground"] if k["ground"] in workflow.GROUNDS_BY_CODE else "other" for k in evidence["kept"]}
            workflow.record_completion(case, outcome=Outcome.COMPLIED_PARTIAL if evidence["kept"]
                                       else Outcome.COMPLIED_FULL, note=note, actor=ACTOR, now=ctx.now, notice=None,
                                       ground=codes.pop() if len(codes) == 1 else "other",
                                       forced=case.forced_erasure_approved_by_id is not None and not case.verified_at)
        event = audit.record("erasure.completed", actor=ACTOR, now=ctx.now, object_type="erasure",
                             object_id=erasure.pk, subject_ref=erasure.subject_ref,
                             data={"case": str(case.pk) if case else "", "erased": evidence["erased_total"],
                                   "kept": len(evidence["kept"])})
        evidence["completed_at"] = ctx.now.isoformat()
        evidence["audit_head"] = {"id": event.pk, "hash": event.hash}
        erasure.evidence, erasure.state, erasure.completed_at = evidence, ErasureState.COMPLETED, ctx.now
        if completes_case:
            contact = contact_of(erasure) if erasure.scope == ErasureScope.SUBJECT else {}
            address = (contact.get("email") if erasure.scope == ErasureScope.SUBJECT
                       else (case.subject.email if case.subject else None))
            # The portal filing (and with it the language the person wrote in) went with the holders step: the
            # language sealed at approval stands in for it (emails.language_of falls back to the active one).
            language = contact.get("language")
            if address:
                with translation.override(language) if language else nullcontext():
                    # The certificate for the subject (issue 9 §6) goes with the notice: after a whole-subject erasure
                    # the address is wiped, so there is no later way to send it or to sign in to fetch it. It names
                    # nothing personal, so it may wait in the outbox; its bytes are dropped once sent (notice step).
                    erasure.notice = emails.queue("erasure_completed", to=address, now=ctx.now, case=case, context={
                        **workflow.notice_context(case, now=ctx.now), "evidence": evidence, "partial": partial,
                        "kept": evidence["kept"], "erased": evidence["erased"]},
                        attachment=(certificates.filename(erasure), certificates.render(erasure), "application/pdf"))
        erasure.save(update_fields=["evidence", "state", "completed_at", "notice"])
        ErasureTarget.objects.filter(erasure=erasure).delete()
    return {"completed": True, "erased": evidence["erased_total"]}


def notice(ctx: StepContext) -> dict[str, Any]:
    """See the completion notice out; then, for a whole subject, wipe its address and the sealed contact: the last
    personal datum the erasure held. Waits (without spending attempts) while the mail server is down."""
    erasure = _erasure(ctx)
    if erasure.notice_id:
        if not OutboundMessage.objects.filter(pk=erasure.notice_id, sent_at__isnull=False).exists():
            emails.deliver(str(erasure.notice_id))
        if not OutboundMessage.objects.filter(pk=erasure.notice_id, sent_at__isnull=False).exists():
            raise Deferred(ctx.now + timedelta(minutes=1), "waiting for the completion notice to be sent")
    if erasure.notice_id:
        # Sent: the certificate's bytes go as the address does below (emails.deliver already dropped them; this
        # also covers a message sent before that rule existed).
        OutboundMessage.objects.filter(pk=erasure.notice_id, attachment__isnull=False).update(attachment=None)
    if erasure.scope != ErasureScope.SUBJECT:
        return {"notice_sent": bool(erasure.notice_id)}
    with ctx.fenced():
        taskrows.scrub(needles_for(erasure, with_items=False))
        if erasure.notice_id:
            OutboundMessage.objects.filter(pk=erasure.notice_id).update(to="", attachment=None)
        Erasure.objects.filter(pk=erasure.pk).update(contact_sealed=None, contact_key="")
        audit.record("erasure.contact_wiped", actor=ACTOR, now=ctx.now, object_type="erasure", object_id=erasure.pk,
                     subject_ref=erasure.subject_ref)
    return {"notice_sent": bool(erasure.notice_id), "contact_wiped": True}


# --- holders' erase functions (registered in dsr/holders.py) ----------------------------------------------------
# Each takes the subject and the step's context (or a PlainContext when `replay_erasures` re-erases after a backup
# was restored) and returns counts.


class PlainContext:
    """A StepContext stand-in outside the runner: plain transactions, no lease to keep."""

    def __init__(self, now: Any) -> None:
        self.now = now
        self.params: dict[str, Any] = {}

    def fenced(self) -> AbstractContextManager[Any]:
        return transaction.atomic()

    def heartbeat(self) -> None:
        return None

    def step_evidence(self, name: str) -> dict[str, Any]:
        return {}


def _ctx_erasure(ctx: Any) -> Erasure | None:
    pk = ctx.params.get("erasure")
    return Erasure.objects.filter(pk=pk).first() if pk else None


def _ctx_held(ctx: Any) -> set[str]:
    erasure = _ctx_erasure(ctx)
    return _held_categories(erasure) if erasure else set()


def erase_identity(subject: Subject, ctx: Any) -> dict[str, int]:
    """The identifiers go; a tombstone (id + keyed hashes of them) stays, in the database and outside it."""
    erasure = _ctx_erasure(ctx)
    with ctx.fenced():
        locked = Subject.objects.select_for_update().get(pk=subject.pk)
        n = int(bool(locked.email)) + int(bool(locked.account_id))
        tombstones.record(locked, erasure_id=erasure.pk if erasure else None, now=ctx.now)
        Subject.objects.filter(pk=subject.pk).update(email=None, account_id=None,
                                                     erased_at=Coalesce(F("erased_at"), ctx.now),
                                                     writes_blocked_at=Coalesce(F("writes_blocked_at"), ctx.now))
        audit.record("subject.identifiers_erased", actor=ACTOR, now=ctx.now, object_type="subject",
                     object_id=subject.pk, subject_ref=subject.reference, data={"identifiers": n})
    return {"identifiers": n}


def erase_vault(subject: Subject, ctx: Any) -> dict[str, int]:
    """Any item still linked to the subject outside a hold, and what was derived from it (normally nothing is
    left: the item steps took it all)."""
    left = list(DataItem.objects.filter(holders__subject=subject).exclude(category__in=list(_ctx_held(ctx)))
                .values_list("pk", flat=True).distinct())
    items = set(left)
    for start in range(0, len(left), 5000):
        items |= derived_item_ids(left[start:start + 5000])
    ids = sorted(items)
    erased = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        delete_blobs(chunk, ctx.heartbeat)
        with ctx.fenced():
            erased += erase_item_rows(chunk, now=ctx.now)
    return {"items": erased}


def erase_consents(subject: Subject, ctx: Any) -> dict[str, int]:
    if "consent_record" in _ctx_held(ctx):
        return {"consent_records_kept": Consent.objects.filter(subject=subject).count()}
    with ctx.fenced():
        return {"consent_records": Consent.objects.filter(subject=subject).delete()[0]}


def erase_cases(subject: Subject, ctx: Any) -> dict[str, int]:
    """Case records stay for accountability (CCPA §7101) but lose what the requester wrote and every notice's
    address and text; a notice not yet sent is not sent any more."""
    with ctx.fenced():
        cases = Case.objects.filter(subject=subject).exclude(details="").update(details="")
        messages = OutboundMessage.objects.filter(case__subject=subject).exclude(to="")
        n = messages.update(to="", body_text="[erased]", body_html="", last_error="erased", attachment=None,
                            attempts=F("attempts") + 10)
    return {"case_texts": cases, "messages": n}


def erase_flags(subject: Subject, ctx: Any) -> dict[str, int]:
    with ctx.fenced():
        return {"processing_flags": ProcessingFlag.objects.filter(subject=subject).delete()[0]}
