"""The directory checks run on a pharmacy application, before anyone looks at it."""

from relais.directory.models import (
    PHARMACIST_PROFESSION_CODE,
    Activity,
    Establishment,
    Professional,
)

CHECK_NAMES = [
    "finess_exists",
    "finess_is_officine",
    "rpps_exists",
    "rpps_is_pharmacist",
    "rpps_at_finess",
]


def check_application(finess: str, rpps: str) -> dict[str, bool]:
    establishment = Establishment.objects.filter(finess=finess).first()
    pharmacist_activities = Activity.objects.filter(
        rpps=rpps, profession_code=PHARMACIST_PROFESSION_CODE
    )
    return {
        "finess_exists": establishment is not None,
        "finess_is_officine": establishment is not None and establishment.is_officine,
        "rpps_exists": Professional.objects.filter(rpps=rpps).exists(),
        "rpps_is_pharmacist": pharmacist_activities.exists(),
        "rpps_at_finess": pharmacist_activities.filter(finess_site=finess).exists()
        or pharmacist_activities.filter(finess_legal_entity=finess).exists(),
    }


def establishment_address(finess: str) -> str:
    return (
        Establishment.objects.filter(finess=finess).values_list("address", flat=True).first() or ""
    )
