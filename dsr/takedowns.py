"""The takedown desk's verbs (issue 13; ../shared/reference/takedown.md). Each verb is atomic, takes keyword-only
``actor`` and ``now``, refuses bad input before it changes anything, and writes its audit event (ids only) in the
same transaction.

The life of a request::

    file_takedown ──(incomplete)──> supplement_takedown ──┐
         └──(complete)──────────────────────────────────────┴─> valid: hour clocks start, depiction blocked (451)
    decide_takedown ──(valid)──> removal run (dsr/takedown_removal.py): block list → erasure cascade → removed →
                     │           copy sweep → outcome to the requester, statement of reasons to the uploader
                     └─(not valid)──> refused: block lifted, outcome with reasons and redress

Filing and supplementing are in dsr/takedown_intake.py; copies found by hash are listed for the operator and removed
the same way once confirmed (dsr/takedown_copies.py); notices, complaints, abusive notifiers and escalations are in
dsr/takedown_notices.py. This module holds validity, the block, the decision, withdrawal, the clocks as shown, the
end of the evidence period and the holder.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F, QuerySet

from dsr import audit, hour_clocks, takedown_intake, takedown_notices, workflow
from dsr.copies import held_matches
from dsr.hour_clocks import HourClock, HourClockOptions
from dsr.models import DataItem, Derivation, Holding, Subject
from dsr.models.takedowns import (
    Complaint,
    Notifier,
    RefusalGround,
    Takedown,
    TakedownClock,
    TakedownItem,
    TakedownRemoval,
    TakedownState,
)
from dsr.models.vault import derived_item_ids
from dsr.perceptual import Hash

ACTOR = "system:takedowns"
Actor = User | str


class TakedownError(Exception):
    """A refused request or transition; the message says why and is safe to show to whoever asked."""


# --- settings → plain values -----------------------------------------------------------------------------------


def clock_options() -> HourClockOptions:
    return HourClockOptions(policy_hours=settings.DSR_TAKEDOWN_POLICY_HOURS, dsa_hours=settings.DSR_TAKEDOWN_DSA_HOURS,
                            uk48_hours=settings.DSR_TAKEDOWN_UK48_HOURS, uk48=settings.DSR_TAKEDOWN_UK48,
                            dsa=settings.DSR_TAKEDOWN_DSA)


def operator_zone() -> str:
    """The zone hour clocks are shown in on the console (instants are stored in UTC)."""
    return settings.DSR_OPERATOR_TIME_ZONE or workflow.controller_time_zone()


def shown(at: datetime, zone: str | None = None) -> datetime:
    """An instant for a template, in the operator's zone: Django's ``date`` filter would otherwise turn every aware
    datetime back into the server's zone (UTC), so this is the ``|timezone`` filter's marked value."""
    from django.templatetags.tz import do_timezone

    return do_timezone(at, zone or operator_zone())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def record_event(td: Takedown, kind: str, *, actor: Actor, now: datetime, subject_ref: str = "", **data: Any) -> None:
    audit.record(f"takedown.{kind}", actor=workflow.actor_label(actor), now=now, object_type="takedown",
                 object_id=td.pk, subject_ref=subject_ref, data={"number": td.number, **data})


def lock_for_update(td: Takedown) -> Takedown:
    return Takedown.objects.select_for_update().get(pk=td.pk)


# --- validity: the clock starts, the depiction is blocked --------------------------------------------------------


def save_clocks(td: Takedown, clocks: Iterable[HourClock], now: datetime) -> None:
    TakedownClock.objects.bulk_create([
        TakedownClock(takedown=td, regime=c.regime.value, starts_at=c.starts_at, hours=c.hours, due_at=c.due_at,
                      basis=c.basis, created_at=now) for c in clocks])


def current_clocks(td: Takedown) -> list[TakedownClock]:
    return list(td.clocks.filter(superseded_at__isnull=True).order_by("due_at", "regime"))


def set_governing(td: Takedown) -> None:
    running = [c for c in current_clocks(td) if c.met_at is None]
    gov = min(running, key=lambda c: c.due_at) if running else None
    td.due_at, td.due_regime = (gov.due_at, gov.regime) if gov else (None, "")


def link_item_id(link: str) -> uuid.UUID | None:
    """The item a platform link points to, by the configured patterns (``DSR_TAKEDOWN_LINK_PATTERNS``: regular
    expressions with a named group ``item``)."""
    for pattern in settings.DSR_TAKEDOWN_LINK_PATTERNS:
        match = re.search(pattern, link)
        if match and match.groupdict().get("item"):
            try:
                return uuid.UUID(match.group("item"))
            except ValueError:
                continue
    return None


def _owners_of(item_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Who uploaded each item: its OWNER holders, or for a generated item (held only through lineage) the owners
    of the photos it was made from."""
    ids = list(item_ids)
    out: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
    for item_id, subject_id in Holding.objects.filter(item_id__in=ids, role=Holding.Role.OWNER).values_list(
            "item_id", "subject_id"):
        out[item_id].append(str(subject_id))
    for item_id in [i for i in ids if not out[i]]:
        sources = ancestor_item_ids([item_id])
        owners = Holding.objects.filter(item_id__in=list(sources), role=Holding.Role.OWNER).values_list(
            "subject_id", flat=True)
        out[item_id] = sorted({str(s) for s in owners})
    return {k: sorted(set(v)) for k, v in out.items()}


