import datetime

from relais.crypto.blind_index import blind_index, blind_index_candidates
from relais.screening.services import find_patients
from tests.support.factories import make_patient


def test_index_is_deterministic_and_keyed():
    assert blind_index("p", "s", "value") == blind_index("p", "s", "value")
    assert len(blind_index("p", "s", "value")) == 64
    assert "value" not in blind_index("p", "s", "value")


def test_index_depends_on_purpose_and_scope():
    base = blind_index("nir", "pharmacy-1", "value")
    assert base != blind_index("identity", "pharmacy-1", "value")
    assert base != blind_index("nir", "pharmacy-2", "value")


def test_candidates_include_the_primary_index():
    assert blind_index("p", "s", "v") in blind_index_candidates("p", "s", "v")


def test_find_by_nir(patient, pharmacy):
    assert list(find_patients(pharmacy, nir=patient.nir)) == [patient]


def test_find_by_birth_name_ignores_case_accents_and_punctuation(patient, pharmacy):
    found = find_patients(pharmacy, birth_name="  lefevre ", birth_date=datetime.date(1985, 3, 14))
    assert list(found) == [patient]


def test_find_needs_the_right_birth_date(patient, pharmacy):
    assert not find_patients(pharmacy, birth_name="Lefèvre", birth_date=datetime.date(1985, 3, 15))


def test_find_never_crosses_pharmacies(patient, other_pharmacy, other_pharmacist):
    make_patient(other_pharmacy, other_pharmacist, nir="")
    assert not find_patients(other_pharmacy, nir=patient.nir)
    assert list(find_patients(other_pharmacy, birth_name="Lefèvre", birth_date=patient.birth_date))
    assert patient not in find_patients(
        other_pharmacy, birth_name="Lefèvre", birth_date=patient.birth_date
    )
