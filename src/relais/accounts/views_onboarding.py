"""Public pages: the pharmacy application, account activation and password reset."""

from collections.abc import Callable
from functools import wraps

import segno
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from relais.accounts import mail, onboarding, ownership, psc, tokens
from relais.accounts.demo import totp_secret_base32
from relais.accounts.forms import (
    ActivationForm,
    ApplicationForm,
    LetterCodeForm,
    PasswordResetRequestForm,
    SetPasswordForm,
)
from relais.accounts.models import AccountToken, User
from relais.audit.events import record
from relais.lib import ratelimit
from relais.lib.http import client_address

Purpose = AccountToken.Purpose


def rate_limited(request, scope: str):
    verdict = ratelimit.hit(
        scope, client_address(request), settings.PUBLIC_FORM_RATE_PER_HOUR, window_seconds=3600
    )
    if verdict.allowed:
        return None
    response = render(request, "accounts/rate_limited.html", status=429)
    response["Retry-After"] = str(verdict.retry_after)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def apply(request):
    form = ApplicationForm(request.POST or None)
    if request.method == "POST":
        if refusal := rate_limited(request, "apply"):
            return refusal
        if form.is_valid():
            onboarding.submit_application(form.cleaned_data, request)
            # The same answer whatever the checks found: the directory stays private.
            return redirect("apply:received")
    return render(request, "accounts/apply.html", {"form": form})


def application_received(request):
    return render(request, "accounts/apply_received.html")


def link_invalid(request):
    return render(request, "accounts/link_invalid.html", status=404)


def swap_token_for_session(request, purpose: str):
    """?t=TOKEN -> the session remembers the token, and the address bar forgets it."""
    account_token = tokens.find(request.GET.get("t", ""), purpose)
    if account_token is None:
        return link_invalid(request)
    tokens.remember(request, account_token)
    return redirect(request.path)


def opened_by_link(purpose: str):
    """For a page that a link in an e-mail opens: the link's token is swapped for the
    session, and the view gets the session's token as its second argument; without a
    usable one, the link-invalid page.

    The answers to an address holding a token (the swap's redirect, the invalid-link
    page) send no Referer at all. The token-free form page keeps the site's same-origin
    policy: under `no-referrer` browsers post its form with `Origin: null`, which the CSRF
    check refuses, and its address has nothing to hide."""

    def decorator(view: Callable[[HttpRequest, AccountToken], HttpResponse]):
        @wraps(view)
        def opened(request: HttpRequest) -> HttpResponse:
            if "t" in request.GET:
                response = swap_token_for_session(request, purpose)
                response["Referrer-Policy"] = "no-referrer"
                return response
            account_token = tokens.from_session(request, purpose)
            if account_token is None:
                response = link_invalid(request)
                response["Referrer-Policy"] = "no-referrer"
                return response
            return view(request, account_token)

        return opened

    return decorator


@never_cache
@require_http_methods(["GET", "POST"])
@opened_by_link(Purpose.ACTIVATION)
def activate(request, account_token: AccountToken):
    user = account_token.user
    if ownership.awaiting_proof(user).exists():
        # The e-mailed link alone proves nothing: the owner first proves the application
        # is theirs (relais.accounts.ownership).
        return prove_ownership(request, user)
    device = onboarding.pending_device(user)
    form = ActivationForm(user, device, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = tokens.from_session(request, Purpose.ACTIVATION, for_update=True)
            if locked is None:  # spent by a concurrent request
                return link_invalid(request)
            if ownership.awaiting_proof(locked.user).exists():
                return redirect("accounts:activate")
            codes = onboarding.complete_activation(
                request, locked, device, form.cleaned_data["password1"]
            )
        return render(request, "accounts/recovery_codes.html", {"codes": codes})
    context = {
        "form": form,
        "account": user,
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=5),
        "secret": totp_secret_base32(device),
    }
    return render(request, "accounts/activate.html", context)


def prove_ownership(request, user):
    """Step one of an owner's activation: Pro Santé Connect, or the letter's code."""
    form = LetterCodeForm(request.POST or None)
    if request.method == "POST":
        if refusal := rate_limited(request, "letter"):
            return refusal
        if form.is_valid():
            if ownership.prove_by_letter(user, form.cleaned_data["code"], request):
                messages.success(
                    request,
                    _(
                        "The letter's code is right. Choose your password and set up your "
                        "authenticator app to finish."
                    ),
                )
                return redirect("accounts:activate")
            form.add_error(
                "code",
                _(
                    "This code is not valid, or the letter has expired. After a few wrong "
                    "tries a letter stops working: ask the platform for a new one."
                ),
            )
    context = {"form": form, "account": user, "psc_enabled": psc.enabled()}
    return render(request, "accounts/activate_proof.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request):
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST":
        if refusal := rate_limited(request, "reset"):
            return refusal
        if form.is_valid():
            request_reset(request, form.cleaned_data["email"].lower())
            return redirect("accounts:reset_sent")
    return render(request, "accounts/password_reset.html", {"form": form})


class _DecoyToken(Exception):
    """Rolls back the token issued for an address that opens no account."""


@transaction.atomic
def request_reset(request, email: str) -> None:
    """The same queries, writes and rendering for any address, so the response time does
    not tell whether an account exists: an address that opens no account gets a decoy
    user (never saved) that goes through the same checks and the same token issue, in a
    savepoint rolled back at once (foreign keys are checked at commit, so the token row
    for the decoy is written and then undone), and an e-mail queued for nobody (the
    worker discards it)."""
    user = User.objects.filter(email=email, is_active=True).first()
    target = user or User(email="", is_active=True)  # the decoy: a fresh UUID, no row
    able = onboarding.can_sign_in(target) and user is not None
    try:
        with transaction.atomic():
            token = tokens.issue(target, Purpose.RESET)
            if not able:
                raise _DecoyToken
    except _DecoyToken:
        pass
    recipient = user.email if able and user is not None else ""
    mail.enqueue(recipient, "reset", reset_context(tokens.link(token, Purpose.RESET)))
    record("password.reset_requested", request=request, target=user if able else None)


def reset_context(link: str) -> dict:
    return {"link": link, "minutes": settings.PASSWORD_RESET_LINK_MINUTES}


def password_reset_sent(request):
    return render(request, "accounts/password_reset_sent.html")


@never_cache
@require_http_methods(["GET", "POST"])
@opened_by_link(Purpose.RESET)
def password_reset_confirm(request, account_token: AccountToken):
    form = SetPasswordForm(account_token.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = tokens.from_session(request, Purpose.RESET, for_update=True)
            if locked is None:
                return link_invalid(request)
            user = locked.user
            user.set_password(form.cleaned_data["password1"])
            user.save(update_fields=["password"])
            tokens.spend(request, locked)
            onboarding.end_sessions(user)
            record("password.reset", request=request, actor=user, target=user)
        # No login here: signing in still takes the password and the second factor.
        messages.success(
            request, _("Your password has changed. Sign in with it and your authenticator code.")
        )
        return redirect("accounts:login")
    return render(request, "accounts/password_reset_confirm.html", {"form": form})
