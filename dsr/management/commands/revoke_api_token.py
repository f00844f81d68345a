from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from dsr import audit
from dsr.models import ApiToken


class Command(BaseCommand):
    help = "Revoke an API token by name: every later request with it gets 401. The row is kept for the audit trail."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        now = timezone.now()
        with transaction.atomic():
            row = ApiToken.objects.select_for_update().filter(name=name).first()
            if row is None:
                raise CommandError(f"no token named {name!r} (see manage.py list_api_tokens)")
            if row.revoked_at is not None:
                self.stdout.write(f"{name} was already revoked at {row.revoked_at.isoformat()}")
                return
            row.revoked_at = now
            row.save(update_fields=["revoked_at"])
            audit.record("api_token.revoked", actor="cli", now=now, object_type="api_token", object_id=row.pk,
                         data={"name": name})
        self.stdout.write(f"{name} revoked")
