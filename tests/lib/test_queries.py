"""relais.lib.queries."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from relais.lib.queries import unique_row
from relais.patient_access.models import ResultLink
from tests.support.patient_pages import issue


def test_a_unique_row_is_read_without_order_by(screening_test):
    link, _ = issue(screening_test)
    assert ResultLink._meta.ordering  # the model's ordering is what .first() would add
    with CaptureQueriesContext(connection) as queries:
        found = unique_row(ResultLink.objects.filter(token_hash=link.token_hash))
    assert found == link
    (select,) = [query["sql"] for query in queries.captured_queries]
    assert "ORDER BY" not in select and select.endswith("LIMIT 1")


def test_no_row_is_none(db):
    assert unique_row(ResultLink.objects.filter(token_hash="0" * 64)) is None
