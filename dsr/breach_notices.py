"""The Art. 34 communication to each affected person (legal-matrix B-DS, §5.3, §5.4, checklists §10.3, §10.7),
sent in batches by the durable step runner (dsr/steps.py), exactly once per person.

``start_subject_notices`` queues every in-scope affected person (BreachAffected.notice_state not_due →
pending) and starts a run of one step per batch plus a closing step. Each batch step:

1. **claims** up to DSR_BREACH_NOTICE_BATCH pending rows in one fenced transaction: a person without an
   address is marked failed "no_address" (§10.3 item 8: counted, so the operator can fall back to a public
   notice); for everyone else the rendered message is written to the outbox (OutboundMessage) under an id
   derived from (breach, subject), so there is never more than one message per person and breach;
2. **sends** the claimed messages one by one, paced to DSR_BREACH_NOTICE_RATE per minute. Before each send
   one fenced transaction marks the previous message sent and the next one "in flight" (attempt counted);
   after the send the mark follows in the next such transaction.

Exactly once, with a send that is not transactional: a SIGKILL can land between the provider accepting a
message and our commit of "sent". That message is left "in flight" and no other message is, because the
in-flight mark is committed before the send and cleared in the same transaction that records the outcome.
When a later attempt finds it, it asks the delivery ledger (the provider's log, looked up by the message's
Message-ID: built in for Django's file and in-memory backends, DSR_MAIL_LEDGER for a provider API) whether it
was accepted: accepted → marked sent, not accepted → sent now. Without a ledger DSR_BREACH_NOTICE_IN_DOUBT
decides: "hold" (default; never twice: the row is failed "in_doubt" for the operator to check) or "resend"
(never missed; same Message-ID). A message that raised is known not accepted and is retried: a transport error
fails the step (the runner retries it with back-off; sent rows stay sent), a refused recipient is failed
"refused", a person whose attempts are spent is failed "delivery_error".

These messages are delivered here, never by ``emails.deliver`` (the outbox reconciler skips their template),
so nothing else can send them a second time. Jobs and evidence carry ids and counts only.
"""

from __future__ import annotations

import logging
import math
import re
import smtplib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Count, F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from dsr import audit, emails, steps
from dsr.breach_clocks import sync_deadlines
from dsr.breaches import BreachInputError
from dsr.models import OutboundMessage, PortalFiling, StepRun
from dsr.models.breaches import Breach, BreachAffected, Exception34, RiskLevel
from dsr.models.register import DataCategory
from dsr.steps import LeaseLost, StepContext, StepError, StepSpec

log = logging.getLogger(__name__)

RUN_KIND = "breach_notices"
TEMPLATE = emails.BREACH_NOTICE_TEMPLATE
IN_FLIGHT = "in_flight"  # OutboundMessage.last_error while a send is under way (see the module docstring)
CHANNEL = "email"
_NAMESPACE = uuid.UUID("7c1d6a52-3f0e-4f57-9a39-0b6c2f1e9d41")
State = BreachAffected.NoticeState

# Categories showing a face, and the one that is a biometric template (legal-matrix §4, 1798.82 AB 1130).
FACE_CATEGORIES = {DataCategory.PHOTO, DataCategory.FACE_EMBEDDING, DataCategory.THUMBNAIL,
                   DataCategory.GENERATED_VIDEO}
ACCOUNT_CATEGORIES = {DataCategory.ACCOUNT_PROFILE}
GERMAN_SPEAKING = {"DE", "AT", "LI"}

