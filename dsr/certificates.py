"""The erasure certificate (issue 9 §6): a PDF for the operator and the subject, rendered from the evidence frozen
when the cascade completed plus the recipients' confirmations as they arrive (a confirmation may come later).
Its text names nothing personal beyond the case reference: categories, counts, instants, recipients (companies),
grounds, and the audit-chain head."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dsr.models import Erasure, ErasureState


class NotReady(Exception):
    """The erasure has not completed: there is no certificate yet."""


def _when(value: str | None) -> Any:
    return parse_datetime(value) if value else None


def context(erasure: Erasure) -> dict[str, Any]:
    if erasure.state != ErasureState.COMPLETED:
        raise NotReady("the erasure has not completed")
    ev = erasure.evidence or {}
    recipients = []
    for n in erasure.notices.select_related("recipient").order_by("recipient__name"):
        recipients.append({"name": n.recipient.name, "role": n.recipient.get_role_display(),
                           "notified_at": n.delivered_at, "confirmed_at": n.confirmed_at,
                           "confirmation": n.confirmation, "other_channel_at": n.other_channel_at})
    return {
        "controller_name": settings.DSR_CONTROLLER_NAME,
        "dpo_contact": settings.DSR_DPO_CONTACT,
        "reference": ev.get("case") or f"erasure {erasure.pk}",
        "scope": erasure.get_scope_display(),
        "approved_at": _when(ev.get("approved_at")),
        "grace_ends_at": _when(ev.get("grace_ends_at")),
        "completed_at": _when(ev.get("completed_at")),
        "key_destroyed_at": _when(ev.get("key_destroyed_at")),
        "whole_subject": ev.get("scope") == "subject",
        "erased": sorted((ev.get("erased") or {}).items()),
        "erased_total": ev.get("erased_total", 0),
        "derived": ev.get("derived", 0),
        "records": sorted((k.replace("_", " ").replace(".", ": "), v) for k, v in (ev.get("records") or {}).items()),
        "queue_rows": ev.get("queue_rows", 0),
        "kept": ev.get("kept") or [],
        "recipients": recipients,
        "sweep": ev.get("sweep") or {},
        "audit_head": ev.get("audit_head") or {},
        "generated_at": timezone.now(),
    }


def render(erasure: Erasure) -> bytes:
    from dsr import pdf  # WeasyPrint takes seconds to import: only where a PDF is made

    return pdf.render_pdf("pdf/erasure_certificate.html", context(erasure))


def filename(erasure: Erasure) -> str:
    ref = (erasure.evidence or {}).get("case") or str(erasure.pk)
    return f"erasure-certificate-{ref}.pdf"
