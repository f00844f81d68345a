"""The platform's JSON API under /api/v1/ (issue 2 §5). Views parse, call one verb, answer."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404

from dsr import copies, images, perceptual, residence, takedowns, vault
from dsr.bodylimit import MULTIPART_SLACK
from dsr.keys import AuditKeyUnavailable, KeyRingUnavailable
from dsr.models import Consent, DataCategory, DataItem, Holding, ProcessingActivity, Subject
from dsr.views.apiutil import (
    ApiError,
    actor_of,
    api_view,
    json_body,
    optional_str,
    parse_instant,
    parse_uuid,
)
from dsr.views.openapi import DERIVED_CONTENT_TYPES

# Content up to this size is authenticated in full before it is sent (memory: one copy per request).
VERIFY_BEFORE_SENDING = 16 * 1024 * 1024

DERIVED_CATEGORIES = {c.value for c in DataCategory} - {DataCategory.PHOTO}


def subject_json(subject: Subject) -> dict[str, Any]:
    return {
        "id": str(subject.pk),
        "reference": subject.reference,
        "kind": subject.kind,
        "account_id": subject.account_id,
        "created_at": subject.created_at.isoformat(),
        "erased": subject.is_erased,
        "residence": subject.residence or None,
    }


def items_json(items: list[DataItem]) -> list[dict[str, Any]]:
    """Item JSON for many items; their sealed metadata is opened in one pass (one unwrap per subject)."""
    metas = _vault_call(vault.item_metadata, items)
    return [item_json(i, metas[i.pk]) for i in items]


def item_json(item: DataItem, meta: vault.ItemMeta | None = None) -> dict[str, Any]:
    """``source`` and ``attributes`` are sealed under the item key: shown while every holder's key lives,
    null once one is destroyed (``metadata``: "erased") or the item was purged ("purged")."""
    if meta is None:
        meta = _vault_call(vault.item_metadata, [item])[item.pk]
    holders = list(item.holders.all())
    return {
        "id": str(item.pk),
        "category": item.category,
        "purpose": item.purpose,
        "source": meta.source,
        "metadata": meta.state,
        "created_at": item.created_at.isoformat(),
        "expires_at": item.expires_at.isoformat() if item.expires_at else None,
        "purged_at": item.purged_at.isoformat() if item.purged_at else None,
        "content_type": item.content_type or None,
        "size": item.size if item.has_content else None,
        "subjects": [{"id": str(h.subject_id), "role": h.role} for h in holders],
        "derived_from": [str(link.parent_id) for link in item.parent_links.all()],
        "attributes": meta.attributes,
    }


def _get_subject(subject_id: str) -> Subject:
    return get_object_or_404(Subject, pk=parse_uuid(subject_id, "subject"))


def _load_subject(value: Any, field: str) -> Subject:
    subject = Subject.objects.filter(pk=parse_uuid(value, field)).first()
    if subject is None:
        raise ApiError(422, "unknown_reference", f"no subject with that '{field}'", field=field)
    return subject


def _vault_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except vault.WritesBlocked as exc:
        raise ApiError(409, "writes_blocked", str(exc)) from exc
    except vault.KeyDestroyed as exc:
        raise ApiError(410, "erased", "this content has been erased") from exc
    except vault.IdentifierConflict as exc:
        raise ApiError(409, "identifier_conflict", str(exc)) from exc
    except vault.ContentUnavailable as exc:
        raise _content_error(exc) from exc
    except (vault.VaultError, ValueError) as exc:
        raise ApiError(400, "invalid_request", str(exc)) from exc
    except (KeyRingUnavailable, AuditKeyUnavailable) as exc:
        # Fail closed: nothing was written. The reason names a setting, never data.
        raise ApiError(503, "key_unavailable", "a key this server needs is not configured; nothing was stored") from exc
    except OSError as exc:
        # Blob storage refused the write (disk full, volume gone); the row was not committed and the orphan
        # sweep removes any partial blob.
        raise ApiError(503, "storage_unavailable", "storage failed; nothing was stored; try again later") from exc


def _content_error(exc: vault.ContentUnavailable) -> ApiError:
    """Stored content that cannot be read back is the server's fault, answered as documented JSON."""
    if isinstance(exc, vault.KeyUnavailable):
        return ApiError(503, "key_unavailable", "the key that protects this content is not configured "
                        "on this server; an operator must restore it to the key ring")
    if isinstance(exc, vault.ContentCorrupt):
        return ApiError(502, "integrity_failed", "the stored content failed its integrity check and is not served")
    return ApiError(502, "content_missing", "the stored content could not be read from storage")


