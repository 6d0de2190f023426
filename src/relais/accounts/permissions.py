"""Roles and what they may do: the one table the whole project checks against."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

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
        }
    ),
    Role.PHARMACIST: frozenset({"patient.view", "patient.edit", "test.record", "test.correct"}),
    Role.ASSISTANT: frozenset({"patient.view", "patient.edit", "test.record"}),
}


def role_allows(role: str, action: str) -> bool:
    return action in ROLE_PERMISSIONS.get(role, frozenset())


def pharmacy_permission_required(action: str):
    """Views of pharmacy staff: verified login (password + TOTP), an active pharmacy,
    and a role allowed to do `action`. Anything else is refused before the view runs."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated or not request.user.is_verified():
                return redirect_to_login(request)
            membership = getattr(request, "membership", None)
            if membership is None or not membership.pharmacy.is_active:
                raise PermissionDenied
            if not role_allows(membership.role, action):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.required_action = action  # type: ignore[attr-defined]  # read by the security tests
        return wrapper

    return decorator


def redirect_to_login(request):
    from django.contrib.auth.views import redirect_to_login as django_redirect

    return (
        django_redirect(request.get_full_path())
        if request.method == "GET"
        else redirect("accounts:login")
    )


def platform_admin_required(view):
    """Views of the platform administrators: a verified login (password + TOTP) of a user
    with is_staff. Pharmacy staff are refused."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated or not request.user.is_verified():
            return redirect_to_login(request)
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapper.platform_admin = True  # type: ignore[attr-defined]  # read by the security tests
    return wrapper


def audit_reader_required(view):
    """The audit log's readers: a verified login (password + TOTP) of a platform
    administrator or an auditor."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated or not request.user.is_verified():
            return redirect_to_login(request)
        if not (request.user.is_staff or request.user.is_auditor):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
