from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Demo mode only: print the current TOTP code of a demo account."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        if not settings.DEMO:
            raise CommandError("this command exists only in demo mode (RELAIS_DEMO=1).")
        device = TOTPDevice.objects.filter(user__email=email.lower(), confirmed=True).first()
        if device is None:
            raise CommandError("no confirmed TOTP device for this e-mail.")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        self.stdout.write(f"{totp.token():0{device.digits}d}")
