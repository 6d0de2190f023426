"""Pro Santé Connect pages: the round trip's start and its return, and the account page
where a signed-in pharmacist links their account to their PSC identity.

The round trip itself (PKCE, state, nonce, the ID token's checks) is relais.accounts.psc;
what a proven identity allows is relais.accounts.ownership."""

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from relais.accounts import onboarding, ownership, psc, throttle, tokens
from relais.accounts.models import AccountToken
from relais.accounts.permissions import pharmacy_permission_required, redirect_to_login
from relais.accounts.signin import finish_login
from relais.audit.events import record
from relais.lib.http import client_address

Purpose = psc.Purpose
BACK = {
    Purpose.ACTIVATE: "accounts:activate",
    Purpose.LOGIN: "accounts:login",
    Purpose.LINK: "accounts:account",
    Purpose.PROVE: "accounts:prove",
}


def _verified(request) -> bool:
    return request.user.is_authenticated and request.user.is_verified()


def _link_invalid(request):
    response = render(request, "accounts/link_invalid.html", status=404)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_POST
def start(request):
    """POST (with the CSRF token): nobody can start a round trip in someone else's
    browser. Each purpose has its own gate: the activation link's token in the session,
    or a signed-in session for linking."""
    purpose = request.POST.get("purpose", "")
    if not psc.enabled() or purpose not in Purpose.ALL:
        raise Http404
    if purpose in (Purpose.LINK, Purpose.PROVE) and not _verified(request):
        return redirect_to_login(request)
    if (
        purpose == Purpose.ACTIVATE
        and tokens.from_session(request, AccountToken.Purpose.ACTIVATION) is None
    ):
        return _link_invalid(request)
    try:
        url = psc.begin(request, purpose)
    except psc.PscError as error:
        record("psc.refused", request=request, details={"reason": error.reason, "step": "start"})
        messages.error(
            request, _("Pro Santé Connect cannot be reached right now. Try again later.")
        )
        return redirect(BACK[purpose])
    return HttpResponseRedirect(url)


@never_cache
@require_GET
def callback(request):
    """The provider's answer (?code=…&state=…). The page that follows never sends this
    address on as a referrer."""
    purpose = psc.pending_purpose(request) or Purpose.LOGIN
    try:
        purpose, identity = psc.complete(request)
    except psc.PscError as error:
        record("psc.refused", request=request, details={"reason": error.reason, "step": "return"})
        messages.error(
            request,
            _("Pro Santé Connect's answer could not be verified: nothing was changed. Try again."),
        )
        response = redirect(BACK.get(purpose, "accounts:login"))
    else:
        if purpose == Purpose.ACTIVATE:
            response = _prove_activation(request, identity)
        elif purpose == Purpose.LINK:
            response = _link(request, identity)
        elif purpose == Purpose.PROVE:
            response = _prove_signed_in(request, identity)
        else:
            response = _login(request, identity)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _prove_activation(request, identity):
    account_token = tokens.from_session(request, AccountToken.Purpose.ACTIVATION)
    if account_token is None:
        return _link_invalid(request)
    if ownership.prove_by_psc(account_token.user, identity, request):
        messages.success(
            request,
            _(
                "Pro Santé Connect confirmed your RPPS number. Choose your password and set up "
                "your authenticator app to finish."
            ),
        )
    else:
        messages.error(
            request,
            _(
                "The RPPS number Pro Santé Connect returned is not the one of this application: "
                "the account was not activated. Use the code of the letter sent to the "
                "pharmacy, or contact the platform."
            ),
        )
    return redirect("accounts:activate")


def _prove_signed_in(request, identity):
    if not _verified(request):
        return redirect_to_login(request)
    if ownership.prove_by_psc(request.user, identity, request):
        messages.success(
            request,
            _("Pro Santé Connect confirmed your RPPS number: you are the pharmacy's owner."),
        )
        return redirect("accounts:choose_pharmacy")
    messages.error(
        request,
        _(
            "The RPPS number Pro Santé Connect returned is not the one of this application. "
            "Use the code of the letter sent to the pharmacy, or contact the platform."
        ),
    )
    return redirect("accounts:prove")


def _login(request, identity):
    user, device = ownership.user_for_login(identity)
    if user is None or not onboarding.can_sign_in(user):
        record("psc.login_refused", request=request)
        messages.error(
            request,
            _(
                "No Relais account is linked to this Pro Santé Connect identity. Log in with "
                "your password and authenticator code, then link it from your account page."
            ),
        )
        return redirect("accounts:login")
    keys = throttle.throttle_keys(user.email, client_address(request))
    return finish_login(request, user, device, keys)


def _link(request, identity):
    if not _verified(request):
        return redirect_to_login(request)
    try:
        ownership.link(request.user, identity, request)
    except onboarding.OnboardingError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _(
                "Your account is linked to Pro Santé Connect: you may log in with your card "
                "or e-CPS."
            ),
        )
    return redirect("accounts:account")


@never_cache
@pharmacy_permission_required("account.psc")
def account(request):
    context = {"psc_enabled": psc.enabled(), "linked": request.user.rpps_verified_at is not None}
    return render(request, "accounts/account.html", context)