# Plain words for each category, per notice language (§10.3 item 1: clear and plain language).
CATEGORY_WORDS: dict[str, dict[str, str]] = {
    "en": {
        DataCategory.PHOTO: "photos you uploaded or that show you",
        DataCategory.FACE_EMBEDDING: "face data: measurements computed from your face to recognise it (a biometric "
                                     "template)",
        DataCategory.THUMBNAIL: "small preview images of your photos",
        DataCategory.GENERATED_VIDEO: "videos made from your photos",
        DataCategory.UPLOAD_METADATA: "details stored with your uploads (such as dates, device and place)",
        DataCategory.IP_LOG: "records of the internet (IP) addresses you used",
        DataCategory.PREFERENCES: "your settings and preferences",
        DataCategory.CONSENT_RECORD: "records of the consents you gave",
        DataCategory.ACCOUNT_PROFILE: "your account details (such as name, e-mail address and sign-in data)",
    },
    "de": {
        DataCategory.PHOTO: "Fotos, die Sie hochgeladen haben oder die Sie zeigen",
        DataCategory.FACE_EMBEDDING: "Gesichtsdaten: aus Ihrem Gesicht berechnete Messwerte, mit denen es erkannt "
                                     "werden kann (ein biometrisches Template)",
        DataCategory.THUMBNAIL: "kleine Vorschaubilder Ihrer Fotos",
        DataCategory.GENERATED_VIDEO: "aus Ihren Fotos erstellte Videos",
        DataCategory.UPLOAD_METADATA: "Angaben zu Ihren Uploads (etwa Datum, Gerät und Ort)",
        DataCategory.IP_LOG: "Aufzeichnungen der von Ihnen genutzten Internet-(IP-)Adressen",
        DataCategory.PREFERENCES: "Ihre Einstellungen",
        DataCategory.CONSENT_RECORD: "Aufzeichnungen Ihrer Einwilligungen",
        DataCategory.ACCOUNT_PROFILE: "Ihre Kontodaten (etwa Name, E-Mail-Adresse und Anmeldedaten)",
    },
}
DPO_DEFAULT = {"en": "our Data Protection Officer", "de": "unseren Datenschutzbeauftragten"}


def message_id(breach_id: object, subject_id: object) -> uuid.UUID:
    """The one outbox message a person can get for a breach: same inputs, same id, on every retry."""
    return uuid.uuid5(_NAMESPACE, f"breach-notice:{breach_id}:{subject_id}")


# --- starting ----------------------------------------------------------------------------------------


def refusal_reasons(breach: Breach) -> dict[str, str]:
    """Why affected people may not (yet) be told individually; empty when they must be (Art. 34(1), 34(3))."""
    errors: dict[str, str] = {}
    if breach.risk_level != RiskLevel.HIGH:
        errors["risk_level"] = ("people are told individually only when the risk to them is assessed as high "
                                "(Art. 34(1))")
    if breach.exception_34_3:
        label = Exception34(breach.exception_34_3).label
        errors["exception_34_3"] = f"an Art. 34(3) exception is recorded: {label}"
    if breach.scope_computed_at is None:
        errors["scope"] = "compute and store who is affected first"
    else:
        from dsr.breach_scope import scope_run

        if scope_run(breach) is not None:  # notices go to the stored scope: not to the one being replaced
            errors["scope"] = "the scope is being stored in the background; send the notices once it is done"
    return errors


def active_run(breach: Breach) -> StepRun | None:
    return StepRun.objects.active().for_object("breach", breach.pk).filter(kind=RUN_KIND).first()


def start_subject_notices(breach: Breach, *, actor: str, now: datetime) -> StepRun:
    """Tell every affected person in scope (B-DS).

    Steps: lock the breach; refuse (BreachInputError) unless the risk is high, no Art. 34(3) exception is
    recorded and the scope is stored; return the running run if there is one (idempotent); queue every in-scope
    person not told yet (not_due → pending); start a run of one step per batch and a closing step; audit
    ``breach.notices_started`` with the counts.
    """
    with transaction.atomic():
        locked = Breach.objects.select_for_update().get(pk=breach.pk)
        errors = refusal_reasons(locked)
        if errors:
            raise BreachInputError(errors)
        running = active_run(locked)
        if running is not None:
            return running
        queued = (BreachAffected.objects.filter(breach=locked, in_scope=True, notice_state=State.NOT_DUE)
                  .update(notice_state=State.PENDING))
        pending = BreachAffected.objects.filter(breach=locked, in_scope=True, notice_state=State.PENDING).count()
        batches = math.ceil(pending / batch_size())
        params = {"breach": str(locked.pk)}
        specs = [StepSpec(f"batch-{i:05d}", "dsr.breach_notices.batch_step", i, params) for i in range(1, batches + 1)]
        specs.append(StepSpec("finish", "dsr.breach_notices.finish_step", batches + 1, params))
        run = steps.start_run(RUN_KIND, specs, object_type="breach", object_id=locked.pk, actor=actor, now=now)
        audit.record("breach.notices_started", actor=actor, now=now, object_type="breach", object_id=locked.pk,
                     data={"run": str(run.pk), "queued": queued, "pending": pending, "batches": batches})
    return run


