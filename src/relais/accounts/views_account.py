"""A person's own pages: the pharmacy they act for, the invitations waiting for their
answer, and setting up a new authenticator after their second factor was reset."""

import datetime

import segno
from django.contrib import auth, messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from relais.accounts import acting, onboarding, ownership, psc, throttle
from relais.accounts.demo import totp_secret_base32
from relais.accounts.forms import EnrolCodeForm, LetterCodeForm, PasswordForm
from relais.accounts.models import Invitation, User
from relais.accounts.permissions import account_required
from relais.audit.events import record
from relais.lib.http import client_address

ENROL_SESSION_KEY = "relais_enrol"
ENROL_MINUTES = 10


@require_http_methods(["GET", "POST"])
@account_required
def choose_pharmacy(request):
    """The pharmacies the person belongs to (POST `pharmacy`: act for it from now on),
    and the invitations waiting for their answer."""
    memberships = list(acting.memberships_of(request.user))
    if request.method == "POST":
        chosen = next(
            (m for m in memberships if str(m.pharmacy_id) == request.POST.get("pharmacy")), None
        )
        if chosen is None:
            raise Http404
        acting.act_for(request, chosen)
        record("pharmacy.chosen", request=request, pharmacy=chosen.pharmacy)
        return redirect("screening:day")
    context = {
        "memberships": memberships,
        "invitations": list(onboarding.pending_for(request.user).order_by("created_at")),
        "acting_for": request.session.get(acting.SESSION_KEY),
    }
    return render(request, "accounts/choose_pharmacy.html", context)


@require_POST
@account_required
def answer_invitation(request, invitation_id):
    """POST `answer` = accept or decline, on one of the caller's own invitations."""
    answer = request.POST.get("answer")
    if answer not in ("accept", "decline"):
        raise Http404
    try:
        invitation = onboarding.answer_invitation(
            request.user, invitation_id, answer == "accept", request
        )
    except (Invitation.DoesNotExist, ValueError):
        raise Http404 from None
    if answer == "accept":
        messages.success(
            request,
            _("You now belong to %(pharmacy)s: choose it below to act for it.")
            % {"pharmacy": invitation.pharmacy.name},
        )
    else:
        messages.success(request, _("Invitation declined."))
    return redirect("accounts:choose_pharmacy")


# --- A new authenticator after a reset ------------------------------------------------------


def _enrolling(request) -> User | None:
    """The user whose password this browser gave on the first step, for ENROL_MINUTES."""
    entry = request.session.get(ENROL_SESSION_KEY)
    if not isinstance(entry, dict):
        return None
    started = datetime.datetime.fromisoformat(entry.get("at", "2000-01-01T00:00:00+00:00"))
    if timezone.now() - started > datetime.timedelta(minutes=ENROL_MINUTES):
        request.session.pop(ENROL_SESSION_KEY, None)
        return None
    user = User.objects.filter(pk=str(entry.get("user", "")), is_active=True).first()
    return user if user is not None and onboarding.needs_enrolment(user) else None


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def enrol(request):
    """After the pharmacy's owner reset their second factor: the password (throttled like
    the login), then a new authenticator confirmed with its code, then new recovery codes.
    It logs nobody in: the login that follows asks for the password and the new code."""
    user = _enrolling(request)
    if user is None:
        return enrol_password(request)
    device = onboarding.pending_device(user)
    form = EnrolCodeForm(device, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=user.pk)
            if not onboarding.needs_enrolment(locked):
                raise Http404
            codes = onboarding.complete_enrolment(request, locked, device)
        request.session.pop(ENROL_SESSION_KEY, None)
        context = {"codes": codes, "reenrolled": True}
        return render(request, "accounts/recovery_codes.html", context)
    context = {
        "form": form,
        "account": user,
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=5),
        "secret": totp_secret_base32(device),
    }
    return render(request, "accounts/enrol.html", context)


def enrol_password(request):
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        keys = throttle.throttle_keys(email, client_address(request))
        until = throttle.locked_until(keys)
        if until is None:
            throttle.slow_down(keys)
            user = auth.authenticate(
                request, username=email, password=form.cleaned_data["password"]
            )
            if user is not None and onboarding.needs_enrolment(user):
                throttle.clear_account(keys)
                request.session.cycle_key()
                request.session[ENROL_SESSION_KEY] = {
                    "user": str(user.pk),
                    "at": timezone.now().isoformat(),
                }
                return redirect("accounts:enrol")
            throttle.record_failure(keys)
            record("login.failed", request=request, actor=user)
            until = throttle.locked_until(keys)
        if until is not None:
            form.add_error(None, throttle.lockout_message(until))
        else:
            # One answer whatever was wrong: it tells nothing about the account.
            form.add_error(
                None,
                _(
                    "E-mail or password is incorrect, or this account has no new "
                    "authenticator to set up."
                ),
            )
    return render(request, "accounts/enrol.html", {"form": form, "password_step": True})


@never_cache
@require_http_methods(["GET", "POST"])
@account_required
def prove(request):
    """A signed-in person whose e-mail an approved application gave as its owner's proves
    the application is theirs (Pro Santé Connect, or the letter's code) before acting for
    the pharmacy: typing someone's e-mail in an application joins them to nothing."""
    awaiting = list(ownership.awaiting_proof(request.user))
    if not awaiting:
        return render(request, "accounts/nothing_to_prove.html")
    form = LetterCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if ownership.prove_by_letter(request.user, form.cleaned_data["code"], request):
            messages.success(
                request, _("The letter's code is right: you are the pharmacy's owner.")
            )
            return redirect("accounts:choose_pharmacy")
        form.add_error(
            "code",
            _(
                "This code is not valid, or the letter has expired. After a few wrong "
                "tries a letter stops working: ask the platform for a new one."
            ),
        )
    context = {
        "form": form,
        "account": request.user,
        "psc_enabled": psc.enabled(),
        "psc_purpose": psc.Purpose.PROVE,
        "applications": awaiting,
    }
    return render(request, "accounts/activate_proof.html", context)
