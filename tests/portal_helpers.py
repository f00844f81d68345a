"""Shared steps for the portal tests: file the form as a browser would, read the code from the outbox."""

from __future__ import annotations

import re
from typing import Any

from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client

from dsr.models import OutboundMessage

CSRF_INPUT = re.compile(rb'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]+">')


def form(**overrides: Any) -> dict[str, Any]:
    data = {"choice": "access", "email": "someone@example.com", "country": "IE", "details": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def file_request(client: Client, **overrides: Any):
    return client.post("/", form(**overrides), HTTP_ACCEPT_LANGUAGE="en")


def code_from_outbox(address: str) -> str:
    message = OutboundMessage.objects.filter(to=address, template="portal_code").order_by("-created_at").first()
    assert message is not None, f"no code message to {address}"
    return re.search(r"^\s+(\d{6})$", message.body_text, re.M).group(1)


def link_from_outbox(address: str, template: str = "portal_code") -> str:
    message = OutboundMessage.objects.filter(to=address, template=template).order_by("-created_at").first()
    assert message is not None, f"no {template} message to {address}"
    return re.search(r"https?://\S+/(?:link|handoff)/[^/\s]+/", message.body_text).group(0)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def mask_csrf(body: bytes) -> bytes:
    return CSRF_INPUT.sub(b"<csrf>", body)


def sent_to(address: str) -> list[Any]:
    return [m for m in mail.outbox if address in m.to]


class RaisingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):  # noqa: ANN001, ANN201
        raise ConnectionRefusedError("mail server down")