# --- subjects -------------------------------------------------------------------------------------


@api_view({"POST"}, scope="vault:write")
def subjects(request: HttpRequest) -> HttpResponse:
    """Create a subject, or return the existing one with the same identifier (idempotent)."""
    body = json_body(request)
    email = optional_str(body, "email")
    account_id = optional_str(body, "account_id", 128, strip=False)
    kind = body.get("kind", Subject.Kind.ACCOUNT_HOLDER)
    if kind not in Subject.Kind.values:
        raise ApiError(400, "invalid_field", f"'kind' must be one of {', '.join(Subject.Kind.values)}", field="kind")
    if not email and not account_id:
        raise ApiError(400, "invalid_request", "give 'email' or 'account_id'")
    where = None
    if body.get("residence") is not None:
        try:
            where = residence.normalise(body["residence"])
        except ValueError as exc:
            raise ApiError(422, "invalid_residence", f"'residence': {exc}", field="residence") from exc
    with transaction.atomic():  # the subject and where it lives, or nothing
        subject, created = _vault_call(
            vault.find_or_create_subject,
            actor=actor_of(request),
            now=request.now,
            email=email,
            account_id=account_id,
            kind=kind,
        )
        if where is not None:
            _vault_call(vault.set_residence, subject, where, actor=actor_of(request), now=request.now)
    return JsonResponse(subject_json(subject), status=201 if created else 200)


@api_view({"POST"}, scope="vault:read")
def subject_lookup(request: HttpRequest) -> HttpResponse:
    """Find by identifier. A POST, so e-mail addresses never appear in URLs or access logs."""
    body = json_body(request)
    email = optional_str(body, "email")
    account_id = optional_str(body, "account_id", 128, strip=False)
    if not email and not account_id:
        raise ApiError(400, "invalid_request", "give 'email' or 'account_id'")
    try:
        found = list(Subject.objects.by_identifier(email=email, account_id=account_id)[:2])
    except ValueError as exc:
        raise ApiError(400, "invalid_field", str(exc), field="email") from exc
    if len(found) != 1:
        raise ApiError(404, "not_found", "no single subject matches")
    return JsonResponse(subject_json(found[0]))


@api_view({"GET"}, scope="vault:read")
def subject_detail(request: HttpRequest, subject_id: str) -> HttpResponse:
    return JsonResponse(subject_json(_get_subject(subject_id)))


@api_view({"GET"}, scope="vault:read")
def subject_holdings(request: HttpRequest, subject_id: str) -> HttpResponse:
    subject = _get_subject(subject_id)
    items = vault.holdings(subject)
    derived = vault.derived_from_subject(subject)
    return JsonResponse(
        {
            "subject": subject_json(subject),
            "items": items_json(items),
            "derived_item_ids": [str(i.pk) for i in derived],
        }
    )


@api_view({"GET"}, scope="vault:read")
def processing_check(request: HttpRequest, subject_id: str) -> HttpResponse:
    subject = _get_subject(subject_id)
    if not request.GET.get("purpose"):
        raise ApiError(400, "invalid_request", "give '?purpose=<purpose>' (see the processing register)")
    purpose = _purpose(request.GET["purpose"])
    item = None
    if "item" in request.GET:
        item = DataItem.objects.filter(pk=parse_uuid(request.GET["item"], "item")).first()
        if item is None or not item.holders.filter(subject=subject).exists():
            raise ApiError(422, "unknown_reference", "no such item of this subject", field="item")
    decision = vault.processing_allowed(subject, purpose, now=request.now, item=item)
    return JsonResponse(
        {
            "subject": str(subject.pk),
            "purpose": purpose,
            "item": str(item.pk) if item else None,
            "allowed": decision.allowed,
            "legal_basis": decision.legal_basis or None,
            "reasons": decision.reasons,
            "checked_at": request.now.isoformat(),
        }
    )


# --- items ----------------------------------------------------------------------------------------


