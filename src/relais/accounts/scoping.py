"""Pharmacy scope: the one way to reach an object from an id taken from a request."""

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.http import Http404


class PharmacyScopedQuerySet(models.QuerySet):
    def for_pharmacy(self, pharmacy):
        if pharmacy is None:
            return self.none()
        return self.filter(pharmacy=pharmacy)

    def get_for_pharmacy_or_404(self, pharmacy, **lookup):
        """Another pharmacy's object answers exactly like a missing one. The object found
        holds `pharmacy` (its own, the query says so): reading it costs no query."""
        try:
            found = self.for_pharmacy(pharmacy).get(**lookup)
        except (ObjectDoesNotExist, ValueError, TypeError):
            raise Http404 from None
        if isinstance(pharmacy, models.Model):
            found.pharmacy = pharmacy
        return found