IN_DOUBT_DECISIONS = {
    "delivered": "Delivered: the provider's log shows the message was accepted — record it as sent",
    "resend": "Not delivered: the provider's log does not show it — send it again (same Message-ID)",
}


def resolve_in_doubt(breach: Breach, *, decision: str, reason: str, actor: str, now: datetime) -> int:
    """The operator's answer for the notices held "in doubt" (a worker killed between the provider accepting a
    message and dsr recording it, with no delivery ledger to ask; see the module docstring).

    Steps: refuse (BreachInputError, nothing changed) an unknown decision, a missing reason (what was checked:
    the provider's log, a bounce report) or a breach with nothing in doubt; then, in one transaction with the
    breach locked: "delivered" records each as sent (message and person), "resend" puts each back in the queue
    with its one message, which the sending job (started here if none runs) sends again under the same
    Message-ID so a provider that de-duplicates can drop a copy; audit ``breach.notices_in_doubt_resolved``
    with the decision, the count and the reason; re-sync the clocks (B-DS is met when everyone is told).
    Returns how many notices were resolved."""
    errors: dict[str, str] = {}
    if decision not in IN_DOUBT_DECISIONS:
        errors["decision"] = "Choose whether the provider's log shows the messages as delivered."
    if not (reason or "").strip():
        errors["reason"] = "Say what you checked (the provider's delivery log, a bounce report…)."
    with transaction.atomic():
        locked = Breach.objects.select_for_update().get(pk=breach.pk)
        held = list(BreachAffected.objects.filter(breach=locked, notice_state=State.FAILED, notice_error="in_doubt")
                    .values_list("id", "subject_id"))
        if not held and not errors:
            errors["__all__"] = "No notice of this breach is in doubt."
        if errors:
            raise BreachInputError(errors)
        rows = [a for a, _ in held]
        messages = OutboundMessage.objects.filter(pk__in=[message_id(locked.pk, s) for _, s in held])
        if decision == "delivered":
            messages.update(sent_at=now, last_error="")
            BreachAffected.objects.filter(pk__in=rows).update(notice_state=State.SENT, notice_sent_at=now,
                                                              notice_error="")
        else:
            messages.update(last_error="")
            BreachAffected.objects.filter(pk__in=rows).update(notice_state=State.PENDING, notice_error="")
        audit.record("breach.notices_in_doubt_resolved", actor=actor, now=now, object_type="breach",
                     object_id=locked.pk, data={"decision": decision, "count": len(held), "reason": reason.strip()})
        sync_deadlines(locked, now=now)
        if decision == "resend":
            start_subject_notices(locked, actor=actor, now=now)  # or the running job, which picks them up
    return len(held)


def notice_progress(breach: Breach) -> dict[str, int]:
    """Count of in-scope people per notice state (every state present, zeros included), plus ``no_address``
    and ``in_doubt`` among the failed ones: the board's progress bar and the §10.3 item 8 log."""
    rows = (BreachAffected.objects.filter(breach=breach, in_scope=True).values("notice_state")
            .annotate(n=Count("pk")).order_by())
    counts = {state.value: 0 for state in State}
    counts.update({r["notice_state"]: r["n"] for r in rows})
    failed = BreachAffected.objects.filter(breach=breach, in_scope=True, notice_state=State.FAILED)
    counts["no_address"] = failed.filter(notice_error="no_address").count()
    counts["in_doubt"] = failed.filter(notice_error="in_doubt").count()
    return counts


