"""Receiving a takedown request (issue 13; takedown.md "What a valid request holds"): the four elements as
filed on the portal or through the API, checked for form (bad input changes nothing), exactly what is missing,
the request number at once, the requester's reference image (hashed, then sealed under a key of the request and
shredded when the evidence period ends), additions through the private status link, and — when the requester asks
— an erasure case for their own data beside the takedown. Once nothing is missing, dsr/takedowns.py takes over
(``become_valid``: the clocks start and the depiction is blocked)."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from dsr import crypto, images, keys, perceptual, storage, takedown_notices, takedowns, workflow
from dsr.models import Subject
from dsr.models.takedowns import FiledAs, Notifier, Takedown, TakedownChannel, TakedownState
from dsr.models.vault import normalise_email
from dsr.perceptual import Hash

Actor = User | str


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
        raise takedowns.TakedownError(f"{what} is too long (at most {limit} characters)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from JSON's \\ud800
        raise takedowns.TakedownError(f"{what} contains a character that is not allowed") from exc
    if "\x00" in value:
        raise takedowns.TakedownError(f"{what} contains a character that is not allowed")
    return value


def _check_formats(f: Filing) -> Filing:
    """Bad input is refused with a clear message and nothing is stored; absent elements are not errors (they make
    the request incomplete, and the requester is told exactly what is missing)."""
    if f.filed_as not in FiledAs.values:
        raise takedowns.TakedownError("say whether you are the person depicted or someone authorized to act for them")
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
        raise takedowns.TakedownError(f"give at most {MAX_REFS} item ids and {MAX_REFS} links per request")
    for ref in refs:
        try:
            out.item_refs.append(str(uuid.UUID(ref)))
        except ValueError as exc:
            raise takedowns.TakedownError("an item id must look like 123e4567-e89b-12d3-a456-426614174000") from exc
    for link in links:
        try:
            parts = urlsplit(_clean_text(link, "a link", 2000))
        except ValueError as exc:
            raise takedowns.TakedownError("a link must be a full web address starting with https://") from exc
        if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > 2000:
            raise takedowns.TakedownError("a link must be a full web address starting with https://")
        out.links.append(link)
    if f.contact_email and f.contact_email.strip():
        try:
            out.contact_email = normalise_email(f.contact_email)
        except ValueError as exc:
            raise takedowns.TakedownError("the e-mail address is not valid") from exc
    if out.contact_phone and not _PHONE.match(out.contact_phone):
        raise takedowns.TakedownError("the phone number may hold only digits, spaces and + ( ) . / -")
    if out.also_erase_own_data and not out.contact_email:
        raise takedowns.TakedownError("to have your own data erased too, give an e-mail address we can reach you at")
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


def notifier_key(email: str) -> str:
    return hmac.new(keys.pseudonym_key(), b"notifier|" + email.encode(), hashlib.sha256).hexdigest()


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
        raise takedowns.TakedownError(f"the uploaded copy was not accepted: {exc.message}") from exc
    ring = keys.get_keyring()
    key = crypto.new_data_key()
    written = storage.write_sealed(key, io.BytesIO(clean.data), aad=_ref_aad(takedown_id))
    assert clean.pdq is not None
    return _Reference(ring.wrap(key, context=_ref_context(takedown_id)), written.name, clean.content_type, clean.pdq)


def open_reference(td: Takedown) -> bytes:
    """The reference image, decrypted (for the operator reviewing the request)."""
    if not td.has_reference or not td.ref_key_wrapped:
        raise takedowns.TakedownError("this request has no reference image (none was given, or it has been shredded)")
    key = keys.get_keyring().unwrap(td.ref_key_wrapped, context=_ref_context(td.pk))
    return b"".join(storage.read_sealed(key, td.ref_blob_name, aad=_ref_aad(td.pk)))


def shred_reference(td: Takedown, *, why: str, actor: Actor, now: datetime) -> bool:
    """Destroy the reference image's key and delete its blob (its hash stays: it locates copies). Idempotent."""
    with transaction.atomic():
        td = takedowns.lock_for_update(td)
        if td.ref_shredded_at is not None or not td.ref_blob_name:
            return False
        blob = td.ref_blob_name
        td.ref_key_wrapped, td.ref_shredded_at = "", now
        td.save(update_fields=["ref_key_wrapped", "ref_shredded_at"])
        takedowns.record_event(td, "reference_shredded", actor=actor, now=now, why=why[:40])
        transaction.on_commit(lambda: storage.delete_blob(blob))
    return True


