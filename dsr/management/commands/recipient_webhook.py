from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dsr import webhooks
from dsr.models import Recipient


class Command(BaseCommand):
    help = ("Set where a recipient of the processing register is told of erasures (a signed webhook, "
            "dsr/webhooks.py) and/or give it a new secret. The secret is printed once: hand it to the recipient.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="the recipient's name in the register")
        parser.add_argument("--url", help="https:// address of the recipient's webhook ('' removes it)")
        parser.add_argument("--new-secret", action="store_true", help="generate a new secret (the old one stops)")

    def handle(self, *args, **options):
        recipient = Recipient.objects.filter(name=options["name"]).first()
        if recipient is None:
            raise CommandError("no recipient with that name in the register")
        if options["url"] is None and not options["new_secret"]:
            raise CommandError("give --url and/or --new-secret")
        try:
            secret = webhooks.set_webhook(recipient, url=options["url"], new_secret=options["new_secret"],
                                          actor="system:manage", now=timezone.now())
        except webhooks.WebhookError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{recipient.name}: webhook {recipient.webhook_url or '(none)'}")
        if secret:
            self.stdout.write(f"secret (shown once): {secret}")
