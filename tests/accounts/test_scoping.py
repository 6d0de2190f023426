"""relais.accounts.scoping: an object is reached through the caller's pharmacy."""

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from relais.accounts.models import Pharmacy
from relais.screening.models import Patient
from tests.support.factories import screening_test_form


def test_the_object_found_holds_the_callers_pharmacy(pharmacy, patient, django_assert_num_queries):
    caller_pharmacy = Pharmacy.objects.get(pk=pharmacy.pk)
    with django_assert_num_queries(1):
        found = Patient.objects.get_for_pharmacy_or_404(caller_pharmacy, pk=patient.pk)
        assert found.pharmacy is caller_pharmacy


def test_another_pharmacys_object_is_not_found(patient, other_pharmacy):
    with pytest.raises(Http404):
        Patient.objects.get_for_pharmacy_or_404(other_pharmacy, pk=patient.pk)
    with pytest.raises(Http404):
        Patient.objects.get_for_pharmacy_or_404(None, pk=patient.pk)


def test_a_test_for_a_returning_patient_reads_no_pharmacy_row(pharmacist_client, patient):
    """The session's membership brought the pharmacy: the patient page does not read it
    again to file the test."""
    with CaptureQueriesContext(connection) as queries:
        response = pharmacist_client.post(
            reverse("screening:test_new", args=[patient.pk]), screening_test_form()
        )
    assert response.status_code == 302
    assert not [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('SELECT "accounts_pharmacy"')
    ]
