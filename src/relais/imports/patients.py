"""Finding the patient a result from software or a file belongs to, or creating it.

Matching is by NIR when one is given; else by birth name and birth date (the blind
index) AND the same given names, so twins are not merged, and never onto a record
whose NIR differs. A found record is left as it is.
"""

from relais.screening import services
from relais.screening.validation import normalise_name


def matches(candidate, data: dict) -> bool:
    if normalise_name(candidate.given_names) != normalise_name(data["given_names"]):
        return False
    return not (candidate.nir and data.get("nir") and candidate.nir != data["nir"])


def find_patient(pharmacy, data: dict):
    if data.get("nir"):
        found = services.find_patients(pharmacy, nir=data["nir"]).order_by("created_at").first()
        if found is not None:
            return found
    candidates = services.find_patients(
        pharmacy, birth_name=data["birth_name"], birth_date=data["birth_date"]
    ).order_by("created_at")
    return next((candidate for candidate in candidates if matches(candidate, data)), None)


def find_or_create_patient(pharmacy, user, data: dict):
    """(patient, created) for cleaned PatientForm data."""
    found = find_patient(pharmacy, data)
    if found is not None:
        return found, False
    return services.create_patient(pharmacy, user, data), True
