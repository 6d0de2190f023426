"""Work done behind the live server's back, with the server's own environment.

Run as a script (`python backstage.py seed|hl7`) by tests/security/conftest.py: it loads
the production settings from the environment, so it writes through the same code paths
(ORM, encrypted fields, blind indexes, link hashing) into the same database.

    seed   reads a JSON spec on stdin, creates pharmacies, members (TOTP devices with the
           given keys), patients, tests and result links; prints ids and link tokens.
    hl7    prints the ORU^R01 message built for each test id given, as JSON.
"""

import datetime
import json
import os
import sys

import django


def seed(spec: dict) -> dict:
    from django.db import transaction
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from relais.accounts.models import Membership, Pharmacy, PharmacyApplication, User
    from relais.patient_access import links
    from relais.screening import services

    out = {"pharmacies": {}, "users": {}, "patients": {}, "tests": {}, "links": {}}
    with transaction.atomic():
        for key, info in spec["pharmacies"].items():
            pharmacy = Pharmacy.objects.create(
                name=info["name"],
                finess=info["finess"],
                address=info["address"],
                status=Pharmacy.Status.ACTIVE,
            )
            PharmacyApplication.objects.create(
                pharmacy=pharmacy,
                pharmacy_name=info["name"],
                finess=info["finess"],
                owner_name="Owner",
                owner_rpps="10000000001",
                owner_email=f"owner@{key}.attack.test",
                checks={"finess": True},
                status=PharmacyApplication.Status.APPROVED,
                decided_at=timezone.now(),
            )
            out["pharmacies"][key] = {
                "id": str(pharmacy.pk),
                "application": str(pharmacy.applications.get().pk),
            }
        for key, info in spec["users"].items():
            user = User.objects.create_user(
                info["email"], info["password"], full_name=info["email"].split("@")[0]
            )
            user.is_staff = info["role"] == "admin"
            user.save()
            membership = None
            if info["role"] != "admin":
                membership = Membership.objects.create(
                    user=user,
                    pharmacy=Pharmacy.objects.get(
                        finess=spec["pharmacies"][info["pharmacy"]]["finess"]
                    ),
                    role=info["role"],
                )
            TOTPDevice.objects.create(user=user, name="phone", key=info["totp_key"], confirmed=True)
            out["users"][key] = {
                "id": str(user.pk),
                "membership": str(membership.pk) if membership else None,
            }
        for key, info in spec["patients"].items():
            pharmacy = Pharmacy.objects.get(finess=spec["pharmacies"][info["pharmacy"]]["finess"])
            author = User.objects.get(email=spec["users"][info["author"]]["email"])
            data = dict(
                info["data"], birth_date=datetime.date.fromisoformat(info["data"]["birth_date"])
            )
            patient = services.create_patient(pharmacy, author, data)
            test_data = {
                "kind": "sars_cov_2_antigen",
                "device": "Attack AG Rapid",
                "specimen": "nasal_swab",
                "sampled_at": timezone.now() - datetime.timedelta(minutes=30),
                "result": "positive",
                "symptoms": False,
                "symptom_onset": None,
                "consent_transmission": True,
                "notify_by": "none",
            }
            [test] = services.record_tests(author, [(patient, test_data)])
            link, token = links.issue_links([(test, [])])[0]
            out["patients"][key] = str(patient.pk)
            out["tests"][key] = str(test.pk)
            out["links"][key] = token
    return out


def hl7(test_ids: list[str]) -> dict:
    from django.utils import timezone

    from relais.screening.models import ScreeningTest
    from relais.transmission.hl7 import build_oru_r01

    messages = {}
    for test_id in test_ids:
        test = ScreeningTest.objects.select_related("patient", "pharmacy", "performed_by").get(
            pk=test_id
        )
        messages[test_id] = build_oru_r01(
            test, message_id=f"attack-{test_id[:8]}", result_status="F", created_at=timezone.now()
        )
    return messages


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    django.setup()
    command = sys.argv[1]
    if command == "seed":
        result = seed(json.load(sys.stdin))
    elif command == "hl7":
        result = hl7(sys.argv[2:])
    else:
        raise SystemExit(f"unknown command {command!r}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
