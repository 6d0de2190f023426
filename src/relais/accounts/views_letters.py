"""The activation letter: a platform administrator prints a one-time code to post to the
pharmacy's address in the establishment directory (relais.accounts.ownership)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from relais.accounts import onboarding, ownership
from relais.accounts.models import PharmacyApplication
from relais.accounts.permissions import platform_admin_required
from relais.directory.checks import establishment_address


@never_cache
@require_POST
@platform_admin_required
def activation_letter(request, application_id):
    """POST: a new code (earlier letters stop working), shown once on a page to print."""
    get_object_or_404(PharmacyApplication, pk=application_id)
    try:
        application, code, letter = ownership.issue_letter(application_id, request.user, request)
    except onboarding.OnboardingError as error:
        messages.error(request, str(error))
        return redirect("platform:application_detail", application_id=application_id)
    context = {
        "application": application,
        "code": code,
        "letter": letter,
        # Read from the directory now: never an address the applicant typed.
        "address": establishment_address(application.finess),
    }
    return render(request, "operations/activation_letter.html", context)
