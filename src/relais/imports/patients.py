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
        found = (
            Patient.objects.for_pharmacy(pharmacy)
            .filter(Q(nir_index__in=nir_indexes) | Q(identity_index__in=identity_indexes))
            .order_by("created_at")
        )
        # Patients by index, in the order found then added (the first one wins).
        self.by_nir: dict[str, list[Patient]] = {}
        self.by_identity: dict[str, list[Patient]] = {}
        self.order: dict[int, int] = {}
        for patient in found:
            self.add(patient)

    def add(self, patient: Patient) -> None:
        """A found patient, or one created for an earlier row of the block."""
        self.order[id(patient)] = len(self.order)
        if patient.nir_index:
            self.by_nir.setdefault(patient.nir_index, []).append(patient)
        self.by_identity.setdefault(patient.identity_index, []).append(patient)

    def first(self, index: dict, candidates: list[str], data: dict | None = None):
        patients = [
            p for i in candidates for p in index.get(i, ()) if data is None or matches(p, data)
        ]
        return min(patients, key=lambda p: self.order[id(p)], default=None)

    def find(self, data: dict) -> Patient | None:
        if data.get("nir"):
            by_nir = self.first(self.by_nir, self.nir_keys[data["nir"]])
            if by_nir is not None:
                return by_nir
        key = identity_key(data["birth_name"], data["birth_date"])
        return self.first(self.by_identity, self.identity_keys[key], data)