# --- settings --------------------------------------------------------------------------------------------


def batch_size() -> int:
    return max(1, int(getattr(settings, "DSR_BREACH_NOTICE_BATCH", 500)))


def rate_per_minute() -> int:
    return max(0, int(getattr(settings, "DSR_BREACH_NOTICE_RATE", 600)))


def group_size() -> int:
    """Messages marked in flight together. Only a ledger can settle several in-doubt messages exactly after a
    kill; without one it is 1, so at most one person's notice is ever in doubt."""
    if ledger() is None:
        return 1
    return max(1, int(getattr(settings, "DSR_BREACH_NOTICE_GROUP", 20)))


def max_attempts() -> int:
    return max(1, int(getattr(settings, "DSR_BREACH_NOTICE_MAX_ATTEMPTS", 5)))


# --- the delivery ledger: was a message accepted? -------------------------------------------------------

Ledger = Callable[[set[str]], set[str]]
_MESSAGE_ID = re.compile(rb"^Message-ID: <([0-9a-f-]{36})@", re.MULTILINE | re.IGNORECASE)
_FILE_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def filebased_ledger(ids: set[str]) -> set[str]:
    """Django's file backend as the provider's log: a message counts as accepted when it was written whole
    (followed by the backend's separator line); a write cut short by a kill is not a delivered message."""
    found: set[str] = set()
    folder = Path(settings.EMAIL_FILE_PATH)
    for path in folder.glob("*.log") if folder.is_dir() else ():
        complete = path.read_bytes().split(_FILE_SEPARATOR)[:-1]
        for chunk in complete:
            found.update(m.decode() for m in _MESSAGE_ID.findall(chunk))
    return found & ids


def locmem_ledger(ids: set[str]) -> set[str]:
    from django.core import mail

    found = {_id_of(m.extra_headers.get("Message-ID", "")) for m in getattr(mail, "outbox", [])}
    return found & ids


def _id_of(header: str) -> str:
    return header.strip("<>").split("@", 1)[0]


def ledger() -> Ledger | None:
    """The configured ledger, or the built-in one for the file and in-memory backends, or None."""
    if getattr(settings, "DSR_MAIL_LEDGER", ""):
        return import_string(settings.DSR_MAIL_LEDGER)
    backend = settings.EMAIL_BACKEND
    if backend == "django.core.mail.backends.filebased.EmailBackend":
        return filebased_ledger
    if backend == "django.core.mail.backends.locmem.EmailBackend":
        return locmem_ledger
    return None


# --- the step handlers ----------------------------------------------------------------------------------


def batch_step(ctx: StepContext) -> dict[str, Any]:
    breach = Breach.objects.get(pk=ctx.params["breach"])
    return _batch(ctx, breach)


def finish_step(ctx: StepContext) -> dict[str, Any]:
    """Whatever is still pending (a batch cut short, people queued meanwhile) goes out here; then the counts."""
    breach = Breach.objects.get(pk=ctx.params["breach"])
    rounds = 0
    while BreachAffected.objects.filter(breach=breach, in_scope=True, notice_state=State.PENDING).exists():
        done = _batch(ctx, breach)
        rounds += 1
        if not any(done.values()):  # rows held by someone else (locked): let the runner try again later
            raise StepError("pending notices could not be claimed; retrying")
    progress = notice_progress(breach)
    now = timezone.now()
    with ctx.fenced():
        sync_deadlines(breach, now=now)
        audit.record("breach.notices_finished", actor="system:breach_notices", now=now, object_type="breach",
                     object_id=breach.pk, data={"run": str(ctx.run.pk), **progress})
    return {"extra_rounds": rounds, **progress}


@dataclass
class _Claimed:
    affected_id: int
    message: OutboundMessage


