from django.contrib import auth
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from relais.accounts import drafts, psc, throttle
from relais.accounts.forms import LoginForm
from relais.accounts.otp import verify_device_token
from relais.accounts.permissions import signed_in_required
from relais.accounts.signin import finish_login
from relais.audit.events import record
from relais.lib.http import client_address


def verify_totp(user, token: str) -> TOTPDevice | None:
    for device in TOTPDevice.objects.devices_for_user(user, confirmed=True):
        if verify_device_token(device, token):
            return device
    return None


def verify_second_factor(user, token: str):
    """A TOTP code, or a recovery code (each works once: django-otp deletes it)."""
    if token.isdigit():
        return verify_totp(user, token)
    for device in StaticDevice.objects.devices_for_user(user, confirmed=True):
        if verify_device_token(device, token):
            return device
    return None


@never_cache
@csrf_protect
def login(request):
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        keys = throttle.throttle_keys(email, client_address(request))
        until = throttle.locked_until(keys)
        if until is None:
            throttle.slow_down(keys)
            user = auth.authenticate(
                request, username=email.lower(), password=form.cleaned_data["password"]
            )
            device = verify_second_factor(user, form.cleaned_data["otp_token"]) if user else None
            if device is not None:
                return finish_login(request, user, device, keys)
            throttle.record_failure(keys)
            record("login.failed", request=request, actor=user)
            until = throttle.locked_until(keys)
        else:
            record("login.refused_locked", request=request)
        if until is not None:
            form.add_error(None, throttle.lockout_message(until))
        else:
            # One message for every failure: it must not tell which factor was wrong.
            form.add_error(None, _("E-mail, password or authenticator code is incorrect."))
    return render(request, "accounts/login.html", {"form": form, "psc_enabled": psc.enabled()})


@require_POST
@signed_in_required
def logout(request):
    record("logout", request=request)
    user = request.user
    auth.logout(request)
    response = redirect("accounts:login")
    drafts.forget(request, user, response)
    return response
