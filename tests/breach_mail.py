"""A mail backend for fault tests: it delivers into ``django.core.mail.outbox`` like the in-memory backend, and
can fail a given send (the provider drops the connection: known not accepted) or "kill the worker" just before
or just after a given message is accepted (a BaseException, which no handler catches, standing in for SIGKILL)."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence

from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage


class Killed(BaseException):
    """The worker died here (nothing after this line of the worker runs; the database keeps what committed)."""


class FaultyBackend(BaseEmailBackend):
    calls = 0
    fail_on: set[int] = set()
    refuse_on: set[int] = set()
    kill_before: set[int] = set()
    kill_after: set[int] = set()

    @classmethod
    def reset(cls, **faults: set[int]) -> None:
        cls.calls = 0
        cls.fail_on, cls.refuse_on = faults.get("fail_on", set()), faults.get("refuse_on", set())
        cls.kill_before, cls.kill_after = faults.get("kill_before", set()), faults.get("kill_after", set())
        mail.outbox = []

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            cls = type(self)
            cls.calls += 1
            if cls.calls in cls.kill_before:
                raise Killed(f"killed before send {cls.calls}")
            if cls.calls in cls.fail_on:
                raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
            if cls.calls in cls.refuse_on:
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"mailbox unavailable")})
            message.message()  # as a real backend would: it must render
            mail.outbox.append(message)
            if cls.calls in cls.kill_after:
                raise Killed(f"killed after send {cls.calls}")
        return len(email_messages)