def _image_limits() -> images.ImageLimits:
    return images.ImageLimits(max_bytes=settings.DSR_UPLOAD_MAX_BYTES, max_pixels=settings.DSR_UPLOAD_MAX_PIXELS)


def _purpose(value: Any, default: str | None = None) -> str:
    purpose = value or default
    if not isinstance(purpose, str) or not ProcessingActivity.objects.filter(purpose=purpose).exists():
        raise ApiError(400, "invalid_field", "'purpose' must name an activity in the processing register",
                       field="purpose")
    return purpose


def _subject_list(values: list[str], field: str) -> list[Subject]:
    ids = [parse_uuid(v, field) for v in values]
    found = {s.pk: s for s in Subject.objects.filter(pk__in=ids)}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ApiError(422, "unknown_reference", f"unknown subject in '{field}'", field=field)
    return [found[i] for i in ids]


@api_view({"POST"}, scope="vault:write", max_body=lambda: settings.DSR_UPLOAD_MAX_BYTES + MULTIPART_SLACK)
def upload_photo(request: HttpRequest, subject_id: str) -> HttpResponse:
    """Upload a photo of (or by) a subject: checked, re-encoded from pixels, stripped, encrypted."""
    subject = _get_subject(subject_id)
    upload = request.FILES.get("file")
    if upload is None:
        raise ApiError(400, "missing_file", "send the photo as multipart form field 'file'")
    depicted = _subject_list(request.POST.getlist("depicted"), "depicted")
    purpose = _purpose(request.POST.get("purpose"), "photo_generation")
    try:
        clean = images.sanitise_image(upload, _image_limits(), hash_pixels=perceptual.hash_image)
    except images.RejectedUpload as exc:
        # 422, not 415: the request's media type (multipart) is right; the file in it is not acceptable.
        status = 413 if exc.code == "too_large" else 422
        raise ApiError(status, exc.code, exc.message) from exc
    hashes = [perceptual.FrameHash(0, clean.pdq)] if clean.pdq else []
    _refuse_blocked(request, hashes, route="photo_upload", uploader=subject)
    holders = [(subject, Holding.Role.OWNER)] + [(d, Holding.Role.DEPICTED) for d in depicted if d.pk != subject.pk]
    with transaction.atomic():
        item = _vault_call(
            vault.store_item,
            vault.NewItem(
                category=DataCategory.PHOTO,
                purpose=purpose,
                holders=holders,
                content=clean.data,
                content_type=clean.content_type,
                source="upload",
                attributes={"width": clean.width, "height": clean.height, "format": clean.format},
            ),
            actor=actor_of(request),
            now=request.now,
        )
        copies.record_hashes(item, hashes, now=request.now)
    return JsonResponse(item_json(item), status=201)


def _refuse_blocked(request: HttpRequest, hashes: list[perceptual.FrameHash], *, route: str,
                    uploader: Subject | None) -> None:
    """451 for content matching the takedown block list; the refusal is recorded on the takedown first."""
    try:
        copies.refuse_if_blocked([f.hash for f in hashes], actor=actor_of(request), now=request.now, route=route,
                                 uploader_ref=uploader.reference if uploader else "")
    except copies.BlockedUpload as exc:
        raise ApiError(451, exc.code, str(exc), reason="removed_after_takedown") from exc


