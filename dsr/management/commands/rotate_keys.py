from django.core.management.base import BaseCommand
from django.utils import timezone

from dsr import vault
from dsr.keys import get_keyring


class Command(BaseCommand):
    help = "Re-wrap every subject data key under the newest (first) key of DSR_KEYS. Safe to re-run."

    def handle(self, *args, **options):
        count = vault.rotate_keys(actor="cli:rotate_keys", now=timezone.now())
        self.stdout.write(f"re-wrapped {count} data keys under ring key {get_keyring().active_id}")
