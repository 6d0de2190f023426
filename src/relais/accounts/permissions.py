"""Who may reach which page: the one access module of the web interface, with one
refusal policy, and the table of what each pharmacy role may do.

The policy, the same for every page:
- not logged in, or the second factor (TOTP) not verified: redirect to the login page;
- logged in but not allowed (a role without the permission, no membership of an active
  pharmacy, not a platform administrator, not an auditor): 403;
- an object of another pharmacy: 404, exactly like a missing one (accounts/scoping.py).

Every page that is not public is wrapped in one of the decorators below, which marks it
with `access` (and pharmacy pages with `required_action`); tests/test_url_permissions.py
walks every URL and checks the policy. The API authenticates its own callers (api/auth.py).
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from relais.accounts import drafts
from relais.accounts.models import Membership

Role = Membership.Role

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(
        {
            "patient.view",
            "patient.edit",
            "test.record",
            "test.correct",
            "staff.manage",
            "api.manage",
            "audit.read",
            "account.psc",
        }
    ),
    # account.psc: link one's own account to Pro Santé Connect (pharmacists have an RPPS).
    Role.PHARMACIST: frozenset(
        {"patient.view", "patient.edit", "test.record", "test.correct", "account.psc"}
    ),
    Role.ASSISTANT: frozenset({"patient.view", "patient.edit", "test.record"}),
}


def role_allows(role: str, action: str) -> bool:
    return action in ROLE_PERMISSIONS.get(role, frozenset())


def redirect_to_login(request):
    from django.contrib.auth.views import redirect_to_login as django_redirect

    return (
        django_redirect(request.get_full_path())
        if request.method == "GET"
        else redirect("accounts:login")
    )


def _access_required(view, allowed: Callable, access: str, keeps_drafts: bool = False):
    """The policy itself: login and second factor first, then `allowed(request)`.

    A page that `keeps_drafts` keeps a form posted without a session for its user to
    find after logging in again, and shows it to them then (relais.accounts.drafts)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated or not request.user.is_verified():
            response = redirect_to_login(request)
            if keeps_drafts and request.method == "POST":
                if drafts.keep(request, response):
                    message = _("Your session expired: log in again; what you typed is kept.")
                else:
                    message = _("Your session expired: log in again.")
                messages.warning(request, message)
            return response
        if not allowed(request):
            raise PermissionDenied
        if keeps_drafts and request.method == "GET":
            drafts.take(request)
        response = view(request, *args, **kwargs)
        if access == "pharmacy":
            drafts.mark_owner(request, response)
        return response

    wrapper.access = access  # type: ignore[attr-defined]  # read by the URL-permission walk
    return wrapper


def pharmacy_permission_required(action: str, *, keeps_drafts: bool = False):
    """Pages of pharmacy staff: a member of an active pharmacy whose role may do `action`.
    `keeps_drafts`: the page's form survives a session's end (relais.accounts.drafts); its view
    binds the form to `drafts.form_data(request)`."""

    def allowed(request) -> bool:
        membership = getattr(request, "membership", None)
        return (
            membership is not None
            and membership.pharmacy.is_active
            and role_allows(membership.role, action)
        )

    def decorator(view):
        wrapper = _access_required(view, allowed, "pharmacy", keeps_drafts)
        wrapper.required_action = action
        wrapper.keeps_drafts = keeps_drafts
        return wrapper

    return decorator


def platform_admin_required(view):
    """Pages of the platform administrators (is_staff). Pharmacy staff are refused."""
    wrapper = _access_required(view, lambda request: request.user.is_staff, "platform_admin")
    wrapper.platform_admin = True
    return wrapper


def audit_reader_required(view):
    """The audit log: platform administrators and auditors (read-only)."""

    def allowed(request) -> bool:
        return request.user.is_staff or request.user.is_auditor

    return _access_required(view, allowed, "audit_reader")


def account_required(view):
    """Pages about the caller's own account (choosing the pharmacy to act for, answering
    invitations): any user logged in with the second factor, in a pharmacy or not. Such a
    page reaches only the caller's own rows (another person's id: 404)."""
    return _access_required(view, lambda request: True, "account")


def signed_in_required(view):
    """Pages about the caller's own session only (logout): any logged-in user, second
    factor verified or not, so that a half-open session can always be ended."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request)
        return view(request, *args, **kwargs)

    wrapper.access = "signed_in"  # type: ignore[attr-defined]  # read by the URL walk
    return wrapper
