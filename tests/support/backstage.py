"""Work done behind the live server's back, with the server's own environment.

Run as `python -m tests.support.backstage seed|hl7` by tests/support/live.py: it loads the
production settings from the environment, so it writes through the same code paths (ORM,
encrypted fields, blind indexes, link hashing) into the same database.

    seed   reads a JSON spec on stdin, creates pharmacies, members (TOTP devices with the
           given keys), patients, tests, result links and, if the spec has
           "api_credentials" (key: pharmacy key), API credentials; prints ids and tokens.
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

    from relais.accounts.models import PharmacyApplication
    from relais.api.credentials import create_credential
    from relais.patient_access import links
    from tests.support.factories import (
        earlier_today,
        make_member,
        make_patient,
        make_pharmacy,
        make_platform_admin,
        make_test,
    )
    from tests.support.fictitious import PERFORMER_RPPS

    out = {"pharmacies": {}, "users": {}, "patients": {}, "tests": {}, "links": {}}
    pharmacies, users = {}, {}
    with transaction.atomic():
        for key, info in spec["pharmacies"].items():
            pharmacy = make_pharmacy(info["name"], info["finess"], address=info["address"])
            application = PharmacyApplication.objects.create(
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
            pharmacies[key] = pharmacy
            out["pharmacies"][key] = {"id": str(pharmacy.pk), "application": str(application.pk)}
        for key, info in spec["users"].items():
            credentials = {"password": info["password"], "totp_key": info["totp_key"]}
            if info["role"] == "admin":
                users[key] = make_platform_admin(info["email"], **credentials)
                membership = None
            else:
                pharmacy = pharmacies[info["pharmacy"]]
                # Each pharmacy's pharmacist has the RPPS API submissions name as their
                # performer (a pharmacist who also works at the other pharmacy).
                rpps = (
                    PERFORMER_RPPS
                    if info["role"] == "pharmacist" and key.endswith("_pharmacist")
                    else ""
                )
                users[key] = make_member(
                    pharmacy, info["email"], info["role"], rpps=rpps, **credentials
                )
                membership = users[key].memberships.get()
            out["users"][key] = {
                "id": str(users[key].pk),
                "membership": str(membership.pk) if membership else None,
            }
        for key, info in spec["patients"].items():
            author = users[info["author"]]
            data = dict(
                info["data"], birth_date=datetime.date.fromisoformat(info["data"]["birth_date"])
            )
            patient = make_patient(pharmacies[info["pharmacy"]], author, **data)
            test = make_test(
                patient,
                author,
                device="Attack AG Rapid",
                sampled_at=earlier_today(30),
                result="positive",
                notify_by="none",
            )
            link, token = links.issue_links([(test, [])])[0]
            out["patients"][key] = str(patient.pk)
            out["tests"][key] = str(test.pk)
            out["links"][key] = token
        out["api_tokens"] = {
            key: create_credential(pharmacies[pharmacy], f"LGO {key}")[1]
            for key, pharmacy in spec.get("api_credentials", {}).items()
        }
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
