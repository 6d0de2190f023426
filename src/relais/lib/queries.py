"""Query helpers shared by the apps."""

from django.db.models import QuerySet


def unique_row(query: QuerySet):
    """The one row a look-up by a unique key finds, or None. Unlike `.first()`, no ORDER
    BY (a model's Meta.ordering or the pk): there is at most one row to order."""
    return next(iter(query.order_by()[:1]), None)
