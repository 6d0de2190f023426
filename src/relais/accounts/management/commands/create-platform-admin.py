from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from relais.accounts import tokens
from relais.accounts.models import AccountToken, User
from relais.audit.events import record


class Command(BaseCommand):
    help = (
        "Create a platform administrator and print their activation link (single use, "
        "expiring): they choose a password and enrol a TOTP device like everyone else."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", required=True, help="full name")

    @transaction.atomic
    def handle(self, *args, email, name, **options):
        email = email.strip().lower()
        try:
            validate_email(email)
        except Exception:
            raise CommandError(f"{email!r} is not an e-mail address.") from None
        if User.objects.filter(email=email).exists():
            raise CommandError("an account with this e-mail already exists.")
        user = User.objects.create_user(email, None, full_name=name, is_staff=True)
        token = tokens.issue(user, AccountToken.Purpose.ACTIVATION)
        record("platform_admin.created", target=user)
        self.stdout.write(tokens.link(token, AccountToken.Purpose.ACTIVATION))
