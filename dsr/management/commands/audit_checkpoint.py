from django.core.management.base import BaseCommand
from django.utils import timezone

from dsr import audit


class Command(BaseCommand):
    help = ("Sign the audit chain head and write the checkpoint to the sink (DSR_AUDIT_SINK), with a copy to the "
            "DPO. On an installation whose events predate the audit key, first records `audit.chain_keyed`, "
            "the keyed event that anchors them.")

    def add_arguments(self, parser):
        parser.add_argument("--no-email", action="store_true", help="do not queue the copy to the DPO")

    def handle(self, *args, no_email=False, **options):
        now = timezone.now()
        anchored = audit.key_legacy_chain(actor="system:audit-checkpoint", now=now)
        if anchored:
            self.stdout.write(f"{anchored} events written before the audit key are now anchored by a keyed event")
        cp = audit.checkpoint(now=now, email_dpo=not no_email)
        self.stdout.write(f"checkpoint {cp.name}: head #{cp.head_id}, {cp.events} events")