def _batch(ctx: StepContext, breach: Breach) -> dict[str, Any]:
    counts = {"claimed": 0, "no_address": 0, "sent": 0, "refused": 0, "gave_up": 0, "in_doubt_sent": 0,
              "in_doubt_held": 0}
    claimed = _claimed(breach)
    if not claimed:  # a retry first finishes what its earlier attempt claimed
        counts.update(_claim(ctx, breach))
        claimed = _claimed(breach)
    claimed = _settle_in_doubt(ctx, claimed, counts)
    _send(ctx, breach, claimed, counts)
    now = timezone.now()
    with ctx.fenced():
        # B-DS / CB-IND are met once everyone in scope is told; CB-AG's 15 days start at the first CA notice.
        sync_deadlines(breach, now=now)
        audit.record("breach.notices_batch", actor="system:breach_notices", now=now, object_type="breach",
                     object_id=breach.pk, data={"run": str(ctx.run.pk), "step": ctx.step.name, **counts})
    return counts


def _claimed(breach: Breach) -> list[_Claimed]:
    rows = list(BreachAffected.objects.filter(breach=breach, notice_state=State.PENDING, notice_channel=CHANNEL)
                .order_by("id").values_list("id", "subject_id"))
    ids = {message_id(breach.pk, s): a for a, s in rows}
    messages = OutboundMessage.objects.filter(pk__in=ids.keys())
    return sorted((_Claimed(ids[m.pk], m) for m in messages), key=lambda c: c.affected_id)


def _claim(ctx: StepContext, breach: Breach) -> dict[str, int]:
    """One fenced transaction: the next pending people get their message in the outbox, or "no_address"."""
    now = timezone.now()
    with ctx.fenced():
        rows = list(BreachAffected.objects.select_for_update(skip_locked=True)
                    .filter(breach=breach, in_scope=True, notice_state=State.PENDING, notice_channel="")
                    .order_by("id").values_list("id", "subject_id", "subject__email", "jurisdiction")
                    [:batch_size()])
        if not rows:
            return {"claimed": 0, "no_address": 0}
        languages = _languages([r[1] for r in rows])
        rendered: dict[tuple[str, bool], tuple[str, str, str]] = {}
        messages, addressless, claimed = [], [], []
        for affected_id, subject_id, email, jurisdiction in rows:
            if not (email or "").strip():
                addressless.append(affected_id)
                continue
            key = (languages.get(subject_id) or _language_for(jurisdiction), jurisdiction == "US-CA")
            if key not in rendered:
                rendered[key] = render_notice(breach, language=key[0], california=key[1], now=now)
            subject_line, text, html = rendered[key]
            messages.append(OutboundMessage(id=message_id(breach.pk, subject_id), template=TEMPLATE, to=email.strip(),
                                            subject_line=subject_line, body_text=text, body_html=html,
                                            created_at=now))
            claimed.append(affected_id)
        OutboundMessage.objects.bulk_create(messages, ignore_conflicts=True)
        BreachAffected.objects.filter(pk__in=claimed).update(notice_channel=CHANNEL, notice_error="")
        # §10.3 item 8: no direct channel → counted, for the public notice fallback (Art. 34(3)(c)).
        BreachAffected.objects.filter(pk__in=addressless).update(notice_state=State.FAILED, notice_channel="",
                                                                  notice_error="no_address")
    return {"claimed": len(claimed), "no_address": len(addressless)}


def _languages(subject_ids: list[Any]) -> dict[Any, str]:
    """The language each person last used on the portal, where known (§5.4: the recipients' language)."""
    chosen: dict[Any, str] = {}
    rows = (PortalFiling.objects.filter(subject_id__in=subject_ids).order_by("created_at")
            .values_list("subject_id", "language"))
    supported = {code for code, _ in settings.LANGUAGES}
    for subject_id, language in rows:
        if (language or "")[:2] in supported:
            chosen[subject_id] = language[:2]
    return chosen


def _language_for(jurisdiction: str) -> str:
    return "de" if (jurisdiction or "")[:2] in GERMAN_SPEAKING else "en"


