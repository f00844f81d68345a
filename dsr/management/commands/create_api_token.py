import re
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dsr import audit, scopes
from dsr.models import ApiToken
from dsr.models.api import hash_token

# The name becomes the audit actor "api:<name>" (64 characters at most), so it is short and plain.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
DURATION = re.compile(r"^(\d+)([dhm])$")


def parse_expiry(value: str, now: datetime) -> datetime:
    """'90d', '12h', '30m', or an ISO 8601 instant with an offset; must lie in the future."""
    match = DURATION.match(value.strip())
    if match:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match[2]]
        when = now + timedelta(**{unit: int(match[1])})
    else:
        parsed = parse_datetime(value.strip())
        if parsed is None or parsed.tzinfo is None:
            raise CommandError("--expires takes a duration (90d, 12h, 30m) or an ISO 8601 instant with an offset")
        when = parsed.astimezone(UTC)
    if when <= now:
        raise CommandError("--expires must lie in the future")
    return when


class Command(BaseCommand):
    help = (
        "Mint an API token for a platform system, limited to the given scopes. The token is printed once; "
        "only its hash is stored. Scopes: " + ", ".join(sorted(scopes.SCOPES))
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="who will use it, e.g. 'video-backend' (letters, digits, . _ -)")
        parser.add_argument("--scope", action="append", default=[], metavar="SCOPE",
                            help="a scope it may use; repeat or comma-separate (e.g. vault:read,content:read)")
        parser.add_argument("--all-scopes", action="store_true",
                            help="every scope that exists today (scopes added later are not included)")
        parser.add_argument("--expires", metavar="WHEN", help="90d, 12h, 30m or an ISO 8601 instant (default: never)")

    def handle(self, *args, name: str, scope: list[str], all_scopes: bool, expires: str | None, **options):
        if not NAME.match(name):
            raise CommandError("the name must be 1-60 letters, digits, '.', '_' or '-'")
        try:
            granted = sorted(scopes.SCOPES) if all_scopes else scopes.parse(scope)
        except scopes.UnknownScope as exc:
            raise CommandError(str(exc)) from exc
        if not granted:
            known = ", ".join(sorted(scopes.SCOPES))
            raise CommandError(f"give at least one --scope (or --all-scopes); known: {known}")
        now = timezone.now()
        expires_at = parse_expiry(expires, now) if expires else None
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} already exists")
        token = ApiToken.new_secret()
        with transaction.atomic():
            row = ApiToken.objects.create(name=name, prefix=token[:12], token_hash=hash_token(token), created_at=now,
                                          scopes=granted, expires_at=expires_at)
            audit.record("api_token.created", actor="cli", now=now, object_type="api_token", object_id=row.pk,
                         data={"name": name, "scopes": granted,
                               "expires_at": expires_at.isoformat() if expires_at else None})
        self.stdout.write(token)
