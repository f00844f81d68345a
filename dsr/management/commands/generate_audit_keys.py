from django.core.management.base import BaseCommand

from dsr import keys


class Command(BaseCommand):
    help = ("Print fresh DSR_AUDIT_KEY (chain MAC key) and DSR_AUDIT_SIGNING_KEY (checkpoint signing key) values, "
            "and the DSR_AUDIT_VERIFY_KEY public half to give auditors. Keep them outside the database.")

    def handle(self, *args, **options):
        signing = keys.generate_audit_signing_key()
        public = keys.public_key_text(keys.parse_signing_key(signing).public_key())
        self.stdout.write(f"DSR_AUDIT_KEY={keys.generate_audit_key()}")
        self.stdout.write(f"DSR_AUDIT_SIGNING_KEY={signing}")
        self.stdout.write(f"DSR_AUDIT_VERIFY_KEY={public}")
