from django.core.management.base import BaseCommand, CommandError

from dsr.crypto import KeyRing


class Command(BaseCommand):
    help = "Print a key ring spec for DSR_KEYS. With --prepend-to, put a new key in front of an existing ring."

    def add_arguments(self, parser):
        parser.add_argument("--prepend-to", default=None, help="an existing DSR_KEYS value to rotate")

    def handle(self, *args, prepend_to=None, **options):
        new = KeyRing.generate_spec()
        if prepend_to:
            try:
                KeyRing.from_spec(prepend_to)
            except ValueError as exc:
                raise CommandError(f"--prepend-to is not a valid key ring: {exc}") from exc
            new = new + "," + prepend_to.strip()
        self.stdout.write(new)
