"""Signed callbacks from downstream recipients (dsr/webhooks.py): a recipient confirms it erased what an erasure
notice named. Authenticated by the recipient's HMAC signature, not by an API token, so it lives outside /api/.
Every answer is JSON."""

from __future__ import annotations

import json
import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dsr import erasure, webhooks
from dsr.models import RecipientNotice

MAX_BODY = 64 * 1024


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
def erasure_confirmation(request: HttpRequest) -> HttpResponse:
    """POST {"event": "erasure.confirmed", "notice_id": "<id>", "status": "erased"} with X-DSR-Timestamp and
    X-DSR-Signature (v1=HMAC-SHA256 of "<timestamp>." + body under the recipient's secret)."""
    if request.method != "POST":
        resp = _error(405, "method_not_allowed", "use POST")
        resp["Allow"] = "POST"
        return resp
    if int(request.headers.get("Content-Length") or 0) > MAX_BODY:
        return _error(413, "too_large", "the body is larger than this endpoint accepts")
    body = request.body
    try:
        data = json.loads(body or b"null")
        notice_id = uuid.UUID(str(data["notice_id"]))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return _error(400, "invalid_request", "send JSON with 'notice_id' (a UUID)")
    notice = RecipientNotice.objects.select_related("recipient").filter(pk=notice_id).first()
    if notice is None or not notice.recipient.webhook_secret:
        return _error(404, "not_found", "no such notice")
    now = timezone.now()
    try:
        webhooks.verify(webhooks.secret_of(notice.recipient), timestamp=request.headers.get(webhooks.HEADER_TIMESTAMP),
                        signature_header=request.headers.get(webhooks.HEADER_SIGNATURE), body=body, now=now)
    except webhooks.BadSignature as exc:
        return _error(401, "bad_signature", str(exc))
    if data.get("event") != webhooks.EVENT_CONFIRMED or data.get("status", "erased") != "erased":
        return _error(400, "invalid_request", "event must be 'erasure.confirmed' and status 'erased'")
    erasure.confirm_notice(notice, confirmation="erased", now=now)
    notice.refresh_from_db()
    return JsonResponse({"notice_id": str(notice.pk), "confirmed": True,
                         "confirmed_at": notice.confirmed_at.isoformat() if notice.confirmed_at else None})
