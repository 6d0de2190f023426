from relais.patient_access.links import issue_links
from relais.patient_access.models import Notification, ResultLink
from relais.screening import retention
from tests.support.factories import old_patient


def test_purge_removes_the_links_and_messages_of_purged_patients(pharmacy, pharmacist):
    purged, old_tests = old_patient(pharmacy, pharmacist, 120, email="old@example.org")
    kept, recent_tests = old_patient(pharmacy, pharmacist, 3, email="new@example.org")
    for test in (*old_tests, *recent_tests):
        test.notify_by = "email"
        test.save()
    for test in (*old_tests, *recent_tests):
        issue_links([(test, ["email"])])
    assert ResultLink.objects.filter(test__patient=purged).exists()
    retention.purge()
    assert not ResultLink.objects.filter(test__patient=purged).exists()
    assert not Notification.objects.filter(link__test__patient=purged).exists()
    assert ResultLink.objects.filter(test__patient=kept).exists()
