from django.core.management.base import BaseCommand, CommandError

from dsr.audit import first_break
from dsr.models import Event


class Command(BaseCommand):
    help = "Verify the hash chain of the audit trail; report the first broken link."

    def handle(self, *args, **options):
        broken = first_break()
        if broken is not None:
            raise CommandError(f"audit chain broken at event #{broken.event_id}: {broken.reason}")
        self.stdout.write(f"audit chain intact: {Event.objects.count()} events")
