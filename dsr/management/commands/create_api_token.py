from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from dsr import audit
from dsr.models import ApiToken
from dsr.models.api import hash_token


class Command(BaseCommand):
    help = "Mint an API token for a platform system. The token is printed once; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who will use it, e.g. 'video-backend'")

    def handle(self, *args, name: str, **options):
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} already exists")
        token = ApiToken.new_secret()
        now = timezone.now()
        with transaction.atomic():
            row = ApiToken.objects.create(name=name, prefix=token[:12], token_hash=hash_token(token), created_at=now)
            audit.record("api_token.created", actor="cli", now=now, object_type="api_token", object_id=row.pk)
        self.stdout.write(token)
