from django.core.management.base import BaseCommand
from django.utils import timezone

from dsr import tombstones


class Command(BaseCommand):
    help = ("After restoring a backup, and before starting the web server or the workers: re-erase every subject "
            "the tombstones (DSR_TOMBSTONE_DIR and the database) say was erased but the restored database still "
            "holds — matched by id or by a keyed hash of its e-mail address or account id. Safe to run again.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be re-erased, change nothing")

    def handle(self, *args, **options):
        result = tombstones.replay(actor="system:replay-erasures", now=timezone.now(), dry_run=options["dry_run"])
        verb = "would re-erase" if options["dry_run"] else "re-erased"
        n = len(result.subjects)
        self.stdout.write(f"{result.tombstones} tombstone(s); {verb} {n} subject{'s' if n != 1 else ''}")
        for subject_id in result.subjects:
            self.stdout.write(f"  {subject_id}")
        for key, value in sorted(result.counts.items()):
            if value:
                self.stdout.write(f"  {key}: {value}")
