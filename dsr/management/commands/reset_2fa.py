from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dsr import twofactor


class Command(BaseCommand):
    help = ("Remove a staff user's second-factor devices (authenticator and recovery codes), e.g. after a lost "
            "phone. Their open sessions lose the verified mark at once; they set up a new authenticator at their "
            "next sign-in. Audited as staff.second_factor_reset.")

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        removed = twofactor.reset(user, actor="cli", now=timezone.now())
        if removed == 0:
            self.stdout.write(f"{username} had no second-factor device; nothing removed")
        else:
            self.stdout.write(f"{username}: second factor reset; they set up a new authenticator at next sign-in")
