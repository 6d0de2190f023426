"""Finding the patient a result from software or a file belongs to, or creating it.

Matching is by NIR when one is given; else by birth name and birth date (the blind
index) AND the same given names, so twins are not merged, and never onto a record
whose NIR differs. A found record is left as it is.
"""

from django.db.models import Q

from relais.crypto.blind_index import blind_index_candidates
from relais.screening import services
from relais.screening.models import IDENTITY_INDEX, NIR_INDEX, Patient, identity_key
from relais.screening.validation import normalise_name


def matches(candidate, data: dict) -> bool:
    if normalise_name(candidate.given_names) != normalise_name(data["given_names"]):
        return False
    return not (candidate.nir and data.get("nir") and candidate.nir != data["nir"])


def find_patient(pharmacy, data: dict):
    """The stored patient these cleaned PatientForm data designate, or None (one query)."""
    return BlockLookup(pharmacy, [data]).find(data)


def find_or_create_patient(pharmacy, user, data: dict):
    """(patient, created) for cleaned PatientForm data."""
    found = find_patient(pharmacy, data)
    if found is not None:
        return found, False
    return services.create_patient(pharmacy, user, data), True


class BlockLookup:
    """Finds the patients of many rows with one query, then applies the rules above
    row by row: NIR first, else identity and given names."""

    def __init__(self, pharmacy, rows: list[dict]):
        scope = str(pharmacy.pk)
        self.nir_keys, self.identity_keys = {}, {}
        for data in rows:
            if data.get("nir"):
                self.nir_keys[data["nir"]] = blind_index_candidates(NIR_INDEX, scope, data["nir"])
            key = identity_key(data["birth_name"], data["birth_date"])
            self.identity_keys[key] = blind_index_candidates(IDENTITY_INDEX, scope, key)
        nir_indexes = [i for candidates in self.nir_keys.values() for i in candidates]
        identity_indexes = [i for candidates in self.identity_keys.values() for i in candidates]
        self.found = list(
            Patient.objects.for_pharmacy(pharmacy)
            .filter(Q(nir_index__in=nir_indexes) | Q(identity_index__in=identity_indexes))
            .order_by("created_at")
        )

    def add(self, patient: Patient) -> None:
        """A patient created for an earlier row of the block."""
        self.found.append(patient)

    def find(self, data: dict) -> Patient | None:
        if data.get("nir"):
            indexes = set(self.nir_keys[data["nir"]])
            by_nir = [p for p in self.found if p.nir_index in indexes]
            if by_nir:
                return by_nir[0]
        indexes = set(self.identity_keys[identity_key(data["birth_name"], data["birth_date"])])
        return next(
            (p for p in self.found if p.identity_index in indexes and matches(p, data)), None
        )
