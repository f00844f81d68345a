from django.core.management.base import BaseCommand
from django.utils import timezone

from dsr import retention


class Command(BaseCommand):
    help = "Purge data items past their retention now (the scheduled job does this every 15 minutes)."

    def handle(self, *args, **options):
        n = retention.purge_expired(now=timezone.now(), actor="cli:purge_expired")
        self.stdout.write(f"purged {n} items")