def _settle_in_doubt(ctx: StepContext, claimed: list[_Claimed], counts: dict[str, int]) -> list[_Claimed]:
    """Messages left in flight by a killed attempt: settled by the ledger, else by DSR_BREACH_NOTICE_IN_DOUBT."""
    doubtful = [c for c in claimed if c.message.sent_at is None and c.message.last_error == IN_FLIGHT]
    if not doubtful:
        return claimed
    book = ledger()
    accepted = book({str(c.message.pk) for c in doubtful}) if book else None
    policy = getattr(settings, "DSR_BREACH_NOTICE_IN_DOUBT", "hold")
    now = timezone.now()
    settled: set[uuid.UUID] = set()
    with ctx.fenced():
        for c in doubtful:
            if accepted is not None and str(c.message.pk) in accepted:
                _mark_sent([c], now)
                counts["in_doubt_sent"] += 1
                settled.add(c.message.pk)
            elif accepted is None and policy != "resend":
                OutboundMessage.objects.filter(pk=c.message.pk).update(last_error="in_doubt")
                BreachAffected.objects.filter(pk=c.affected_id).update(notice_state=State.FAILED,
                                                                        notice_error="in_doubt")
                counts["in_doubt_held"] += 1
                settled.add(c.message.pk)
            else:  # known not accepted (or resend chosen): it goes out again below
                OutboundMessage.objects.filter(pk=c.message.pk).update(last_error="")
    log.info("breach notices: %s in-doubt message(s) settled", len(doubtful))
    return [c for c in claimed if c.message.pk not in settled]


def _mark_sent(done: list[_Claimed], now: datetime) -> None:
    if not done:
        return
    OutboundMessage.objects.filter(pk__in=[c.message.pk for c in done]).update(sent_at=now, last_error="")
    BreachAffected.objects.filter(pk__in=[c.affected_id for c in done]).update(
        notice_state=State.SENT, notice_sent_at=now, notice_error="")


def _email(message: OutboundMessage, connection: Any) -> EmailMultiAlternatives:
    domain = urlsplit(settings.DSR_BASE_URL).hostname or "dsr.invalid"
    email = EmailMultiAlternatives(
        message.subject_line, message.body_text, settings.DEFAULT_FROM_EMAIL, [message.to], connection=connection,
        # The Message-ID is the ledger's key, and lets receiving systems collapse a resent duplicate.
        headers={"Message-ID": f"<{message.pk}@{domain}>", "Auto-Submitted": "auto-generated"})
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    return email


class _Pacer:
    """At most ``rate`` sends per minute, evenly spaced (the mail provider's limit)."""

    def __init__(self, rate: int) -> None:
        self.interval = 60.0 / rate if rate else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        delay = self.next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next_at = max(self.next_at, time.monotonic() - self.interval) + self.interval


