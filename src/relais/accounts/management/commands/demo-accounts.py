from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from relais.accounts.demo import accounts_file, create_demo_accounts


class Command(BaseCommand):
    help = "Demo mode only: create the demo pharmacy and accounts, and print them."

    def handle(self, *args, **options):
        if not settings.DEMO:
            raise CommandError("demo accounts exist only in demo mode (RELAIS_DEMO=1).")
        accounts = create_demo_accounts()
        self.stdout.write(f"Demo accounts (also in {accounts_file()}):")
        for account in accounts:
            self.stdout.write(
                f"  {account['role']:<11} {account['email']:<30} password: {account['password']}"
                f"  TOTP secret: {account['totp_secret']}"
            )
        self.stdout.write("Current TOTP code for an account: relais demo-totp EMAIL")