# --- filing ---------------------------------------------------------------------------------------------------


def file_takedown(filing: Filing, *, channel: str, actor: Actor, now: datetime,
                  idempotency_key: str | None = None, language: str = "en") -> tuple[Takedown, bool, str]:
    """Receive a request, complete or not. Steps: check formats (bad input changes nothing); sanitise, hash and
    seal the reference image under the request's own key; store the four elements as received with a request
    number; write ``takedown.received``; queue the receipt (number, and what is missing) to the contact address;
    if every element is there, the request is valid now (``_become_valid``: clocks start, depiction blocked); if
    asked, open an erasure case for the person's own data. Returns (takedown, created, status token); a repeated
    idempotency key returns the first request (and no token). ``language`` is the one the requester filed in (the
    portal's; English through the API): every e-mail to the requester is written in it."""
    if channel not in TakedownChannel.values:
        raise takedowns.TakedownError("unknown channel")
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
                notifier, _new = Notifier.objects.get_or_create(key=notifier_key(f.contact_email),
                                                             defaults={"created_at": now})
            td = Takedown.objects.create(
                id=takedown_id, number=new_number(), channel=channel, received_at=now, created_at=now,
                idempotency_key=idempotency_key or None, access_hash=takedowns.token_hash(token),
                signature_name=f.signature_name, signature_attested_at=now if f.signature_attested else None,
                filed_as=f.filed_as, acting_for=f.acting_for, authority=f.authority, item_refs=f.item_refs,
                links=f.links, location_details=f.location_details, good_faith_statement=f.good_faith_statement,
                good_faith_confirmed_at=now if f.good_faith_confirmed else None, contact_email=f.contact_email,
                contact_phone=f.contact_phone, intimate_claimed=f.intimate, minor_suspected=f.minor,
                notifier=notifier, review_only=bool(notifier and notifier.is_abusive(now)),
                language=language if language in {c for c, _n in settings.LANGUAGES} else "en",
                ref_key_wrapped=ref.wrapped if ref else "", ref_blob_name=ref.blob_name if ref else "",
                ref_content_type=ref.content_type if ref else "", ref_pdq=ref.pdq.hex if ref else "",
                ref_quality=ref.pdq.quality if ref else None,
            )
            missing = missing_elements(td)
            takedowns.record_event(td, "received", actor=actor, now=now, channel=channel, filed_as=f.filed_as,
                   elements=[e for e in ELEMENTS if e not in {m.element for m in missing}],
                   intimate_claimed=f.intimate, minor_suspected=f.minor, reference_image=bool(ref),
                   review_only=td.review_only)
            if not missing:
                takedowns.become_valid(td, now=now, note="complete when received", actor=actor)
            takedown_notices.notify_receipt(td, now=now, missing=missing,
                                            status_url=takedown_notices.status_url(token) if missing else "")
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
            td = takedowns.lock_for_update(td)
            if td.state != TakedownState.INCOMPLETE:
                raise takedowns.TakedownError(f"request {td.number} is already complete; nothing needs adding")
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
                td.notifier, _new = Notifier.objects.get_or_create(key=notifier_key(td.contact_email),
                                                                defaults={"created_at": now})
            td.save()
            if old_blob:
                transaction.on_commit(lambda: storage.delete_blob(old_blob))
            missing = missing_elements(td)
            added = sorted(before - {m.field for m in missing})
            takedowns.record_event(td, "supplemented", actor=actor, now=now, added=added,
                         still_missing=[m.field for m in missing])
            if not missing:
                takedowns.become_valid(td, now=now, actor=actor, note=f"completed on {now:%Y-%m-%d %H:%M} UTC: "
                              + ", ".join(added)[:200])
            takedown_notices.notify_receipt(td, now=now, missing=missing, supplement=True)
    except BaseException:
        if ref:
            storage.delete_blob(ref.blob_name)
        raise
    return td


def find_by_token(token: str) -> Takedown | None:
    if not token or len(token) > 100:
        return None
    return Takedown.objects.filter(access_hash=takedowns.token_hash(token)).first()


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
    takedowns.record_event(td, "erasure_opened", actor=actor, now=now, subject_ref=subject.reference, case=str(case.pk))
