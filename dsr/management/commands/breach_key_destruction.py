"""Declare a subject's key destruction erroneous (issue 12): opens an availability breach (origin
key_destruction) with the subject in its scope. For a destruction an erasure did but should not have (the wrong
subject, a forged approval); a destruction outside any erasure opens one by itself (dsr/vault.py)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dsr import breaches
from dsr.models import Subject


class Command(BaseCommand):
    help = "Declare a subject's data-key destruction erroneous: opens an availability breach."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject_id", help="the subject's id (UUID)")
        parser.add_argument("--reason", required=True, help="why the destruction was erroneous (one line)")
        parser.add_argument("--actor", default="cli", help="who declares it, for the audit trail (e.g. staff:ana)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            subject = Subject.objects.filter(pk=uuid.UUID(options["subject_id"])).first()
        except ValueError as exc:
            raise CommandError("subject_id must be a UUID") from exc
        if subject is None:
            raise CommandError("no subject with that id")
        try:
            breach = breaches.declare_destruction_erroneous(subject, reason=options["reason"],
                                                            actor=f"cli:{options['actor']}"[:64], now=timezone.now())
        except breaches.BreachInputError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{breach.reference} {breach.pk}")
