"""The demo's pharmacy and accounts (demo mode only)."""

import base64
import json
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts import onboarding
from relais.accounts.models import Membership, Pharmacy, PharmacyApplication, User
from relais.env import write_private_file

DEMO_PHARMACY = {
    "name": "Pharmacie de la Gare (démo)",
    "finess": "750000017",
    "address": "1 place de la Gare, 75010 Paris",
    "phone": "+33140000000",
}
DEMO_USERS = [
    ("titulaire@demo.relais.test", "Claire Titulaire (démo)", "10000000001", Membership.Role.OWNER),
    ("pharmacien@demo.relais.test", "Paul Pharmacien (démo)", "10000000002",
     Membership.Role.PHARMACIST),
    ("preparateur@demo.relais.test", "Alix Préparateur (démo)", "", Membership.Role.ASSISTANT),
]  # fmt: skip


PLATFORM_ADMIN_ROLE = "platform admin"
# A second administrator: approving despite a failed directory check takes two.
SECOND_PLATFORM_ADMIN_ROLE = "second platform admin"
DEMO_PLATFORM_ADMINS = [
    ("admin@demo.relais.test", "Ada Admin (démo)", "", PLATFORM_ADMIN_ROLE),
    ("admin2@demo.relais.test", "Bruno Admin (démo)", "", SECOND_PLATFORM_ADMIN_ROLE),
]
# An application waiting for review, checked against the demo directory
# (directory/samples): a laboratory's FINESS with a doctor's RPPS, three checks fail. It
# shows the review page and the override that two administrators must agree on.
DEMO_APPLICATIONS = [
    {
        "pharmacy_name": "Pharmacie des Analyses (démo)",
        "finess": "750000041",
        "owner_name": "Marc Médecin",
        "owner_rpps": "10000000004",
        "owner_email": "marc.medecin@demo.relais.test",
    },
]


def accounts_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-accounts.json"


def totp_secret_base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def totp_uri(device: TOTPDevice) -> str:
    return device.config_url


@transaction.atomic
def create_demo_accounts() -> list[dict]:
    """Create the demo pharmacy and its staff once; later calls return the same accounts."""
    if accounts_file().exists():
        return json.loads(accounts_file().read_text())["accounts"]
    pharmacy, _ = Pharmacy.objects.get_or_create(
        finess=DEMO_PHARMACY["finess"],
        defaults={**DEMO_PHARMACY, "status": Pharmacy.Status.ACTIVE},
    )
    accounts = []
    # The platform administrators (no pharmacy) review applications at /platform/.
    for email, full_name, rpps, role in [*DEMO_USERS, *DEMO_PLATFORM_ADMINS]:
        password = secrets.token_urlsafe(12)
        user = User.objects.filter(email=email).first() or User(email=email)
        user.full_name, user.rpps = full_name, rpps
        user.is_staff = role in (PLATFORM_ADMIN_ROLE, SECOND_PLATFORM_ADMIN_ROLE)
        user.set_password(password)
        user.save()
        if not user.is_staff:
            Membership.objects.update_or_create(
                user=user, pharmacy=pharmacy, defaults={"role": role}
            )
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name="demo", confirmed=True)
        accounts.append(
            {
                "email": email,
                "role": role,
                "password": password,
                "totp_secret": totp_secret_base32(device),
                "totp_uri": totp_uri(device),
            }
        )
    for application in DEMO_APPLICATIONS:
        # Checked against the directory like any other (the demo imports it first).
        if not PharmacyApplication.objects.filter(finess=application["finess"]).exists():
            onboarding.submit_application(dict(application), request=None)
    content = {"pharmacy": DEMO_PHARMACY, "accounts": accounts}
    write_private_file(accounts_file(), json.dumps(content, indent=2, ensure_ascii=False))
    return accounts
