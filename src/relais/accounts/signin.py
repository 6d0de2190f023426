"""The end of every sign-in, whatever proved the second factor (an authenticator or
recovery code, or Pro Santé Connect's card or e-CPS)."""

from django.contrib import auth
from django.shortcuts import redirect
from django_otp import login as otp_login

from relais.accounts import acting, drafts, onboarding, ownership, throttle
from relais.audit.events import record


def finish_login(request, user, device, keys):
    throttle.clear_account(keys)
    auth.login(request, user)  # rotates the session key: no session fixation
    otp_login(request, device)
    membership, must_choose = acting.at_login(request, user)
    record(
        "login.succeeded", request=request, actor=user, pharmacy=membership and membership.pharmacy
    )
    draft_path = drafts.after_login(request, user)
    if draft_path is not None:
        return redirect(draft_path)
    if ownership.awaiting_proof(user).exists():
        return redirect("accounts:prove")  # an approved application of theirs to prove
    if must_choose or onboarding.pending_for(user).exists():
        return redirect("accounts:choose_pharmacy")  # several pharmacies, or invitations
    if membership is None and user.is_staff:
        return redirect("platform:applications")
    if membership is None and user.is_auditor:
        return redirect("audit:log")
    return redirect("screening:day")
