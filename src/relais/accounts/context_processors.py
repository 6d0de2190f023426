from django.conf import settings

from relais.accounts import acting, onboarding
from relais.accounts.permissions import ROLE_PERMISSIONS, role_allows

KNOWN_ACTIONS = frozenset().union(*ROLE_PERMISSIONS.values())


class UnknownAction(Exception):
    """A template asked about an action no role has: a typo that would hide a button."""


class RoleRights:
    """What the caller's pharmacy role may do, for templates: `{% if may.staff_manage %}`
    is role_allows(role, "staff.manage"), the rule the pages' decorators apply, so a button
    is shown exactly to those its page accepts. Outside a pharmacy, nothing."""

    def __init__(self, role: str | None):
        self.role = role

    def __getitem__(self, name: str) -> bool:
        action = name.replace("_", ".", 1)
        if action not in KNOWN_ACTIONS:
            raise UnknownAction(name)
        return self.role is not None and role_allows(self.role, action)


def session_seconds(request) -> int:
    """Seconds until the session ends without another request (it may have been written
    a little before this one: relais.accounts.sessions)."""
    seconds_left = getattr(getattr(request, "session", None), "seconds_left", None)
    return seconds_left() if seconds_left is not None else settings.SESSION_COOKIE_AGE


def pharmacy(request):
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated

    # Callables: the template calls them (one query each) only where it shows the switch.
    def several_pharmacies() -> bool:
        return signed_in and acting.memberships_of(user)[1:2].exists()

    def pending_invitations() -> bool:
        return signed_in and onboarding.pending_for(user).exists()

    return {
        "several_pharmacies": several_pharmacies,
        "pending_invitations": pending_invitations,
        "membership": membership if membership else None,
        # For relais.js, which warns a minute before an idle session ends.
        "session_seconds": session_seconds(request),
        "may": RoleRights(membership.role if membership else None),
    }
