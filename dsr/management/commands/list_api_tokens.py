from django.core.management.base import BaseCommand
from django.utils import timezone

from dsr.models import ApiToken


def _when(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%MZ") if value else "-"


class Command(BaseCommand):
    help = "List API tokens: name, prefix, state, scopes, expiry and last use (never the token itself)."

    def handle(self, *args, **options):
        now = timezone.now()
        rows = [("NAME", "PREFIX", "STATE", "SCOPES", "CREATED", "EXPIRES", "LAST USED")]
        for t in ApiToken.objects.order_by("name"):
            rows.append((t.name, t.prefix, t.state(now), ",".join(t.scopes or []) or "-", _when(t.created_at),
                         _when(t.expires_at), _when(t.last_used_at)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
