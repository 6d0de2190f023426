"""The pharmacy a session acts for: one person may belong to several pharmacies.

The session holds the id of the pharmacy its user acts for (SESSION_KEY); the middleware
reads it on every request, checks the membership again and sets `request.pharmacy`, the
scope of every query. Only this module writes it:

- at login, a person with one membership acts for it; with several, for none until they
  choose (the chooser page, `accounts:choose_pharmacy`);
- switching (the chooser, or the header's switch) keeps the login and its second factor
  and drops everything else the session held for the previous pharmacy (searches, a draft
  to restore, form state): nothing typed in one pharmacy shows in another.

Removing a member from a pharmacy ends the sessions acting for it, and only those
(`end_sessions`): the acting pharmacy is read from each session itself.
"""

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.contrib.auth import SESSION_KEY as USER_KEY
from django.contrib.sessions.models import Session
from django_otp import DEVICE_ID_SESSION_KEY

from relais.accounts.models import Membership, UserSession

SESSION_KEY = "pharmacy_id"
# What survives a switch: who is logged in, and with which second factor.
KEPT_ON_SWITCH = frozenset({USER_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY, DEVICE_ID_SESSION_KEY})


def memberships_of(user):
    return (
        Membership.objects.filter(user=user, user__is_active=True)
        .select_related("pharmacy")
        .order_by("pharmacy__name", "pharmacy_id")
    )


def at_login(request, user) -> tuple[Membership | None, bool]:
    """After a full login: (the membership the session now acts for, whether the person
    must choose one first)."""
    memberships = list(memberships_of(user)[:2])
    if len(memberships) == 1:
        request.session[SESSION_KEY] = str(memberships[0].pharmacy_id)
        return memberships[0], False
    request.session.pop(SESSION_KEY, None)
    return None, len(memberships) > 1


def act_for(request, membership: Membership) -> None:
    """The session acts for `membership`'s pharmacy from now on (a membership of the
    session's own user, found through memberships_of)."""
    for key in list(request.session.keys()):
        if key not in KEPT_ON_SWITCH:
            del request.session[key]
    request.session[SESSION_KEY] = str(membership.pharmacy_id)


def end_sessions(user, pharmacy=None) -> int:
    """End `user`'s sessions: all of them, or those acting for `pharmacy` only. Returns
    how many ended."""
    index = UserSession.objects.filter(user=user)
    keys = list(index.values_list("session_key", flat=True))
    sessions = Session.objects.filter(session_key__in=keys)
    if pharmacy is not None:
        wanted = str(pharmacy.pk)
        keys = [s.session_key for s in sessions if s.get_decoded().get(SESSION_KEY) == wanted]
        sessions = Session.objects.filter(session_key__in=keys)
        index = index.filter(session_key__in=keys)
    deleted, _ = sessions.delete()
    index.delete()
    return deleted