def ancestor_item_ids(roots: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Every item ``roots`` were made from, transitively (the photos behind a video)."""
    roots = [uuid.UUID(str(r)) for r in roots]
    if not roots:
        return set()
    table = Derivation._meta.db_table
    to_db = (lambda u: u) if connection.vendor == "postgresql" else (lambda u: u.hex)
    placeholders = ",".join(["%s"] * len(roots))
    sql = f"""
        WITH RECURSIVE walk(id) AS (
            SELECT parent_id FROM {table} WHERE child_id IN ({placeholders})
            UNION
            SELECT d.parent_id FROM {table} d JOIN walk w ON d.child_id = w.id
        )
        SELECT id FROM walk
    """  # noqa: S608 - table name from model meta, values parametrised
    with connection.cursor() as cur:
        cur.execute(sql, [to_db(r) for r in roots])
        return {uuid.UUID(str(row[0])) for row in cur.fetchall()}


def add_items(td: Takedown, found: dict[uuid.UUID, tuple[str, str, int | None, str]], *, now: datetime,
               block: bool) -> list[TakedownItem]:
    """TakedownItem rows for ``found`` (item id → role, found_by, distance, pdq hex) that are not yet listed."""
    listed = set(td.items.values_list("item_id", flat=True))
    fresh = {k: v for k, v in found.items() if k not in listed}
    categories = dict(DataItem.objects.filter(pk__in=list(fresh)).values_list("pk", "category"))
    owners = _owners_of(list(fresh))
    rows = [TakedownItem(takedown=td, item_id=item_id, category=categories.get(item_id, ""), role=role,
                         found_by=found_by, distance=dist, pdq=pdq, owners=owners.get(item_id, []),
                         blocked_at=now if block else None, created_at=now)
            for item_id, (role, found_by, dist, pdq) in fresh.items()]
    return TakedownItem.objects.bulk_create(rows)


def locate(td: Takedown) -> dict[uuid.UUID, tuple[str, str, int | None, str]]:
    """The held items the request points to: by id, by link, or by the reference image's hash (a photo found
    that way is a source of the requester's likeness; anything else is the depiction itself)."""
    found: dict[uuid.UUID, tuple[str, str, int | None, str]] = {}
    live = DataItem.objects.live()
    for ref in td.item_refs:
        if live.filter(pk=ref).exists():
            found[uuid.UUID(ref)] = (TakedownItem.Role.REPORTED, TakedownItem.FoundBy.ITEM_ID, None, "")
    for link in td.links:
        item_id = link_item_id(link)
        if item_id and item_id not in found and live.filter(pk=item_id).exists():
            found[item_id] = (TakedownItem.Role.REPORTED, TakedownItem.FoundBy.LINK, None, "")
    if td.ref_pdq and (td.ref_quality or 0) > 0:
        ref_hash = Hash.from_hex(td.ref_pdq, td.ref_quality or 0)
        categories = {}
        matches = held_matches([ref_hash], exclude_items=found)
        if matches:
            categories = dict(DataItem.objects.filter(pk__in=[m.item_id for m in matches])
                              .values_list("pk", "category"))
        for m in matches:
            role = TakedownItem.Role.LIKENESS if categories.get(m.item_id) == "photo" else TakedownItem.Role.REPORTED
            found[m.item_id] = (role, TakedownItem.FoundBy.REFERENCE, m.distance, m.hash.hex)
    return found


def become_valid(td: Takedown, *, now: datetime, note: str, actor: Actor) -> None:
    """Inside the caller's transaction: the request is complete. The hour clocks start now; the items it points
    to (and what was made from them) are blocked at once while the request is reviewed — unless the notifier is
    marked abusive (DSA Art. 23), whose requests are reviewed without the automatic block."""
    td.valid_at, td.valid_note, td.state = now, note[:300], TakedownState.UNDER_REVIEW
    save_clocks(td, hour_clocks.clocks_at_validity(now, intimate_claimed=td.intimate_claimed, opts=clock_options()),
                 now)
    set_governing(td)
    block = not td.review_only
    located = locate(td)
    rows = add_items(td, located, now=now, block=block)
    derived = derived_item_ids(located) - set(located)
    derived_live = set(DataItem.objects.live().filter(pk__in=list(derived)).values_list("pk", flat=True))
    rows += add_items(td, {i: (TakedownItem.Role.DERIVED, TakedownItem.FoundBy.LINEAGE, None, "")
                            for i in derived_live}, now=now, block=block)
    if block and rows:
        td.blocked_at = now
    td.save(update_fields=["valid_at", "valid_note", "state", "due_at", "due_regime", "blocked_at"])
    record_event(td, "valid", actor=actor, now=now, clocks=[c.regime for c in current_clocks(td)],
           governing_due_at=td.due_at.isoformat() if td.due_at else None, located=len(located),
           blocked=len(rows) if block else 0, review_only=td.review_only)
    if block and rows:
        # T-DSA (DSA Art. 17): the statement of reasons is due when the restriction is imposed — now, not at removal.
        takedown_notices.notify_restriction(td, rows, tag="valid", now=now)


def blocked_item_ids(item_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these items a takedown is blocking right now (content 451, processing not allowed)."""
    ids = list(item_ids)
    if not ids:
        return set()
    return set(TakedownItem.objects.filter(item_id__in=ids, blocked_at__isnull=False, unblocked_at__isnull=True)
               .values_list("item_id", flat=True))


def is_blocked(item_id: uuid.UUID) -> bool:
    return bool(blocked_item_ids([item_id]))


# --- the operator's decision -----------------------------------------------------------------------------------


def likeness_candidates(td: Takedown) -> list[DataItem]:
    """Photos the reported depiction was made from (one of them may be the requester's), for the decision form."""
    reported = list(td.items.filter(role=TakedownItem.Role.REPORTED).values_list("item_id", flat=True))
    sources = ancestor_item_ids(reported) | set(
        td.items.filter(role=TakedownItem.Role.LIKENESS).values_list("item_id", flat=True))
    return list(DataItem.objects.live().filter(pk__in=list(sources), category="photo").order_by("created_at"))


def decide_takedown(td: Takedown, *, valid: bool, intimate: bool, reason: str, ground: str = "",
                    likeness_item_ids: Iterable[uuid.UUID | str] = (), extra_item_ids: Iterable[uuid.UUID | str] = (),
                    actor: User, now: datetime) -> Takedown:
    """The operator's validity decision, recorded with its reason; it picks the clock. Valid: the depiction (the
    items located, any the operator adds, and the chosen photos of the requester's likeness) is removed with
    everything made from it, through the erasure cascade, in a durable run; the clock moves onto T-TIDA when the
    depiction is intimate, else stays on T-POLICY (counted from validity either way). Not valid: a ground is
    required, the block is lifted, the requester gets the outcome with reasons and the complaint route."""
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise TakedownError("give the reason for the decision (at least 10 characters)")
    if not valid and ground not in RefusalGround.values:
        raise TakedownError("choose the ground for refusing the request")
    try:
        likeness = {uuid.UUID(str(i)) for i in likeness_item_ids}
        extra = {uuid.UUID(str(i)) for i in extra_item_ids}
    except ValueError as exc:
        raise TakedownError("an item id is not valid") from exc
    with transaction.atomic():
        td = lock_for_update(td)
        if td.state != TakedownState.UNDER_REVIEW:
            raise TakedownError(f"request {td.number} is {td.get_state_display().lower()}; it cannot be decided now")
        td.decided_at, td.decided_by, td.decision_valid = now, actor, valid
        td.decision_intimate, td.decision_reason = (intimate if valid else None), reason
        td.refusal_ground = "" if valid else ground
        TakedownClock.objects.filter(takedown=td, superseded_at__isnull=True).update(superseded_at=now)
        save_clocks(td, hour_clocks.clocks_after_decision(td.valid_at, valid=valid, intimate=intimate,
                                                           opts=clock_options()), now)
        if valid:
            _plan_removal(td, likeness=likeness, extra=extra, now=now)
            td.state = TakedownState.REMOVING
        else:
            _refuse(td, ground=ground, now=now)
        set_governing(td)
        td.save()
        record_event(td, "decided", actor=actor, now=now, valid=valid, intimate=td.decision_intimate, ground=ground,
               clocks=[c.regime for c in current_clocks(td)],
               governing_due_at=td.due_at.isoformat() if td.due_at else None)
        if valid:
            start_removal(td, batch=0, actor=actor, now=now)
        else:
            takedown_notices.notify_outcome(td, now=now)
            takedown_notices.notify_lifted(td, why="refused", tag="decision", now=now)
    return td


def _plan_removal(td: Takedown, *, likeness: set[uuid.UUID], extra: set[uuid.UUID], now: datetime) -> None:
    allowed_likeness = {i.pk for i in likeness_candidates(td)}
    if likeness - allowed_likeness:
        raise TakedownError("a chosen photo is not one the depiction was made from")
    live = set(DataItem.objects.live().filter(pk__in=list(extra)).values_list("pk", flat=True))
    if extra - live:
        raise TakedownError("an added item id is not held (or was already deleted)")
    added = {i: (TakedownItem.Role.LIKENESS, TakedownItem.FoundBy.OPERATOR, None, "") for i in likeness}
    added |= {i: (TakedownItem.Role.REPORTED, TakedownItem.FoundBy.OPERATOR, None, "") for i in extra}
    add_items(td, added, now=now, block=not td.review_only)
    # The chosen likeness photos and everything located; found-by-reference likeness photos the operator did
    # not choose stay (they are listed, not removed).
    roots = set(td.items.filter(role=TakedownItem.Role.REPORTED).values_list("item_id", flat=True)) | likeness
    roots = set(DataItem.objects.live().filter(pk__in=list(roots)).values_list("pk", flat=True))
    if not roots:
        raise TakedownError("no held item is located for this request: add the item id before deciding it valid")
    derived = derived_item_ids(roots) - roots
    derived = set(DataItem.objects.live().filter(pk__in=list(derived)).values_list("pk", flat=True))
    add_items(td, {i: (TakedownItem.Role.DERIVED, TakedownItem.FoundBy.LINEAGE, None, "") for i in derived},
               now=now, block=not td.review_only)
    TakedownItem.objects.filter(takedown=td, item_id__in=list(roots | derived)).update(
        state=TakedownItem.State.CONFIRMED, batch=0)
    # Listed but not chosen (a likeness photo the operator left out): no longer blocked.
    TakedownItem.objects.filter(takedown=td, batch__isnull=True, blocked_at__isnull=False,
                                unblocked_at__isnull=True).update(unblocked_at=now, state=TakedownItem.State.KEPT)


def _refuse(td: Takedown, *, ground: str, now: datetime) -> None:
    """Inside decide_takedown: lift the block, close the request, count a manifestly unfounded notice."""
    TakedownItem.objects.filter(takedown=td, blocked_at__isnull=False, unblocked_at__isnull=True).update(
        unblocked_at=now)
    TakedownItem.objects.filter(takedown=td).update(state=TakedownItem.State.KEPT)
    td.state, td.closed_at = TakedownState.REFUSED, now
    td.evidence_until = now + timedelta(days=settings.DSR_TAKEDOWN_EVIDENCE_DAYS)
    if ground == RefusalGround.MANIFESTLY_UNFOUNDED and td.notifier_id:
        Notifier.objects.filter(pk=td.notifier_id).update(manifestly_unfounded=F("manifestly_unfounded") + 1)


def start_removal(td: Takedown, *, batch: int, actor: Actor, now: datetime) -> TakedownRemoval:
    """Start the durable removal of one batch (in the caller's transaction)."""
    from dsr import steps
    from dsr.steps import StepSpec

    h = "dsr.takedown_removal."
    p = {"takedown": str(td.pk), "batch": batch}
    specs = [StepSpec("block-list", h + "block_list", 10, p), StepSpec("erase", h + "erase", 20, p),
             StepSpec("complete", h + "complete", 30, p)]
    if batch == 0:
        specs.append(StepSpec("sweep", h + "sweep", 40, p))
    specs.append(StepSpec("notify", h + "notify", 50, p))
    removal = TakedownRemoval.objects.create(takedown=td, batch=batch, started_at=now)
    run = steps.start_run("takedown", specs, object_type="takedown", object_id=td.pk,
                          actor=workflow.actor_label(actor), now=now)
    removal.run = run
    removal.save(update_fields=["run"])
    return removal


def withdraw_takedown(td: Takedown, *, actor: Actor, now: datetime) -> Takedown:
    with transaction.atomic():
        td = lock_for_update(td)
        if td.state not in (TakedownState.INCOMPLETE, TakedownState.UNDER_REVIEW):
            raise TakedownError(f"request {td.number} can no longer be withdrawn")
        TakedownItem.objects.filter(takedown=td, blocked_at__isnull=False, unblocked_at__isnull=True).update(
            unblocked_at=now, state=TakedownItem.State.KEPT)
        TakedownClock.objects.filter(takedown=td, superseded_at__isnull=True, met_at__isnull=True).update(
            superseded_at=now)
        td.state, td.closed_at = TakedownState.WITHDRAWN, now
        td.evidence_until = now + timedelta(days=settings.DSR_TAKEDOWN_EVIDENCE_DAYS)
        set_governing(td)
        td.save()
        record_event(td, "withdrawn", actor=actor, now=now)
        takedown_notices.notify_lifted(td, why="withdrawn", tag="withdrawn", now=now)
    return td


# --- the end of the evidence period ----------------------------------------------------------------------------


def end_evidence_periods(*, now: datetime, actor: str = ACTOR) -> int:
    """Past the evidence period: the reference image is shredded, and the requester's words and contact are
    blanked; the number, the instants, the decision, the clocks, the items and their hashes stay."""
    done = 0
    for td in Takedown.objects.filter(evidence_until__lte=now, anonymised_at__isnull=True)[:200]:
        takedown_intake.shred_reference(td, why="evidence_period_ended", actor=actor, now=now)
        with transaction.atomic():
            locked = lock_for_update(td)
            if locked.anonymised_at is not None:
                continue
            for name in ("signature_name", "acting_for", "authority", "location_details", "good_faith_statement",
                         "contact_email", "contact_phone"):
                setattr(locked, name, "")
            locked.links, locked.anonymised_at, locked.access_hash = [], now, ""
            locked.save()
            Complaint.objects.filter(takedown=locked).update(text="")
            record_event(locked, "anonymised", actor=actor, now=now)
            done += 1
    return done


def clocks_view(td: Takedown) -> list[dict[str, Any]]:
    """Every clock of a request for the console and the evidence pack — hour clocks and, for a linked erasure, its
    day clock as an instant — with the governing (earliest running) one marked."""
    zone = operator_zone()
    rows: list[dict[str, Any]] = []
    for c in td.clocks.order_by("created_at", "due_at"):
        rows.append({"regime": c.regime, "label": hour_clocks.LABELS.get(hour_clocks.HourRegime(c.regime), c.regime),
                     "starts_at": c.starts_at, "due_at": c.due_at, "due_local": shown(c.due_at, zone),
                     "basis": c.basis, "met_at": c.met_at, "superseded_at": c.superseded_at, "unit": "hours",
                     "margin": hour_clocks.describe_margin(hour_clocks.margin(c.due_at, c.met_at)) if c.met_at
                     else ""})
    case = td.erasure_case
    if case is not None:
        for d in case.deadlines.filter(superseded_at__isnull=True, purpose__in=["response", "extended_response"]):
            tz = next((e.get("time_zone") for e in case.clock if e.get("regime") == d.regime), None) or zone
            at = hour_clocks.day_clock_instant(d.due_on, tz)
            rows.append({"regime": f"{d.rule} ({d.regime})", "label": f"Erasure case {case.reference} (day clock)",
                         "starts_at": case.received_at, "due_at": at, "due_local": shown(at, zone),
                         "basis": d.basis, "met_at": d.met_at, "superseded_at": None, "unit": "days",
                         "margin": ""})
    running = [r for r in rows if r["superseded_at"] is None and r["met_at"] is None]
    if running:
        first = min(running, key=lambda r: r["due_at"])
        first["governing"] = True
    return rows


# --- the holder (dsr/holders.py) ----------------------------------------------------------------------------


def _subject_takedowns(subject: Subject) -> QuerySet[Takedown]:
    return Takedown.objects.filter(erasure_case__subject=subject)


def describe_for_subject(subject: Subject) -> dict[str, int]:
    """What the takedown desk holds about a subject: requests they filed together with an erasure (linked through
    that case), reference images still held, complaints they lodged as an uploader, notifier records."""
    own = _subject_takedowns(subject)
    notifier = Notifier.objects.filter(key=takedown_intake.notifier_key(subject.email)).count() if subject.email else 0
    return {"takedown_requests": own.count(),
            "reference_images": own.filter(ref_blob_name__gt="", ref_shredded_at__isnull=True).count(),
            "complaints": Complaint.objects.filter(party_ref=subject.reference).count(),
            "notifier_records": notifier}


def erase_for_subject(subject: Subject, ctx: Any) -> dict[str, int]:
    """The erasure cascade's holder step: the reference images of the subject's own takedown requests are face
    data and are shredded now; the request records themselves (the four elements, the decision, the evidence of
    removal) are kept until the evidence period ends (GDPR Art. 17(3)(b)/(e): a legal duty and legal claims),
    then blanked by ``end_evidence_periods``."""
    now = getattr(ctx, "now", None) or datetime.now(tz=UTC)
    shredded = sum(int(takedown_intake.shred_reference(td, why="subject_erased", actor=ACTOR, now=now))
                   for td in _subject_takedowns(subject))
    return {"reference_images_shredded": shredded}
