from django.core.management.base import BaseCommand

from dsr.jobs import ensure_schedules


class Command(BaseCommand):
    help = "Create or update dsr's recurring django-q2 schedules."

    def handle(self, *args, **options):
        self.stdout.write(f"{ensure_schedules()} schedules in place")
