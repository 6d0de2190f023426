"""Writing events (relais.audit.events.record): one INSERT, in the caller's transaction
when there is one; what it stores is what the chain hashes."""

import threading

import pytest
from django.db import connection, transaction

from relais.audit import chain
from relais.audit.events import record
from relais.audit.models import AuditEvent
from tests.support.commits import Commits


@pytest.mark.django_db
def test_an_event_is_one_insert_and_stores_what_it_returns(pharmacist, pharmacy, patient):
    with Commits() as commits:
        returned = record(
            "patient.view", actor=pharmacist, pharmacy=pharmacy, target=patient,
            details={"as": "possible_duplicate", "ids": ["a", "é"]},
        )  # fmt: skip
    assert commits.writes_to("audit_auditevent") == commits.sql  # nothing else, one statement
    assert len(commits.sql) == 1
    stored = AuditEvent.objects.get()
    assert returned.pk == stored.pk and returned.created_at == stored.created_at
    assert (stored.actor_id, stored.pharmacy_id) == (pharmacist.pk, pharmacy.pk)
    assert (stored.target_type, stored.target_id) == ("screening.patient", str(patient.pk))
    assert stored.details == {"as": "possible_duplicate", "ids": ["a", "é"]}
    assert stored.chain_seq is None and stored.prev_hash == stored.hash == ""
    assert chain.chain_all() == 1 and chain.verify_chain().ok


@pytest.mark.django_db
def test_an_unknown_action_is_refused():
    with pytest.raises(ValueError):
        record("patient.peek")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_event_rolled_back_with_its_transaction_leaves_no_hole():
    record("test.view", details={"n": 1})

    class Failed(Exception):
        pass

    with pytest.raises(Failed), transaction.atomic():
        record("test.view", details={"n": 2})
        raise Failed
    record("test.view", details={"n": 3})
    assert chain.chain_all() == 2
    verification = chain.verify_chain()
    assert verification.ok and verification.checked == 2
    kept = AuditEvent.objects.order_by("chain_seq").values_list("details", flat=True)
    assert list(kept) == [{"n": 1}, {"n": 3}]


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_after_later_ones_were_chained_gets_the_next_position():
    """A request's transaction holds its event (a lower id) while others commit and the
    worker chains them: it is chained at the next position once committed."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    inserted, release = threading.Event(), threading.Event()

    def long_request():
        try:
            with transaction.atomic():
                record("patient.view", details={"request": "long"})
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=long_request)
    thread.start()
    assert inserted.wait(10)
    record("patient.view", details={"request": "short"})
    assert chain.chain_all() == 1  # the long request's event is not visible yet
    release.set()
    thread.join(10)
    assert chain.chain_all() == 1
    events = AuditEvent.objects.order_by("chain_seq")
    assert [e.details["request"] for e in events] == ["short", "long"]
    assert events[0].pk > events[1].pk  # the lower id, chained second
    assert chain.verify_chain().ok