def _permanent(exc: BaseException) -> bool:
    """The provider refused this recipient for good (5xx): retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600


def _send(ctx: StepContext, breach: Breach, claimed: Iterable[_Claimed], counts: dict[str, int]) -> None:
    pending = [c for c in claimed if c.message.sent_at is None]
    already = [c for c in claimed if c.message.sent_at is not None]
    if already:  # sent and recorded on the message, but the row was not updated: bring the row in line
        with ctx.fenced():
            for c in already:
                _mark_sent([c], c.message.sent_at)
    if not pending:
        return
    size = group_size()
    pacer = _Pacer(rate_per_minute())
    connection = get_connection()
    beat_every = steps.lease_seconds() / 3  # renew well before the lease can run out mid-batch
    last_beat = time.monotonic()
    sent: list[_Claimed] = []  # accepted by the provider, not yet recorded
    try:
        for start in range(0, len(pending), size):
            group = pending[start:start + size]
            now = timezone.now()
            try:
                # One transaction records the last group as sent and marks the next one in flight, so at any
                # instant at most one group is in doubt (one message when no ledger can settle it).
                with ctx.fenced():
                    _mark_sent(sent, now)
                    _in_flight(group, +1)
            except LeaseLost:
                with transaction.atomic():  # they were sent: a fact, whoever holds the step now
                    _mark_sent(sent, now)
                raise
            sent = []
            for i, c in enumerate(group):
                pacer.wait()
                if time.monotonic() - last_beat > beat_every:
                    ctx.heartbeat()
                    last_beat = time.monotonic()
                try:
                    _email(c.message, connection).send()
                except Exception as exc:  # noqa: BLE001 - no 250 from the provider: known not accepted
                    if _record_failure(c, exc, counts):
                        continue
                    with transaction.atomic():  # the rest of the group was never tried: not in doubt
                        _in_flight(group[i + 1:], -1)
                    raise StepError(f"mail transport failed ({type(exc).__name__}); "
                                    f"{counts['sent']} sent in this batch, the rest wait for the retry") from exc
                counts["sent"] += 1
                sent.append(c)
    except Exception:
        # Whatever went wrong, the messages accepted so far were sent. (A killed process records nothing:
        # its group stays in flight for the next attempt to settle.)
        with transaction.atomic():
            _mark_sent(sent, timezone.now())
        raise
    finally:
        connection.close()
    with transaction.atomic():
        _mark_sent(sent, timezone.now())


def _in_flight(group: list[_Claimed], step: int) -> None:
    """Mark a group in flight (+1: an attempt starts) or take the mark back from messages never tried (-1)."""
    if not group:
        return
    OutboundMessage.objects.filter(pk__in=[c.message.pk for c in group]).update(
        attempts=F("attempts") + step, last_error=IN_FLIGHT if step > 0 else "")
    BreachAffected.objects.filter(pk__in=[c.affected_id for c in group]).update(
        notice_attempts=F("notice_attempts") + step)


def _record_failure(c: _Claimed, exc: BaseException, counts: dict[str, int]) -> bool:
    """Record a send that raised; True when this person is given up on (the batch goes on)."""
    kind = type(exc).__name__[:60]
    with transaction.atomic():
        row = BreachAffected.objects.select_for_update().get(pk=c.affected_id)
        OutboundMessage.objects.filter(pk=c.message.pk).update(last_error=kind)
        if _permanent(exc):
            row.notice_state, row.notice_error = State.FAILED, "refused"
            counts["refused"] += 1
        elif row.notice_attempts >= max_attempts():
            row.notice_state, row.notice_error = State.FAILED, f"delivery_error:{kind}"
            counts["gave_up"] += 1
        else:
            row.notice_error = f"send_error:{kind}"
        row.save(update_fields=["notice_state", "notice_error"])
    return row.notice_state == State.FAILED


# --- rendering ------------------------------------------------------------------------------------------


def notice_context(breach: Breach, *, california: bool, now: datetime, language: str = "en") -> dict[str, Any]:
    """Everything the notice says (§10.3 items 1–6; §10.7 items 1–9 for California residents)."""
    categories = [c for c in breach.categories if c in DataCategory.values]
    words = CATEGORY_WORDS.get(language, CATEGORY_WORDS["en"])
    face = bool(FACE_CATEGORIES & set(categories))
    base = settings.DSR_BASE_URL.rstrip("/")
    return {
        "breach": breach,
        "california": california,
        "categories": categories,
        "category_words": [words[c] for c in categories],
        "types": list(breach.types),
        "face_data": face,
        "biometric": DataCategory.FACE_EMBEDDING in categories,
        "account_data": bool(ACCOUNT_CATEGORIES & set(categories)),
        "occurred_from": breach.occurred_from,
        "occurred_until": breach.occurred_until,
        "aware_at": breach.aware_at,
        "notice_date": now,
        "remedial_actions": [a.get("action", "") for a in breach.remedial_actions if isinstance(a, dict)],
        "dpo_name": settings.DSR_DPO_NAME or DPO_DEFAULT.get(language, DPO_DEFAULT["en"]),
        "takedown_url": base + reverse("takedown-intake"),
        "portal_url": base + "/",
    }


def render_notice(breach: Breach, *, language: str, california: bool, now: datetime) -> tuple[str, str, str]:
    """(subject line, text, html) of the notice in ``language`` (en, de; anything else → en)."""
    language = language if language in ("en", "de") else "en"
    with translation.override(language):
        return emails.render(f"{TEMPLATE}/{language}", notice_context(breach, california=california, now=now,
                                                                            language=language))