def _ingest_hashes(content: Any, content_type: str) -> list[perceptual.FrameHash] | None:
    """Hashes of a registered picture, taken now (None: hash it later in a job, or not at all). A picture the
    hasher cannot read is stored unhashed: derived items are the platform's own output, not hostile uploads."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if content is None or kind not in perceptual.IMAGE_TYPES:
        return None
    if isinstance(content, bytes | bytearray):
        data = bytes(content)
    else:
        if (content.size or 0) > copies.HASHABLE_INLINE_BYTES:
            return None
        data = content.read()
        content.seek(0)
    try:
        return perceptual.hash_content(data, kind)
    except perceptual.NotHashable:
        return []


@api_view({"POST"}, scope="vault:write", max_body=lambda: settings.DSR_DERIVED_MAX_BYTES + MULTIPART_SLACK)
def register_item(request: HttpRequest) -> HttpResponse:
    """Register a derived item (embedding, thumbnail, generated video, metadata…) with its lineage.

    multipart: fields category, purpose, derived_from (repeatable), subjects (repeatable, optional),
    attributes (JSON object), and file ``file``; or JSON with ``content_base64`` for small items.
    """
    if (request.content_type or "").startswith("application/json"):
        body = json_body(request)
        fields = body
        parents_raw = body.get("derived_from") or []
        subjects_raw = body.get("subjects") or []
        content: Any = None
        if body.get("content_base64") is not None:
            try:
                content = base64.b64decode(body["content_base64"], validate=True)
            except (binascii.Error, TypeError, ValueError) as exc:
                raise ApiError(400, "invalid_field", "'content_base64' is not base64", field="content_base64") from exc
        attributes = body.get("attributes") or {}
        content_type = optional_str(body, "content_type", 100) or "application/octet-stream"
    else:
        fields = request.POST
        parents_raw = request.POST.getlist("derived_from")
        subjects_raw = request.POST.getlist("subjects")
        upload = request.FILES.get("file")
        content = upload
        if upload is not None and upload.size > settings.DSR_DERIVED_MAX_BYTES:
            raise ApiError(413, "too_large", "the file is larger than the configured limit")
        try:
            attributes = json.loads(request.POST.get("attributes") or "{}")
        except ValueError as exc:
            raise ApiError(422, "invalid_field", "'attributes' must be a JSON object", field="attributes") from exc
        if not isinstance(attributes, dict):
            raise ApiError(422, "invalid_field", "'attributes' must be a JSON object", field="attributes")
        content_type = (upload.content_type if upload else "") or "application/octet-stream"
        if content_type not in DERIVED_CONTENT_TYPES:
            raise ApiError(422, "unsupported_content_type", "the file's content type must be one of "
                           + ", ".join(DERIVED_CONTENT_TYPES), field="file")
    if not isinstance(parents_raw, list) or not isinstance(subjects_raw, list):
        raise ApiError(400, "invalid_field", "'derived_from' and 'subjects' must be lists")
    if not isinstance(attributes, dict):
        raise ApiError(400, "invalid_field", "'attributes' must be a JSON object", field="attributes")
    if content_type not in DERIVED_CONTENT_TYPES:
        raise ApiError(400, "invalid_field", "'content_type' must be one of " + ", ".join(DERIVED_CONTENT_TYPES),
                       field="content_type")
    category = fields.get("category")
    if not isinstance(category, str) or category not in DERIVED_CATEGORIES:
        raise ApiError(400, "invalid_field", f"'category' must be one of {', '.join(sorted(DERIVED_CATEGORIES))}"
                       " (photos go through the photo upload)", field="category")
    purpose = _purpose(fields.get("purpose"))
    parent_ids = [parse_uuid(p, "derived_from") for p in parents_raw]
    parents = list(DataItem.objects.filter(pk__in=parent_ids))
    if len(parents) != len(set(parent_ids)):
        raise ApiError(422, "unknown_reference", "unknown item in 'derived_from'", field="derived_from")
    extra = _subject_list([str(s) for s in subjects_raw], "subjects")
    if not parents and not extra:
        raise ApiError(400, "invalid_request", "give 'derived_from' items or 'subjects'")
    hashes = _ingest_hashes(content, content_type)
    if hashes:
        _refuse_blocked(request, hashes, route="item_register", uploader=extra[0] if extra else None)
    with transaction.atomic():
        item = _vault_call(
            vault.store_item,
            vault.NewItem(
                category=category,
                purpose=purpose,
                holders=[(s, Holding.Role.OWNER) for s in extra],
                content=content,
                content_type=content_type,
                source=optional_str(fields, "source", 64) or "platform",
                derived_from=parents,
                attributes=attributes,
            ),
            actor=actor_of(request),
            now=request.now,
        )
        if hashes:
            copies.record_hashes(item, hashes, now=request.now)
        elif hashes is None and content is not None and content_type.split(";")[0].strip().lower().startswith(
                ("video/", "image/")):
            copies.enqueue_hashing(item.pk)
    return JsonResponse(item_json(item), status=201)


def _get_item(item_id: str) -> DataItem:
    return get_object_or_404(
        DataItem.objects.prefetch_related("holders", "parent_links"), pk=parse_uuid(item_id, "item")
    )


@api_view({"GET"}, scope="vault:read")
def item_detail(request: HttpRequest, item_id: str) -> HttpResponse:
    return JsonResponse(item_json(_get_item(item_id)))


@api_view({"GET"}, scope="content:read")
def item_content(request: HttpRequest, item_id: str) -> HttpResponse:
    """Decrypted content; always an attachment, never rendered inline.

    Items up to VERIFY_BEFORE_SENDING bytes are decrypted and authenticated in full before the first byte
    goes out, so a tampered blob is a JSON error, never a 200 (``X-Content-Integrity: verified``). Larger
    items are streamed, each chunk authenticated before it is sent (``X-Content-Integrity: streamed``):
    if a later chunk fails, the connection is cut, so the body is shorter than ``Content-Length`` (the
    plaintext size) — clients must treat a short body as a failed download (curl, urllib3 and browsers
    report it)."""
    item = _get_item(item_id)
    if item.purged_at is not None or not item.has_content:
        raise ApiError(410, "gone", "this item has no content (deleted or never had any)")
    if takedowns.is_blocked(item.pk):
        raise ApiError(451, "blocked_pending_takedown", "this content is blocked while a takedown request about it "
                       "is reviewed", reason="takedown_review")
    content_type = item.content_type or "application/octet-stream"
    stream = _vault_call(vault.open_item, item)
    if item.size <= VERIFY_BEFORE_SENDING:
        verified = _vault_call(b"".join, stream)
        response = StreamingHttpResponse([verified], content_type=content_type)
        response["X-Content-Integrity"] = "verified"
    else:
        first = _vault_call(next, stream, b"")  # key, blob and first chunk checked before the 200 goes out

        def body():
            yield first
            yield from stream  # a failure here raises inside the server, which aborts the connection

        response = StreamingHttpResponse(body(), content_type=content_type)
        response["X-Content-Integrity"] = "streamed"
    response["Content-Length"] = str(item.size)
    response["Content-Disposition"] = f'attachment; filename="{item.pk}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@api_view({"GET"}, scope="vault:read")
def item_derived(request: HttpRequest, item_id: str) -> HttpResponse:
    item = _get_item(item_id)
    return JsonResponse({"item": str(item.pk), "derived": items_json(vault.derived_items([item]))})


# --- consent --------------------------------------------------------------------------------------


def consent_json(consent: Consent) -> dict[str, Any]:
    return {
        "id": str(consent.pk),
        "subject": str(consent.subject_id),
        "item": str(consent.item_id) if consent.item_id else None,
        "purpose": consent.purpose,
        "granted_at": consent.granted_at.isoformat(),
        "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
        "method": consent.method,
        "notice_version": consent.notice_version,
    }


@api_view({"POST"}, scope="vault:write")
def consents(request: HttpRequest) -> HttpResponse:
    """Record one person's consent (e.g. each person depicted in a photo) for a purpose."""
    body = json_body(request)
    subject = _load_subject(body.get("subject"), "subject")
    item = None
    if body.get("item"):
        item = DataItem.objects.filter(pk=parse_uuid(body["item"], "item")).first()
        if item is None:
            raise ApiError(422, "unknown_reference", "no such item", field="item")
    purpose = _purpose(body.get("purpose"))
    granted_at = parse_instant(body.get("granted_at"), "granted_at") if body.get("granted_at") else request.now
    consent = _vault_call(
        vault.record_consent,
        subject,
        purpose=purpose,
        granted_at=granted_at,
        item=item,
        method=optional_str(body, "method", 64) or "in_app",
        notice_version=optional_str(body, "notice_version", 64) or "",
        actor=actor_of(request),
        now=request.now,
    )
    return JsonResponse(consent_json(consent), status=201)


@api_view({"POST"}, scope="vault:write")
def consent_withdraw(request: HttpRequest, consent_id: str) -> HttpResponse:
    """G-CW: takes effect at once; derived items that relied on the consent (a face embedding, the videos made
    from it) are erased through the erasure cascade, as the register promises (dsr/processing.py)."""
    from dsr import processing

    consent = get_object_or_404(Consent.objects.select_related("subject"), pk=parse_uuid(consent_id, "consent"))
    run = processing.withdraw_consent(consent, actor=actor_of(request), now=request.now)
    consent.refresh_from_db()
    return JsonResponse({**consent_json(consent), "erasure_run": str(run.pk) if run else None})
