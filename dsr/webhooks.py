"""Signed webhooks to downstream recipients (GDPR Art. 19, CCPA §7022(b)(3)) and their signed confirmations.

Every request, both ways, carries:

    X-DSR-Timestamp:  Unix seconds when it was signed
    X-DSR-Signature:  v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>
    X-DSR-Delivery:   the notice id (the same on every retry: a receiver de-duplicates on it)
    X-DSR-Event:      "erasure.requested" (to the recipient) / "erasure.confirmed" (back to dsr)

The secret is per recipient (32 random bytes, shared as base64url), stored wrapped by the key ring and shown once
by ``manage.py recipient_webhook``. A signature older or newer than ``DSR_WEBHOOK_TOLERANCE_SECONDS`` (default
300) is refused, so a captured request cannot be replayed later. Bodies hold ids and categories only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from dsr import audit, crypto
from dsr.keys import get_keyring
from dsr.models import Recipient

HEADER_TIMESTAMP = "X-DSR-Timestamp"
HEADER_SIGNATURE = "X-DSR-Signature"
HEADER_DELIVERY = "X-DSR-Delivery"
HEADER_EVENT = "X-DSR-Event"
EVENT_REQUESTED = "erasure.requested"
EVENT_CONFIRMED = "erasure.confirmed"
SCHEME = "v1"


class WebhookError(Exception):
    """A refused or failed webhook; the message names the kind of failure only."""


class BadSignature(WebhookError):
    pass


class DeliveryFailed(WebhookError):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _context(recipient_id: int) -> bytes:
    return f"dsr-recipient-webhook-v1|recipient:{recipient_id}".encode()


def set_webhook(recipient: Recipient, *, url: str | None, new_secret: bool, actor: str, now: datetime) -> str | None:
    """Set a recipient's webhook URL and/or a fresh secret; returns the new secret (shown once) or None."""
    secret_text = None
    with transaction.atomic():
        locked = Recipient.objects.select_for_update().get(pk=recipient.pk)
        fields = []
        if url is not None:
            if url and not url.startswith(("https://", "http://")):
                raise WebhookError("the webhook URL must be http(s)")
            locked.webhook_url = url
            fields.append("webhook_url")
        if new_secret or (locked.webhook_url and not locked.webhook_secret):
            raw = crypto.new_data_key()
            locked.webhook_secret = get_keyring().wrap(raw, context=_context(locked.pk))
            secret_text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            fields.append("webhook_secret")
        locked.save(update_fields=fields)
        audit.record("recipient.webhook_set", actor=actor, now=now, object_type="recipient", object_id=locked.pk,
                     data={"url_set": bool(locked.webhook_url), "secret_rotated": secret_text is not None})
    recipient.webhook_url, recipient.webhook_secret = locked.webhook_url, locked.webhook_secret
    return secret_text


def secret_of(recipient: Recipient) -> bytes:
    if not recipient.webhook_secret:
        raise WebhookError("this recipient has no webhook secret")
    return get_keyring().unwrap(recipient.webhook_secret, context=_context(recipient.pk))


def decode_secret(text: str) -> bytes:
    """The secret as a recipient holds it (base64url) → bytes (for receivers and tests)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signature(secret: bytes, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={mac}"


def signed_headers(secret: bytes, body: bytes, *, delivery: str, event: str, now: datetime) -> dict[str, str]:
    ts = int(now.timestamp())
    return {"Content-Type": "application/json", HEADER_TIMESTAMP: str(ts),
            HEADER_SIGNATURE: signature(secret, ts, body), HEADER_DELIVERY: delivery, HEADER_EVENT: event}


def verify(secret: bytes, *, timestamp: str | None, signature_header: str | None, body: bytes, now: datetime) -> None:
    """Raise BadSignature unless the signature is ours and fresh (inside the replay window)."""
    if not timestamp or not signature_header or not timestamp.isascii() or not timestamp.isdigit():
        raise BadSignature("missing or malformed signature headers")
    tolerance = int(getattr(settings, "DSR_WEBHOOK_TOLERANCE_SECONDS", 300))
    if abs(now.timestamp() - int(timestamp)) > tolerance:
        raise BadSignature("the signature timestamp is outside the replay window")
    expected = signature(secret, timestamp, body)
    offered = [part.strip() for part in signature_header.split(",")]
    if not any(hmac.compare_digest(expected, o) for o in offered):
        raise BadSignature("the signature does not match")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a 3xx is an answer, not an invitation
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST and return the status; raise DeliveryFailed(kind) on a non-2xx answer or a network failure."""
    timeout = float(getattr(settings, "DSR_WEBHOOK_TIMEOUT_SECONDS", 10))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"unreachable ({type(reason).__name__})"[:80]) from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"HTTP {status}")
    return status


def notice_body(*, notice_id: uuid.UUID, erasure_id: uuid.UUID, scope: str, subject_id: str | None,
                item_ids: list[str], categories: list[str], requested_at: datetime, callback_url: str) -> bytes:
    """What a recipient is told: which subject or items to erase, never who asked or why."""
    return json.dumps({
        "event": EVENT_REQUESTED,
        "notice_id": str(notice_id),
        "erasure_id": str(erasure_id),
        "scope": scope,
        "subject_id": subject_id,
        "item_ids": item_ids,
        "categories": categories,
        "requested_at": requested_at.isoformat().replace("+00:00", "Z"),
        "confirm_url": callback_url,
    }, separators=(",", ":")).encode()
