"""Notices both ways, complaints and notifiers (issue 13; takedown.md, DSA Art. 16-17, 20, 23): the receipt with
the request number (and what is missing), the outcome to the requester, the statement of reasons to each uploader,
the complaint route open six months and its recorded outcome, abusive notifiers, and the escalation e-mails to
staff 24 h and 4 h before a deadline. Every notice goes through the outbox once (``TakedownNotice`` keys)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import translation

from dsr import emails, hour_clocks, takedown_intake, takedowns
from dsr.models import PortalFiling, Subject
from dsr.models.takedowns import (
    CLOCK_STATES,
    Complaint,
    Notifier,
    RefusalGround,
    Takedown,
    TakedownEscalation,
    TakedownItem,
    TakedownNotice,
    TakedownState,
)


def _notice_once(td: Takedown, *, kind: str, party: str, key: str, template: str, to: str,
                 context: dict[str, Any], now: datetime, language: str = "en") -> bool:
    """Queue a notice unless this exact one was queued before (a job run twice sends it once), written in
    ``language`` (the requester's, or the uploader's: see ``requester_language``/``uploader_language``)."""
    if TakedownNotice.objects.filter(takedown=td, key=key).exists():
        return False
    with translation.override(language):
        message = emails.queue(template, to=to, context={"td": td, "base_url": settings.DSR_BASE_URL, **context},
                               now=now)
    TakedownNotice.objects.create(takedown=td, kind=kind, party=party, key=key, message=message, created_at=now)
    return True


def _supported(language: str | None) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    return language if language in codes else "en"


def requester_language(td: Takedown) -> str:
    """The language the request was filed in (the portal's at intake; English through the API)."""
    return _supported(td.language)


def uploader_language(subject: Subject) -> str:
    """The uploader's language if known — the language of their latest portal filing — else English."""
    chosen = (PortalFiling.objects.filter(subject=subject).order_by("-created_at")
              .values_list("language", flat=True).first())
    return _supported(chosen)


def status_url(token: str) -> str:
    return f"{settings.DSR_BASE_URL}/takedown/r/{token}/"


def notify_receipt(td: Takedown, *, now: datetime, missing: list[takedown_intake.Missing], supplement: bool = False,
                   status_url: str = "") -> None:
    """The receipt with the request number at once, saying exactly what is missing, or when we will act by."""
    if not td.contact_email:
        return
    key = f"receipt:{'complete' if not missing else 'missing'}:{now.isoformat()}" if supplement else "receipt"
    zone = takedowns.operator_zone()
    _notice_once(td, kind=TakedownNotice.Kind.RECEIPT if not missing else TakedownNotice.Kind.INCOMPLETE,
                 party="requester", key=key, template="takedown_receipt", to=td.contact_email,
                 context={"missing": missing, "supplement": supplement, "zone": zone, "status_url": status_url,
                          "due_local": takedowns.shown(td.due_at, zone) if td.due_at else None}, now=now,
                 language=requester_language(td))


def notify_outcome(td: Takedown, *, now: datetime) -> bool:
    """The outcome to the requester (once): what was removed, or the refusal with its ground and reasons; either
    way the route to complain about the decision (DSA Art. 20, open six months) and the other redress."""
    if not td.contact_email or TakedownNotice.objects.filter(takedown=td, key="outcome").exists():
        return False
    complaint = open_complaint_route(td, party=Complaint.Party.REQUESTER, party_ref="", now=now)
    removed = list(td.items.filter(state=TakedownItem.State.REMOVED).order_by("created_at"))
    return _notice_once(td, kind=TakedownNotice.Kind.OUTCOME, party="requester", key="outcome",
                        template="takedown_outcome", to=td.contact_email,
                        context={"removed": removed, "copies_removed": sum(1 for i in removed
                                                                           if i.role == TakedownItem.Role.COPY),
                                 "ground_label": RefusalGround(td.refusal_ground).label if td.refusal_ground else "",
                                 "complaint": complaint, "complaint_token": complaint._token,
                                 "zone": takedowns.operator_zone()}, now=now, language=requester_language(td))


def open_complaint_route(td: Takedown, *, party: str, party_ref: str, now: datetime) -> Complaint:
    """DSA Art. 20: a complaint against the decision can be lodged for six months. The route is a secret link."""
    token = secrets.token_urlsafe(24)
    complaint = Complaint.objects.create(
        takedown=td, party=party, party_ref=party_ref, token_hash=takedowns.token_hash(token), opened_at=now,
        closes_at=now + timedelta(days=settings.DSR_TAKEDOWN_COMPLAINT_DAYS))
    complaint._token = token  # handed to the notice being rendered in this transaction, never stored
    return complaint


def statement_of_reasons(td: Takedown, subject: Subject, *, batch: int, now: datetime) -> bool:
    """DSA Art. 17 to an uploader whose content was removed (when the platform has their contact): the measure,
    its territorial scope and duration, the facts, whether automation was used, the ground, and the redress — with
    a complaint route open for six months. Sent once per uploader and batch."""
    key = f"statement:{subject.pk}:{batch}"
    if not subject.email or TakedownNotice.objects.filter(takedown=td, key=key).exists():
        return False
    items = [i for i in td.items.filter(batch=batch).order_by("created_at") if str(subject.pk) in i.owners]
    complaint = open_complaint_route(td, party=Complaint.Party.UPLOADER, party_ref=subject.reference, now=now)
    automated = any(i.found_by in (TakedownItem.FoundBy.SWEEP, TakedownItem.FoundBy.REFERENCE,
                                   TakedownItem.FoundBy.REUPLOAD) for i in items)
    return _notice_once(td, kind=TakedownNotice.Kind.STATEMENT_OF_REASONS, party=f"uploader:{subject.reference}",
                        key=key, template="takedown_statement", to=subject.email,
                        context={"items": items, "automated": automated, "complaint": complaint,
                                 "complaint_token": complaint._token, "batch": batch}, now=now,
                        language=uploader_language(subject))


def _is_requester(td: Takedown, subject: Subject) -> bool:
    """The requester's own account (their photo is a likeness item) is told through the requester's notices."""
    if td.erasure_case_id and td.erasure_case and td.erasure_case.subject_id == subject.pk:
        return True
    return bool(td.contact_email and subject.email and subject.email.lower() == td.contact_email.lower())


def notify_restriction(td: Takedown, items: list[TakedownItem], *, tag: str, now: datetime) -> int:
    """DSA Art. 17(1)-(3), takedown.md T-DSA: the statement of reasons is due "at the latest when the restriction
    is imposed". Called in the transaction that blocks ``items`` (a complete request: tag ``valid``; a video that
    matched the block list after ingest: tag ``copy:<item>``): each uploader of a blocked item is told the measure
    (a temporary restriction pending review), its scope and expected duration, the facts, that it was applied by
    automated means, the ground claimed and the redress. Once per uploader and tag (``TakedownNotice`` key); the
    final statement follows at removal (``statement_of_reasons``), or a lifting notice at refusal
    (``notify_lifted``). Not for an abusive notifier's request: nothing is blocked then (DSA Art. 23)."""
    blocked = [i for i in items if i.blocked_at is not None and i.unblocked_at is None]
    owner_ids = sorted({o for i in blocked for o in i.owners})
    sent = 0
    for subject in Subject.objects.filter(pk__in=owner_ids).order_by("pk"):
        key = f"restriction:{subject.pk}:{tag}"
        if not subject.email or _is_requester(td, subject) or TakedownNotice.objects.filter(
                takedown=td, key=key).exists():
            continue
        mine = [i for i in blocked if str(subject.pk) in i.owners]
        complaint = open_complaint_route(td, party=Complaint.Party.UPLOADER, party_ref=subject.reference, now=now)
        matched = [i for i in mine if i.found_by in (TakedownItem.FoundBy.SWEEP, TakedownItem.FoundBy.REFERENCE,
                                                     TakedownItem.FoundBy.REUPLOAD)]
        sent += _notice_once(
            td, kind=TakedownNotice.Kind.RESTRICTION, party=f"uploader:{subject.reference}", key=key,
            template="takedown_restriction", to=subject.email, language=uploader_language(subject), now=now,
            context={"items": mine, "matched": matched, "copy": tag.startswith("copy:"), "restricted_at": now,
                     "due_at": td.due_at, "complaint": complaint, "complaint_token": complaint._token})
    return sent


def notify_lifted(td: Takedown, *, why: str, tag: str, now: datetime,
                  item_ids: Iterable[Any] | None = None) -> int:
    """The restriction is lifted (the request refused or withdrawn, a listed copy dismissed): each uploader who
    was sent a restriction statement for this request is told, once per tag, in their language."""
    told = TakedownNotice.objects.filter(takedown=td, kind=TakedownNotice.Kind.RESTRICTION).values_list(
        "party", flat=True)
    refs = sorted({p.split(":", 1)[1] for p in told if p.startswith("uploader:")})
    sent = 0
    for subject in Subject.objects.filter(reference__in=refs).order_by("pk"):
        key = f"lifted:{subject.pk}:{tag}"
        if not subject.email:
            continue
        rows = td.items.filter(unblocked_at__isnull=False, blocked_at__isnull=False).order_by("created_at")
        if item_ids is not None:
            rows = rows.filter(item_id__in=list(item_ids))
        items = [i for i in rows if str(subject.pk) in i.owners]
        if not items:
            continue
        sent += _notice_once(td, kind=TakedownNotice.Kind.LIFTED, party=f"uploader:{subject.reference}", key=key,
                             template="takedown_lifted", to=subject.email, language=uploader_language(subject),
                             now=now, context={"items": items, "why": why, "lifted_at": now})
    return sent


# --- complaints (DSA Art. 20) and abusive notifiers (Art. 23) ---------------------------------------------------


def complaint_by_token(token: str) -> Complaint | None:
    if not token or len(token) > 100:
        return None
    return Complaint.objects.select_related("takedown").filter(token_hash=takedowns.token_hash(token)).first()


def file_complaint(complaint: Complaint, *, text: str, now: datetime) -> Complaint:
    text = (text or "").strip()
    if len(text) < 10:
        raise takedowns.TakedownError("explain why the decision should change (at least 10 characters)")
    if len(text) > 8000:
        raise takedowns.TakedownError("the complaint is too long (at most 8000 characters)")
    with transaction.atomic():
        c = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if c.filed_at is not None:
            raise takedowns.TakedownError("this complaint has already been lodged; you will hear the outcome")
        if now >= c.closes_at:
            raise takedowns.TakedownError("the six months for a complaint against this decision have passed")
        c.filed_at, c.text = now, text
        c.save(update_fields=["filed_at", "text"])
        takedowns.record_event(c.takedown, "complaint_filed", actor=f"{c.party}:complaint", now=now,
                               complaint=str(c.pk), party=c.party, subject_ref=c.party_ref)
    return c


def decide_complaint(complaint: Complaint, *, upheld: bool, reason: str, actor: User, now: datetime) -> Complaint:
    """Record the outcome and tell the complainant. An uploader's upheld complaint lifts the block-list entries
    (the deleted content itself cannot be restored: the notice says so); a requester's upheld complaint sends the
    request back for a new decision."""
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise takedowns.TakedownError("give the reason for the outcome (at least 10 characters)")
    with transaction.atomic():
        c = Complaint.objects.select_for_update().select_related("takedown").get(pk=complaint.pk)
        if c.filed_at is None:
            raise takedowns.TakedownError("no complaint has been lodged on this route")
        if c.decided_at is not None:
            raise takedowns.TakedownError("this complaint has already been decided")
        c.outcome = Complaint.Outcome.UPHELD if upheld else Complaint.Outcome.REJECTED
        c.outcome_reason, c.decided_at, c.decided_by = reason, now, actor
        c.save(update_fields=["outcome", "outcome_reason", "decided_at", "decided_by"])
        td = takedowns.lock_for_update(c.takedown)
        if upheld and c.party == Complaint.Party.UPLOADER:
            td.blocked_hashes.filter(lifted_at__isnull=True).update(lifted_at=now)
        if upheld and c.party == Complaint.Party.REQUESTER and td.state == TakedownState.REFUSED:
            td.state, td.closed_at, td.evidence_until = TakedownState.UNDER_REVIEW, None, None
            td.decision_valid = None
            clocks = hour_clocks.clocks_at_validity(now, intimate_claimed=td.intimate_claimed,
                                                    opts=takedowns.clock_options())
            takedowns.save_clocks(td, clocks, now)
            takedowns.set_governing(td)
            td.save()
        takedowns.record_event(td, "complaint_decided", actor=actor, now=now, complaint=str(c.pk), party=c.party,
                               outcome=c.outcome)
        uploader = None if c.party == Complaint.Party.REQUESTER else (
            Subject.objects.filter(reference=c.party_ref).first())
        to = td.contact_email if c.party == Complaint.Party.REQUESTER else (uploader.email if uploader else "")
        if to:
            _notice_once(td, kind=TakedownNotice.Kind.COMPLAINT_OUTCOME, party=c.party, key=f"complaint:{c.pk}",
                         template="takedown_complaint_outcome", to=to, context={"complaint": c}, now=now,
                         language=uploader_language(uploader) if uploader else requester_language(td))
    return c


def mark_notifier_abusive(td: Takedown, *, reason: str, actor: User, now: datetime) -> Notifier:
    """DSA Art. 23: after repeated manifestly unfounded notices, this notifier's next requests are reviewed
    without the automatic block, for ``DSR_TAKEDOWN_ABUSE_DAYS``. Needs ``DSR_TAKEDOWN_ABUSE_THRESHOLD`` notices
    refused as manifestly unfounded, and a reason."""
    reason = (reason or "").strip()
    if len(reason) < 20:
        raise takedowns.TakedownError("give the reason (at least 20 characters): the notifier may contest it")
    with transaction.atomic():
        if td.notifier_id is None:
            raise takedowns.TakedownError("this request has no notifier address to mark")
        n = Notifier.objects.select_for_update().get(pk=td.notifier_id)
        threshold = settings.DSR_TAKEDOWN_ABUSE_THRESHOLD
        if n.manifestly_unfounded < threshold:
            raise takedowns.TakedownError(f"a notifier is marked abusive only after {threshold} notices refused as "
                                          f"manifestly unfounded; this one has {n.manifestly_unfounded}")
        n.abusive_since, n.abusive_until = now, now + timedelta(days=settings.DSR_TAKEDOWN_ABUSE_DAYS)
        n.abusive_reason, n.marked_by = reason, actor
        n.save(update_fields=["abusive_since", "abusive_until", "abusive_reason", "marked_by"])
        takedowns.record_event(td, "notifier_marked_abusive", actor=actor, now=now, notifier=n.pk,
                               refused=n.manifestly_unfounded, until=n.abusive_until.isoformat())
    return n


def lift_notifier_abuse(td: Takedown, *, actor: User, now: datetime) -> None:
    with transaction.atomic():
        updated = Notifier.objects.filter(pk=td.notifier_id, abusive_since__isnull=False).update(
            abusive_until=now)
        if not updated:
            raise takedowns.TakedownError("this notifier is not marked abusive")
        takedowns.record_event(td, "notifier_abuse_lifted", actor=actor, now=now, notifier=td.notifier_id)


# --- escalation (a schedule) -----------------------------------------------------------------------------------


def staff_addresses() -> list[str]:
    from dsr.roles import Role

    return list(User.objects.filter(is_active=True, groups__name__in=[Role.OPERATOR, Role.APPROVER])
                .exclude(email="").values_list("email", flat=True).distinct().order_by("email"))


def send_escalations(*, now: datetime) -> int:
    """E-mail the operators and approvers 24 h and 4 h before a request's governing deadline (each warning once
    per deadline; if several are due at once only the nearest is sent). Returns how many warnings went out."""
    horizon = now + timedelta(hours=max(hour_clocks.ESCALATE_HOURS_BEFORE))
    sent = 0
    candidates = Takedown.objects.filter(state__in=CLOCK_STATES, due_at__gt=now, due_at__lte=horizon)
    for td in candidates.order_by("-minor_suspected", "due_at"):
        for hours in hour_clocks.escalations_due(td.due_at, now):
            try:
                with transaction.atomic():
                    TakedownEscalation.objects.create(takedown=td, hours_before=hours, due_at=td.due_at, sent_at=now)
                    addresses = staff_addresses()
                    context = {"td": td, "hours": hours, "due_local": takedowns.shown(td.due_at),
                               "base_url": settings.DSR_BASE_URL}
                    for address in addresses:
                        emails.queue("takedown_escalation", to=address, context=context, now=now)
                    takedowns.record_event(td, "escalated", actor=takedowns.ACTOR, now=now, hours_before=hours,
                                           due_at=td.due_at.isoformat(), recipients=len(addresses))
                    sent += 1
            except IntegrityError:  # another worker sent it
                continue
    return sent
