"""Notices to subjects and operators, rendered from template triplets in templates/emails/<name>/.

Messages go to the outbox (OutboundMessage) inside the caller's transaction and are sent by a job after
commit, so a notice exists if and only if the state change that caused it committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from dsr.models import Case, OutboundMessage

# Templates whose messages are delivered by their own step handlers (exactly once, see dsr/breach_notices.py),
# never by ``deliver`` or the outbox reconciler.
BREACH_NOTICE_TEMPLATE = "breach_notice"
SELF_DELIVERED = (BREACH_NOTICE_TEMPLATE,)


def render(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    ctx = {
        "controller_name": settings.DSR_CONTROLLER_NAME,
        "controller_contact": settings.DSR_CONTROLLER_CONTACT,
        "dpo_contact": settings.DSR_DPO_CONTACT,
        **context,
    }
    subject = " ".join(render_to_string(f"emails/{name}/subject.txt", ctx).split())
    text = render_to_string(f"emails/{name}/body.txt", ctx)
    html = render_to_string(f"emails/{name}/body.html", ctx)
    return subject, text, html


def queue(name: str, *, to: str, context: dict[str, Any], now: datetime, case: Case | None = None,
          attachment: tuple[str, bytes, str] | None = None) -> OutboundMessage:
    """Render into the outbox and schedule delivery once the surrounding transaction commits. A case filed on
    the portal is written to in the language the person used there (templates marked for translation).
    ``attachment`` is (file name, bytes, content type): a document that names nothing personal (it waits in the
    outbox until sent, and its bytes are dropped then)."""
    with translation.override(language_of(case)):
        subject, text, html = render(name, context)
    name_, data, content_type = attachment or ("", None, "")
    message = OutboundMessage.objects.create(
        case=case, template=name, to=to, subject_line=subject, body_text=text, body_html=html, created_at=now,
        attachment_name=name_, attachment=data, attachment_type=content_type,
    )
    message_id = str(message.pk)
    transaction.on_commit(lambda: enqueue_delivery(message_id))
    return message


def language_of(case: Case | None) -> str | None:
    """The language of the portal filing behind a case; for any other case, the active language."""
    if case is None or case.pk is None:
        return translation.get_language()
    from dsr.models import PortalFiling

    chosen = (PortalFiling.objects.filter(case_id=case.pk).order_by("created_at")
              .values_list("language", flat=True).first())
    return chosen or translation.get_language()


def enqueue_delivery(message_id: str) -> None:
    from django_q.tasks import async_task

    async_task("dsr.jobs.deliver_message", message_id, task_name=f"deliver-{message_id}")


def deliver(message_id: str) -> bool:
    """Send one queued message. Idempotent: an already-sent message is not sent again. Failures keep
    it queued with a counter and a short error kind (never the address) for the reconciler and the console."""
    with transaction.atomic():
        message = (OutboundMessage.objects.select_for_update().filter(pk=message_id, sent_at__isnull=True)
                   .exclude(template__in=SELF_DELIVERED).first())
        if message is None:
            return False
        message.attempts += 1
        try:
            email = EmailMultiAlternatives(
                message.subject_line, message.body_text, settings.DEFAULT_FROM_EMAIL, [message.to]
            )
            if message.body_html:
                email.attach_alternative(message.body_html, "text/html")
            if message.attachment is not None:
                email.attach(message.attachment_name, bytes(message.attachment), message.attachment_type)
            email.send()
        except Exception as exc:  # noqa: BLE001 - any transport failure keeps the message queued
            message.last_error = type(exc).__name__[:200]
            message.save(update_fields=["attempts", "last_error"])
            return False
        message.sent_at = timezone.now()
        message.last_error = ""
        # The attachment went with the message, once; its bytes are not kept for a second send (the name stays).
        message.attachment = None
        message.save(update_fields=["attempts", "last_error", "sent_at", "attachment"])
    return True
