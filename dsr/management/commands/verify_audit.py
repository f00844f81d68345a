from django.core.management.base import BaseCommand, CommandError

from dsr.audit import verify


class Command(BaseCommand):
    help = ("Verify the audit trail: every MAC and link, gaps in the ids, and the chain against the latest "
            "signed checkpoint in the sink. Names each problem found; exits non-zero if there is one.")

    def handle(self, *args, **options):
        report = verify()
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        if not report.intact:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
