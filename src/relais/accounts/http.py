"""The requests Relais views receive, typed for mypy (django-stubs).

StaffSessionMiddleware sets `membership` and `pharmacy` on every request (None outside a
pharmacy session); a view behind `pharmacy_permission_required` is only reached with a
verified user of an active pharmacy, so its request is a PharmacyRequest.
"""

from django.http import HttpRequest

from relais.accounts.models import Membership, Pharmacy, User


class RelaisRequest(HttpRequest):
    membership: Membership | None
    pharmacy: Pharmacy | None


class PharmacyRequest(RelaisRequest):
    user: User
    membership: Membership
    pharmacy: Pharmacy


# The field a confirmation page's form sends (a page that spells out what an action does
# before it is done): a POST without it changes nothing.
CONFIRMED = "confirmed"


def confirmed(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get(CONFIRMED) == "1"
