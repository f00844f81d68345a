from django.core.management.base import BaseCommand
from django.utils import timezone

from dsr import demo


class Command(BaseCommand):
    help = "Load the demo world (subjects, photos, derived items, consents, staff) once."

    def add_arguments(self, parser):
        parser.add_argument("--print-login", action="store_true", help="only print the demo operator login")

    def handle(self, *args, print_login=False, **options):
        if print_login:
            user, password = demo.DEMO_OPERATOR
            self.stdout.write(f"{user} / {password}  (also: dpo / dpo-demo-pass, auditor / auditor-demo-pass)")
            return
        counts = demo.seed(timezone.now())
        self.stdout.write("demo data loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items())
                          if counts else "demo data already present")
