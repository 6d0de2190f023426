from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from relais.accounts import acting
from relais.accounts.http import RelaisRequest
from relais.accounts.models import Membership


def current_membership(request: HttpRequest) -> Membership | None:
    if not request.user.is_authenticated:
        return None
    pharmacy_id = request.session.get(acting.SESSION_KEY)
    if not pharmacy_id:
        return None
    return (
        Membership.objects.select_related("pharmacy")
        .filter(user=request.user, pharmacy_id=pharmacy_id, user__is_active=True)
        .first()
    )


class PharmacyMiddleware:
    """Sets request.membership and request.pharmacy from the pharmacy the session acts
    for (relais.accounts.acting): the scope of every query of the request.

    The membership is read again on every request, so a removed member or a suspended
    pharmacy loses access at once.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: RelaisRequest) -> HttpResponse:
        request.membership = current_membership(request)
        request.pharmacy = request.membership.pharmacy if request.membership else None
        return self.get_response(request)
