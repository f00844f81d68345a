"""The takedown desk's verbs (issue 13; ../shared/reference/takedown.md). Each verb is atomic, takes keyword-only
``actor`` and ``now``, refuses bad input before it changes anything, and writes its audit event (ids only) in the
same transaction.

The life of a request::

    file_takedown ──(incomplete)──> supplement_takedown ──┐
         └──(complete)──────────────────────────────────────┴─> valid: hour clocks start, depiction blocked (451)
    decide_takedown ──(valid)──> removal run (dsr/takedown_removal.py): block list → erasure cascade → removed →
                     │           copy sweep → outcome to the requester, statement of reasons to the uploader
                     └─(not valid)──> refused: block lifted, outcome with reasons and redress

Copies found by hash are listed for the operator; ``confirm_copies`` removes them the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, QuerySet
from django.utils.translation import gettext as _

from dsr import audit, crypto, emails, hour_clocks, images, keys, perceptual, storage, workflow
from dsr.copies import BlockMatch, held_matches
from dsr.hour_clocks import HourClock, HourClockOptions
from dsr.models import DataItem, Derivation, Holding, Subject
from dsr.models.takedowns import (
    CLOCK_STATES,
    Complaint,
    FiledAs,
    Notifier,
    RefusalGround,
    Takedown,
    TakedownChannel,
    TakedownClock,
    TakedownEscalation,
    TakedownItem,
    TakedownNotice,
    TakedownRemoval,
    TakedownState,
)
from dsr.models.vault import derived_item_ids, normalise_email
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


# --- the request as filed -------------------------------------------------------------------------------------


@dataclass
class Filing:
    """What a requester sent, parsed but not yet judged (portal form or API body)."""

    signature_name: str = ""
    signature_attested: bool = False
    filed_as: str = FiledAs.INDIVIDUAL
    acting_for: str = ""
    authority: str = ""
    item_refs: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    location_details: str = ""
    reference_image: bytes | None = None
    good_faith_statement: str = ""
    good_faith_confirmed: bool = False
    contact_email: str = ""
    contact_phone: str = ""
    intimate: bool = False
    minor: bool = False
    also_erase_own_data: bool = False


@dataclass(frozen=True)
class Missing:
    element: str  # signature | location | good_faith | contact
    field: str
    message: str


ELEMENTS = ("signature", "location", "good_faith", "contact")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{6,30}$")
MAX_REFS = 20


def _clean_text(value: str, what: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise TakedownError(f"{what} is too long (at most {limit} characters)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from JSON's \\ud800
        raise TakedownError(f"{what} contains a character that is not allowed") from exc
    if "\x00" in value:
        raise TakedownError(f"{what} contains a character that is not allowed")
    return value


def _check_formats(f: Filing) -> Filing:
    """Bad input is refused with a clear message and nothing is stored; absent elements are not errors (they make
    the request incomplete, and the requester is told exactly what is missing)."""
    if f.filed_as not in FiledAs.values:
        raise TakedownError("say whether you are the person depicted or someone authorized to act for them")
    out = Filing(
        signature_name=_clean_text(f.signature_name, "the typed name", 200),
        signature_attested=bool(f.signature_attested), filed_as=f.filed_as,
        acting_for=_clean_text(f.acting_for, "the name of the person you act for", 200),
        authority=_clean_text(f.authority, "the authority you act on", 2000),
        location_details=_clean_text(f.location_details, "the description of where it is", 4000),
        good_faith_statement=_clean_text(f.good_faith_statement, "the good-faith statement", 4000),
        good_faith_confirmed=bool(f.good_faith_confirmed),
        contact_phone=_clean_text(f.contact_phone, "the phone number", 40),
        intimate=bool(f.intimate), minor=bool(f.minor), also_erase_own_data=bool(f.also_erase_own_data),
        reference_image=f.reference_image,
    )
    refs = [r.strip() for r in f.item_refs if r and r.strip()]
    links = [link.strip() for link in f.links if link and link.strip()]
    if len(refs) > MAX_REFS or len(links) > MAX_REFS:
        raise TakedownError(f"give at most {MAX_REFS} item ids and {MAX_REFS} links per request")
    for ref in refs:
        try:
            out.item_refs.append(str(uuid.UUID(ref)))
        except ValueError as exc:
            raise TakedownError("an item id must look like 123e4567-e89b-12d3-a456-426614174000") from exc
    for link in links:
        try:
            parts = urlsplit(_clean_text(link, "a link", 2000))
        except ValueError as exc:
            raise TakedownError("a link must be a full web address starting with https://") from exc
        if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > 2000:
            raise TakedownError("a link must be a full web address starting with https://")
        out.links.append(link)
    if f.contact_email and f.contact_email.strip():
        try:
            out.contact_email = normalise_email(f.contact_email)
        except ValueError as exc:
            raise TakedownError("the e-mail address is not valid") from exc
    if out.contact_phone and not _PHONE.match(out.contact_phone):
        raise TakedownError("the phone number may hold only digits, spaces and + ( ) . / -")
    if out.also_erase_own_data and not out.contact_email:
        raise TakedownError("to have your own data erased too, give an e-mail address we can reach you at")
    return out


def missing_elements(td: Takedown) -> list[Missing]:
    """What stops the request from being valid (47 U.S.C. 223a(a)(1)(B)), element by element, in words a
    requester understands (in the active language: the portal's, English for the API)."""
    out: list[Missing] = []
    if len(td.signature_name.strip()) < 2:
        out.append(Missing("signature", "signature_name", _("Type your full name: it is your signature.")))
    if td.signature_attested_at is None:
        out.append(Missing("signature", "signature_attested",
                           _("Tick the box confirming that your typed name is your signature and that what you say "
                             "is true.")))
    if td.filed_as == FiledAs.AUTHORIZED:
        if len(td.acting_for.strip()) < 2:
            out.append(Missing("signature", "acting_for", _("Give the name of the person you are acting for.")))
        if len(td.authority.strip()) < 5:
            out.append(Missing("signature", "authority",
                               _("Say on what authority you act for them (for example: parent of a child, "
                                 "lawyer, legal guardian).")))
    if not (td.item_refs or td.links or td.ref_pdq):
        out.append(Missing("location", "location",
                           _("Tell us where the picture or video is: give its item id, a link to it on the "
                             "platform, or upload a copy so that we can find it.")))
    if len(td.good_faith_statement.strip()) < 10:
        out.append(Missing("good_faith", "good_faith_statement",
                           _("Write a short statement (at least 10 characters) that you believe in good faith it "
                             "was published without consent, with anything that helps us.")))
    if td.good_faith_confirmed_at is None:
        out.append(Missing("good_faith", "good_faith_confirmed",
                           _("Tick the box confirming your good-faith belief that it was published without "
                             "consent.")))
    if not (td.contact_email or td.contact_phone):
        out.append(Missing("contact", "contact", _("Give an e-mail address or a phone number where we can reach "
                                                   "you.")))
    return out


def new_number() -> str:
    return "TD-" + secrets.token_hex(4).upper()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _notifier_key(email: str) -> str:
    return hmac.new(keys.pseudonym_key(), b"notifier|" + email.encode(), hashlib.sha256).hexdigest()


def _event(td: Takedown, kind: str, *, actor: Actor, now: datetime, subject_ref: str = "", **data: Any) -> None:
    audit.record(f"takedown.{kind}", actor=workflow.actor_label(actor), now=now, object_type="takedown",
                 object_id=td.pk, subject_ref=subject_ref, data={"number": td.number, **data})


def _locked(td: Takedown) -> Takedown:
    return Takedown.objects.select_for_update().get(pk=td.pk)


# --- the reference image (kept only encrypted under the request's own key) -----------------------------------


def _ref_context(takedown_id: uuid.UUID) -> bytes:
    return f"dsr-takedown-key-v1|takedown:{takedown_id}".encode()


def _ref_aad(takedown_id: uuid.UUID) -> bytes:
    return f"dsr-takedown-reference-v1|takedown:{takedown_id}".encode()


@dataclass(frozen=True)
class _Reference:
    wrapped: str
    blob_name: str
    content_type: str
    pdq: Hash


def _seal_reference(takedown_id: uuid.UUID, data: bytes) -> _Reference:
    """Sanitise the requester's copy (it is hostile input like any upload), hash it, and seal it under a fresh
    key that only this request has; the key is wrapped by the key ring."""
    limits = images.ImageLimits(max_bytes=settings.DSR_TAKEDOWN_REFERENCE_MAX_BYTES,
                                max_pixels=settings.DSR_UPLOAD_MAX_PIXELS)
    try:
        clean = images.sanitise_image(io.BytesIO(data), limits, hash_pixels=perceptual.hash_image)
    except images.RejectedUpload as exc:
        raise TakedownError(f"the uploaded copy was not accepted: {exc.message}") from exc
    ring = keys.get_keyring()
    key = crypto.new_data_key()
    written = storage.write_sealed(key, io.BytesIO(clean.data), aad=_ref_aad(takedown_id))
    assert clean.pdq is not None
    return _Reference(ring.wrap(key, context=_ref_context(takedown_id)), written.name, clean.content_type, clean.pdq)


def open_reference(td: Takedown) -> bytes:
    """The reference image, decrypted (for the operator reviewing the request)."""
    if not td.has_reference or not td.ref_key_wrapped:
        raise TakedownError("this request has no reference image (none was given, or it has been shredded)")
    key = keys.get_keyring().unwrap(td.ref_key_wrapped, context=_ref_context(td.pk))
    return b"".join(storage.read_sealed(key, td.ref_blob_name, aad=_ref_aad(td.pk)))


def shred_reference(td: Takedown, *, why: str, actor: Actor, now: datetime) -> bool:
    """Destroy the reference image's key and delete its blob (its hash stays: it locates copies). Idempotent."""
    with transaction.atomic():
        td = _locked(td)
        if td.ref_shredded_at is not None or not td.ref_blob_name:
            return False
        blob = td.ref_blob_name
        td.ref_key_wrapped, td.ref_shredded_at = "", now
        td.save(update_fields=["ref_key_wrapped", "ref_shredded_at"])
        _event(td, "reference_shredded", actor=actor, now=now, why=why[:40])
        transaction.on_commit(lambda: storage.delete_blob(blob))
    return True


# --- filing ---------------------------------------------------------------------------------------------------


def file_takedown(filing: Filing, *, channel: str, actor: Actor, now: datetime,
                  idempotency_key: str | None = None) -> tuple[Takedown, bool, str]:
    """Receive a request, complete or not. Steps: check formats (bad input changes nothing); sanitise, hash and
    seal the reference image under the request's own key; store the four elements as received with a request
    number; write ``takedown.received``; queue the receipt (number, and what is missing) to the contact address;
    if every element is there, the request is valid now (``_become_valid``: clocks start, depiction blocked); if
    asked, open an erasure case for the person's own data. Returns (takedown, created, status token); a repeated
    idempotency key returns the first request (and no token)."""
    if channel not in TakedownChannel.values:
        raise TakedownError("unknown channel")
    if idempotency_key:
        existing = Takedown.objects.filter(idempotency_key=idempotency_key).first()
        if existing:
            return existing, False, ""
    f = _check_formats(filing)
    takedown_id = uuid.uuid4()
    ref = _seal_reference(takedown_id, f.reference_image) if f.reference_image else None
    token = secrets.token_urlsafe(24)
    try:
        with transaction.atomic():
            notifier = None
            if f.contact_email:
                notifier, _new = Notifier.objects.get_or_create(key=_notifier_key(f.contact_email),
                                                             defaults={"created_at": now})
            td = Takedown.objects.create(
                id=takedown_id, number=new_number(), channel=channel, received_at=now, created_at=now,
                idempotency_key=idempotency_key or None, access_hash=_token_hash(token),
                signature_name=f.signature_name, signature_attested_at=now if f.signature_attested else None,
                filed_as=f.filed_as, acting_for=f.acting_for, authority=f.authority, item_refs=f.item_refs,
                links=f.links, location_details=f.location_details, good_faith_statement=f.good_faith_statement,
                good_faith_confirmed_at=now if f.good_faith_confirmed else None, contact_email=f.contact_email,
                contact_phone=f.contact_phone, intimate_claimed=f.intimate, minor_suspected=f.minor,
                notifier=notifier, review_only=bool(notifier and notifier.is_abusive(now)),
                ref_key_wrapped=ref.wrapped if ref else "", ref_blob_name=ref.blob_name if ref else "",
                ref_content_type=ref.content_type if ref else "", ref_pdq=ref.pdq.hex if ref else "",
                ref_quality=ref.pdq.quality if ref else None,
            )
            missing = missing_elements(td)
            _event(td, "received", actor=actor, now=now, channel=channel, filed_as=f.filed_as,
                   elements=[e for e in ELEMENTS if e not in {m.element for m in missing}],
                   intimate_claimed=f.intimate, minor_suspected=f.minor, reference_image=bool(ref),
                   review_only=td.review_only)
            if not missing:
                _become_valid(td, now=now, note="complete when received", actor=actor)
            _notify_receipt(td, now=now, missing=missing, status_url=status_url(token) if missing else "")
            if f.also_erase_own_data:
                _open_erasure(td, actor=actor, now=now)
    except IntegrityError:
        if ref:
            storage.delete_blob(ref.blob_name)
        if idempotency_key:
            existing = Takedown.objects.filter(idempotency_key=idempotency_key).first()
            if existing:
                return existing, False, ""
        raise
    except BaseException:
        if ref:
            storage.delete_blob(ref.blob_name)
        raise
    return td, True, token


def supplement_takedown(td: Takedown, filing: Filing, *, actor: Actor, now: datetime) -> Takedown:
    """The requester adds what was missing. Only an incomplete request can be supplemented (a valid one is under
    review). Elements given are added, nothing given is erased; if the request is now complete the clock starts
    now (``valid_at``), and ``received_at`` stays as it was."""
    f = _check_formats(filing)
    ref = _seal_reference(td.pk, f.reference_image) if f.reference_image else None
    try:
        with transaction.atomic():
            td = _locked(td)
            if td.state != TakedownState.INCOMPLETE:
                raise TakedownError(f"request {td.number} is already complete; nothing needs adding")
            before = {m.field for m in missing_elements(td)}
            for name in ("signature_name", "acting_for", "authority", "location_details", "good_faith_statement",
                         "contact_email", "contact_phone"):
                value = getattr(f, name)
                if value:
                    setattr(td, name, value)
            if f.filed_as != td.filed_as and f.filed_as == FiledAs.AUTHORIZED:
                td.filed_as = f.filed_as
            if f.signature_attested and td.signature_attested_at is None:
                td.signature_attested_at = now
            if f.good_faith_confirmed and td.good_faith_confirmed_at is None:
                td.good_faith_confirmed_at = now
            td.item_refs = list(dict.fromkeys([*td.item_refs, *f.item_refs]))[:MAX_REFS]
            td.links = list(dict.fromkeys([*td.links, *f.links]))[:MAX_REFS]
            td.intimate_claimed = td.intimate_claimed or f.intimate
            td.minor_suspected = td.minor_suspected or f.minor
            old_blob = ""
            if ref:
                old_blob = td.ref_blob_name if td.ref_shredded_at is None else ""
                td.ref_key_wrapped, td.ref_blob_name, td.ref_content_type = ref.wrapped, ref.blob_name, ref.content_type
                td.ref_pdq, td.ref_quality, td.ref_shredded_at = ref.pdq.hex, ref.pdq.quality, None
            if td.contact_email and td.notifier_id is None:
                td.notifier, _new = Notifier.objects.get_or_create(key=_notifier_key(td.contact_email),
                                                                defaults={"created_at": now})
            td.save()
            if old_blob:
                transaction.on_commit(lambda: storage.delete_blob(old_blob))
            missing = missing_elements(td)
            added = sorted(before - {m.field for m in missing})
            _event(td, "supplemented", actor=actor, now=now, added=added, still_missing=[m.field for m in missing])
            if not missing:
                _become_valid(td, now=now, actor=actor, note=f"completed on {now:%Y-%m-%d %H:%M} UTC: "
                              + ", ".join(added)[:200])
            _notify_receipt(td, now=now, missing=missing, supplement=True)
    except BaseException:
        if ref:
            storage.delete_blob(ref.blob_name)
        raise
    return td


def find_by_token(token: str) -> Takedown | None:
    if not token or len(token) > 100:
        return None
    return Takedown.objects.filter(access_hash=_token_hash(token)).first()


# --- validity: the clock starts, the depiction is blocked --------------------------------------------------------


def _save_clocks(td: Takedown, clocks: Iterable[HourClock], now: datetime) -> None:
    TakedownClock.objects.bulk_create([
        TakedownClock(takedown=td, regime=c.regime.value, starts_at=c.starts_at, hours=c.hours, due_at=c.due_at,
                      basis=c.basis, created_at=now) for c in clocks])


def current_clocks(td: Takedown) -> list[TakedownClock]:
    return list(td.clocks.filter(superseded_at__isnull=True).order_by("due_at", "regime"))


def _set_governing(td: Takedown) -> None:
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


def _add_items(td: Takedown, found: dict[uuid.UUID, tuple[str, str, int | None, str]], *, now: datetime,
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


def _become_valid(td: Takedown, *, now: datetime, note: str, actor: Actor) -> None:
    """Inside the caller's transaction: the request is complete. The hour clocks start now; the items it points
    to (and what was made from them) are blocked at once while the request is reviewed — unless the notifier is
    marked abusive (DSA Art. 23), whose requests are reviewed without the automatic block."""
    td.valid_at, td.valid_note, td.state = now, note[:300], TakedownState.UNDER_REVIEW
    _save_clocks(td, hour_clocks.clocks_at_validity(now, intimate_claimed=td.intimate_claimed, opts=clock_options()),
                 now)
    _set_governing(td)
    block = not td.review_only
    located = locate(td)
    rows = _add_items(td, located, now=now, block=block)
    derived = derived_item_ids(located) - set(located)
    derived_live = set(DataItem.objects.live().filter(pk__in=list(derived)).values_list("pk", flat=True))
    rows += _add_items(td, {i: (TakedownItem.Role.DERIVED, TakedownItem.FoundBy.LINEAGE, None, "")
                            for i in derived_live}, now=now, block=block)
    if block and rows:
        td.blocked_at = now
    td.save(update_fields=["valid_at", "valid_note", "state", "due_at", "due_regime", "blocked_at"])
    _event(td, "valid", actor=actor, now=now, clocks=[c.regime for c in current_clocks(td)],
           governing_due_at=td.due_at.isoformat() if td.due_at else None, located=len(located),
           blocked=len(rows) if block else 0, review_only=td.review_only)


def blocked_item_ids(item_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these items a takedown is blocking right now (content 451, processing not allowed)."""
    ids = list(item_ids)
    if not ids:
        return set()
    return set(TakedownItem.objects.filter(item_id__in=ids, blocked_at__isnull=False, unblocked_at__isnull=True)
               .values_list("item_id", flat=True))


def is_blocked(item_id: uuid.UUID) -> bool:
    return bool(blocked_item_ids([item_id]))


def _open_erasure(td: Takedown, *, actor: Actor, now: datetime) -> None:
    """One report, two duties: an erasure case for the person's own data (GDPR Art. 17) runs beside the takedown
    on its day clock; the takedown shows both and the earliest governs (legal-matrix §1.4)."""
    from dsr.vault import find_or_create_subject

    subject, _new = find_or_create_subject(actor=workflow.actor_label(actor), now=now, email=td.contact_email,
                                        kind=Subject.Kind.DEPICTED)
    case, _new = workflow.submit_case(
        kind="erasure", regimes=list(settings.DSR_TAKEDOWN_ERASURE_REGIMES), subject=subject, received_at=now,
        actor=actor, now=now, channel="web_form" if td.channel == TakedownChannel.PORTAL else "api",
        details=f"Opened together with takedown request {td.number}: erasure of the requester's own face data.",
        idempotency_key=f"takedown:{td.pk}")
    td.erasure_case = case
    td.save(update_fields=["erasure_case"])
    _event(td, "erasure_opened", actor=actor, now=now, subject_ref=subject.reference, case=str(case.pk))


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
        td = _locked(td)
        if td.state != TakedownState.UNDER_REVIEW:
            raise TakedownError(f"request {td.number} is {td.get_state_display().lower()}; it cannot be decided now")
        td.decided_at, td.decided_by, td.decision_valid = now, actor, valid
        td.decision_intimate, td.decision_reason = (intimate if valid else None), reason
        td.refusal_ground = "" if valid else ground
        TakedownClock.objects.filter(takedown=td, superseded_at__isnull=True).update(superseded_at=now)
        _save_clocks(td, hour_clocks.clocks_after_decision(td.valid_at, valid=valid, intimate=intimate,
                                                           opts=clock_options()), now)
        if valid:
            if not removal_available():
                raise TakedownError("removal goes through the erasure cascade (dsr/erasure.py), which this "
                                    "installation does not have yet; the depiction stays blocked meanwhile")
            _plan_removal(td, likeness=likeness, extra=extra, now=now)
            td.state = TakedownState.REMOVING
        else:
            _refuse(td, ground=ground, now=now)
        _set_governing(td)
        td.save()
        _event(td, "decided", actor=actor, now=now, valid=valid, intimate=td.decision_intimate, ground=ground,
               clocks=[c.regime for c in current_clocks(td)],
               governing_due_at=td.due_at.isoformat() if td.due_at else None)
        if valid:
            start_removal(td, batch=0, actor=actor, now=now)
        else:
            notify_outcome(td, now=now)
    return td


def removal_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("dsr.erasure") is not None


def _plan_removal(td: Takedown, *, likeness: set[uuid.UUID], extra: set[uuid.UUID], now: datetime) -> None:
    allowed_likeness = {i.pk for i in likeness_candidates(td)}
    if likeness - allowed_likeness:
        raise TakedownError("a chosen photo is not one the depiction was made from")
    live = set(DataItem.objects.live().filter(pk__in=list(extra)).values_list("pk", flat=True))
    if extra - live:
        raise TakedownError("an added item id is not held (or was already deleted)")
    added = {i: (TakedownItem.Role.LIKENESS, TakedownItem.FoundBy.OPERATOR, None, "") for i in likeness}
    added |= {i: (TakedownItem.Role.REPORTED, TakedownItem.FoundBy.OPERATOR, None, "") for i in extra}
    _add_items(td, added, now=now, block=not td.review_only)
    # The chosen likeness photos and everything located; found-by-reference likeness photos the operator did
    # not choose stay (they are listed, not removed).
    roots = set(td.items.filter(role=TakedownItem.Role.REPORTED).values_list("item_id", flat=True)) | likeness
    roots = set(DataItem.objects.live().filter(pk__in=list(roots)).values_list("pk", flat=True))
    if not roots:
        raise TakedownError("no held item is located for this request: add the item id before deciding it valid")
    derived = derived_item_ids(roots) - roots
    derived = set(DataItem.objects.live().filter(pk__in=list(derived)).values_list("pk", flat=True))
    _add_items(td, {i: (TakedownItem.Role.DERIVED, TakedownItem.FoundBy.LINEAGE, None, "") for i in derived},
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


# --- copies ----------------------------------------------------------------------------------------------------


def list_copy_after_ingest(td: Takedown, item: DataItem, match: BlockMatch, *, now: datetime) -> None:
    """A stored item found (after ingest) to match the block list: listed on the takedown as a copy and blocked
    at once; the operator confirms its removal."""
    _add_items(td, {item.pk: (TakedownItem.Role.COPY, TakedownItem.FoundBy.REUPLOAD, match.distance, match.hash.hex)},
               now=now, block=True)
    _event(td, "copy_found_after_ingest", actor=ACTOR, now=now, item=str(item.pk), distance=match.distance)


def record_sweep(td: Takedown, *, now: datetime) -> int:
    """Match every block-listed hash of this takedown against everything held; list new matches for the operator
    (not blocked: a match is a candidate until a person confirms it). Returns how many were listed."""
    hashes = [b.hash for b in td.blocked_hashes.filter(lifted_at__isnull=True)]
    if td.ref_pdq and (td.ref_quality or 0) > 0:
        hashes.append(Hash.from_hex(td.ref_pdq, td.ref_quality or 0))
    listed = set(td.items.values_list("item_id", flat=True))
    matches = held_matches(hashes, exclude_items=listed)
    rows = _add_items(td, {m.item_id: (TakedownItem.Role.COPY, TakedownItem.FoundBy.SWEEP, m.distance, m.hash.hex)
                           for m in matches}, now=now, block=False)
    _event(td, "copies_swept", actor=ACTOR, now=now, hashes=len(hashes), found=len(rows))
    return len(rows)


def sweep_again(td: Takedown, *, actor: Actor, now: datetime) -> int:
    with transaction.atomic():
        td = _locked(td)
        if not td.blocked_hashes.exists() and not td.ref_pdq:
            raise TakedownError("nothing to match yet: the block list of this request is empty")
        return record_sweep(td, now=now)


def confirm_copies(td: Takedown, item_ids: Iterable[uuid.UUID | str], *, actor: User, now: datetime
                   ) -> TakedownRemoval:
    """The operator confirms listed copies: they (and what was made from them) are removed the same way, in a
    new batch, and their uploaders get a statement of reasons."""
    ids = {uuid.UUID(str(i)) for i in item_ids}
    if not ids:
        raise TakedownError("choose the copies to remove")
    with transaction.atomic():
        td = _locked(td)
        if td.decision_valid is not True or td.state not in (TakedownState.REMOVING, TakedownState.REMOVED):
            raise TakedownError("copies are removed only for a request decided valid")
        rows = TakedownItem.objects.filter(takedown=td, item_id__in=list(ids), role=TakedownItem.Role.COPY,
                                           state=TakedownItem.State.LISTED)
        if rows.count() != len(ids):
            raise TakedownError("a chosen item is not a listed copy of this request")
        live = set(DataItem.objects.live().filter(pk__in=list(ids)).values_list("pk", flat=True))
        batch = (td.removals.aggregate(m=Max("batch"))["m"] or 0) + 1
        derived = derived_item_ids(live) - live
        derived = set(DataItem.objects.live().filter(pk__in=list(derived)).values_list("pk", flat=True))
        _add_items(td, {i: (TakedownItem.Role.DERIVED, TakedownItem.FoundBy.LINEAGE, None, "") for i in derived},
                   now=now, block=True)
        TakedownItem.objects.filter(takedown=td, item_id__in=list(ids | derived)).update(
            state=TakedownItem.State.CONFIRMED, batch=batch)
        TakedownItem.objects.filter(takedown=td, item_id__in=list(ids), blocked_at__isnull=True).update(blocked_at=now)
        _event(td, "copies_confirmed", actor=actor, now=now, batch=batch, copies=len(ids), derived=len(derived))
        return start_removal(td, batch=batch, actor=actor, now=now)


def dismiss_copies(td: Takedown, item_ids: Iterable[uuid.UUID | str], *, reason: str, actor: User,
                   now: datetime) -> int:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise TakedownError("say why these are not copies")
    ids = [uuid.UUID(str(i)) for i in item_ids]
    with transaction.atomic():
        td = _locked(td)
        n = TakedownItem.objects.filter(takedown=td, item_id__in=ids, role=TakedownItem.Role.COPY,
                                        state=TakedownItem.State.LISTED).update(
            state=TakedownItem.State.DISMISSED, unblocked_at=now)
        _event(td, "copies_dismissed", actor=actor, now=now, count=n)
    return n


# --- notices ---------------------------------------------------------------------------------------------------


def _notice_once(td: Takedown, *, kind: str, party: str, key: str, template: str, to: str,
                 context: dict[str, Any], now: datetime) -> bool:
    """Queue a notice unless this exact one was queued before (a job run twice sends it once)."""
    if TakedownNotice.objects.filter(takedown=td, key=key).exists():
        return False
    message = emails.queue(template, to=to, context={"td": td, "base_url": settings.DSR_BASE_URL, **context},
                           now=now)
    TakedownNotice.objects.create(takedown=td, kind=kind, party=party, key=key, message=message, created_at=now)
    return True


def status_url(token: str) -> str:
    return f"{settings.DSR_BASE_URL}/takedown/r/{token}/"


def _notify_receipt(td: Takedown, *, now: datetime, missing: list[Missing], supplement: bool = False,
                    status_url: str = "") -> None:
    """The receipt with the request number at once, saying exactly what is missing, or when we will act by."""
    if not td.contact_email:
        return
    key = f"receipt:{'complete' if not missing else 'missing'}:{now.isoformat()}" if supplement else "receipt"
    zone = operator_zone()
    _notice_once(td, kind=TakedownNotice.Kind.RECEIPT if not missing else TakedownNotice.Kind.INCOMPLETE,
                 party="requester", key=key, template="takedown_receipt", to=td.contact_email,
                 context={"missing": missing, "supplement": supplement, "zone": zone, "status_url": status_url,
                          "due_local": shown(td.due_at, zone) if td.due_at else None}, now=now)


def notify_outcome(td: Takedown, *, now: datetime) -> bool:
    """The outcome to the requester (once): what was removed, or the refusal with its ground and reasons; either
    way the route to complain about the decision (DSA Art. 20, open six months) and the other redress."""
    if not td.contact_email or TakedownNotice.objects.filter(takedown=td, key="outcome").exists():
        return False
    complaint = _open_complaint_route(td, party=Complaint.Party.REQUESTER, party_ref="", now=now)
    removed = list(td.items.filter(state=TakedownItem.State.REMOVED).order_by("created_at"))
    return _notice_once(td, kind=TakedownNotice.Kind.OUTCOME, party="requester", key="outcome",
                        template="takedown_outcome", to=td.contact_email,
                        context={"removed": removed, "copies_removed": sum(1 for i in removed
                                                                           if i.role == TakedownItem.Role.COPY),
                                 "ground_label": RefusalGround(td.refusal_ground).label if td.refusal_ground else "",
                                 "complaint": complaint, "complaint_token": complaint._token,
                                 "zone": operator_zone()}, now=now)


def _open_complaint_route(td: Takedown, *, party: str, party_ref: str, now: datetime) -> Complaint:
    """DSA Art. 20: a complaint against the decision can be lodged for six months. The route is a secret link."""
    token = secrets.token_urlsafe(24)
    complaint = Complaint.objects.create(
        takedown=td, party=party, party_ref=party_ref, token_hash=_token_hash(token), opened_at=now,
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
    complaint = _open_complaint_route(td, party=Complaint.Party.UPLOADER, party_ref=subject.reference, now=now)
    automated = any(i.found_by in (TakedownItem.FoundBy.SWEEP, TakedownItem.FoundBy.REFERENCE,
                                   TakedownItem.FoundBy.REUPLOAD) for i in items)
    return _notice_once(td, kind=TakedownNotice.Kind.STATEMENT_OF_REASONS, party=f"uploader:{subject.reference}",
                        key=key, template="takedown_statement", to=subject.email,
                        context={"items": items, "automated": automated, "complaint": complaint,
                                 "complaint_token": complaint._token, "batch": batch}, now=now)


# --- complaints (DSA Art. 20) and abusive notifiers (Art. 23) ---------------------------------------------------


def complaint_by_token(token: str) -> Complaint | None:
    if not token or len(token) > 100:
        return None
    return Complaint.objects.select_related("takedown").filter(token_hash=_token_hash(token)).first()


def file_complaint(complaint: Complaint, *, text: str, now: datetime) -> Complaint:
    text = (text or "").strip()
    if len(text) < 10:
        raise TakedownError("explain why the decision should change (at least 10 characters)")
    if len(text) > 8000:
        raise TakedownError("the complaint is too long (at most 8000 characters)")
    with transaction.atomic():
        c = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if c.filed_at is not None:
            raise TakedownError("this complaint has already been lodged; you will hear the outcome")
        if now >= c.closes_at:
            raise TakedownError("the six months for a complaint against this decision have passed")
        c.filed_at, c.text = now, text
        c.save(update_fields=["filed_at", "text"])
        _event(c.takedown, "complaint_filed", actor=f"{c.party}:complaint", now=now, complaint=str(c.pk),
               party=c.party, subject_ref=c.party_ref)
    return c


def decide_complaint(complaint: Complaint, *, upheld: bool, reason: str, actor: User, now: datetime) -> Complaint:
    """Record the outcome and tell the complainant. An uploader's upheld complaint lifts the block-list entries
    (the deleted content itself cannot be restored: the notice says so); a requester's upheld complaint sends the
    request back for a new decision."""
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise TakedownError("give the reason for the outcome (at least 10 characters)")
    with transaction.atomic():
        c = Complaint.objects.select_for_update().select_related("takedown").get(pk=complaint.pk)
        if c.filed_at is None:
            raise TakedownError("no complaint has been lodged on this route")
        if c.decided_at is not None:
            raise TakedownError("this complaint has already been decided")
        c.outcome = Complaint.Outcome.UPHELD if upheld else Complaint.Outcome.REJECTED
        c.outcome_reason, c.decided_at, c.decided_by = reason, now, actor
        c.save(update_fields=["outcome", "outcome_reason", "decided_at", "decided_by"])
        td = _locked(c.takedown)
        if upheld and c.party == Complaint.Party.UPLOADER:
            td.blocked_hashes.filter(lifted_at__isnull=True).update(lifted_at=now)
        if upheld and c.party == Complaint.Party.REQUESTER and td.state == TakedownState.REFUSED:
            td.state, td.closed_at, td.evidence_until = TakedownState.UNDER_REVIEW, None, None
            td.decision_valid = None
            _save_clocks(td, hour_clocks.clocks_at_validity(now, intimate_claimed=td.intimate_claimed,
                                                            opts=clock_options()), now)
            _set_governing(td)
            td.save()
        _event(td, "complaint_decided", actor=actor, now=now, complaint=str(c.pk), party=c.party,
               outcome=c.outcome)
        to = td.contact_email if c.party == Complaint.Party.REQUESTER else (
            Subject.objects.filter(reference=c.party_ref).values_list("email", flat=True).first() or "")
        if to:
            _notice_once(td, kind=TakedownNotice.Kind.COMPLAINT_OUTCOME, party=c.party, key=f"complaint:{c.pk}",
                         template="takedown_complaint_outcome", to=to, context={"complaint": c}, now=now)
    return c


def mark_notifier_abusive(td: Takedown, *, reason: str, actor: User, now: datetime) -> Notifier:
    """DSA Art. 23: after repeated manifestly unfounded notices, this notifier's next requests are reviewed
    without the automatic block, for ``DSR_TAKEDOWN_ABUSE_DAYS``. Needs ``DSR_TAKEDOWN_ABUSE_THRESHOLD`` notices
    refused as manifestly unfounded, and a reason."""
    reason = (reason or "").strip()
    if len(reason) < 20:
        raise TakedownError("give the reason (at least 20 characters): the notifier may contest it")
    with transaction.atomic():
        if td.notifier_id is None:
            raise TakedownError("this request has no notifier address to mark")
        n = Notifier.objects.select_for_update().get(pk=td.notifier_id)
        threshold = settings.DSR_TAKEDOWN_ABUSE_THRESHOLD
        if n.manifestly_unfounded < threshold:
            raise TakedownError(f"a notifier is marked abusive only after {threshold} notices refused as manifestly "
                                f"unfounded; this one has {n.manifestly_unfounded}")
        n.abusive_since, n.abusive_until = now, now + timedelta(days=settings.DSR_TAKEDOWN_ABUSE_DAYS)
        n.abusive_reason, n.marked_by = reason, actor
        n.save(update_fields=["abusive_since", "abusive_until", "abusive_reason", "marked_by"])
        _event(td, "notifier_marked_abusive", actor=actor, now=now, notifier=n.pk, refused=n.manifestly_unfounded,
               until=n.abusive_until.isoformat())
    return n


def lift_notifier_abuse(td: Takedown, *, actor: User, now: datetime) -> None:
    with transaction.atomic():
        updated = Notifier.objects.filter(pk=td.notifier_id, abusive_since__isnull=False).update(
            abusive_until=now)
        if not updated:
            raise TakedownError("this notifier is not marked abusive")
        _event(td, "notifier_abuse_lifted", actor=actor, now=now, notifier=td.notifier_id)


def withdraw_takedown(td: Takedown, *, actor: Actor, now: datetime) -> Takedown:
    with transaction.atomic():
        td = _locked(td)
        if td.state not in (TakedownState.INCOMPLETE, TakedownState.UNDER_REVIEW):
            raise TakedownError(f"request {td.number} can no longer be withdrawn")
        TakedownItem.objects.filter(takedown=td, blocked_at__isnull=False, unblocked_at__isnull=True).update(
            unblocked_at=now, state=TakedownItem.State.KEPT)
        TakedownClock.objects.filter(takedown=td, superseded_at__isnull=True, met_at__isnull=True).update(
            superseded_at=now)
        td.state, td.closed_at = TakedownState.WITHDRAWN, now
        td.evidence_until = now + timedelta(days=settings.DSR_TAKEDOWN_EVIDENCE_DAYS)
        _set_governing(td)
        td.save()
        _event(td, "withdrawn", actor=actor, now=now)
    return td


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
                    context = {"td": td, "hours": hours, "due_local": shown(td.due_at),
                               "base_url": settings.DSR_BASE_URL}
                    for address in addresses:
                        emails.queue("takedown_escalation", to=address, context=context, now=now)
                    _event(td, "escalated", actor=ACTOR, now=now, hours_before=hours, due_at=td.due_at.isoformat(),
                           recipients=len(addresses))
                    sent += 1
            except IntegrityError:  # another worker sent it
                continue
    return sent


# --- the end of the evidence period ----------------------------------------------------------------------------


def end_evidence_periods(*, now: datetime, actor: str = ACTOR) -> int:
    """Past the evidence period: the reference image is shredded, and the requester's words and contact are
    blanked; the number, the instants, the decision, the clocks, the items and their hashes stay."""
    done = 0
    for td in Takedown.objects.filter(evidence_until__lte=now, anonymised_at__isnull=True)[:200]:
        shred_reference(td, why="evidence_period_ended", actor=actor, now=now)
        with transaction.atomic():
            locked = _locked(td)
            if locked.anonymised_at is not None:
                continue
            for name in ("signature_name", "acting_for", "authority", "location_details", "good_faith_statement",
                         "contact_email", "contact_phone"):
                setattr(locked, name, "")
            locked.links, locked.anonymised_at, locked.access_hash = [], now, ""
            locked.save()
            Complaint.objects.filter(takedown=locked).update(text="")
            _event(locked, "anonymised", actor=actor, now=now)
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
    notifier = Notifier.objects.filter(key=_notifier_key(subject.email)).count() if subject.email else 0
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
    shredded = sum(int(shred_reference(td, why="subject_erased", actor=ACTOR, now=now))
                   for td in _subject_takedowns(subject))
    return {"reference_images_shredded": shredded}
