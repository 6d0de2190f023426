"""The platform administrators' view of the transmission pipeline."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from relais.accounts.permissions import platform_admin_required
from relais.audit.events import record
from relais.transmission import outbox, pipeline
from relais.transmission.models import Transmission


@platform_admin_required
def operations(request):
    return render(request, "transmission/operations.html", pipeline.summary())


@require_POST
@platform_admin_required
def retry(request, transmission_id):
    row = get_object_or_404(Transmission.objects.select_related("pharmacy"), pk=transmission_id)
    if outbox.retry_dead(row):
        record("transmission.retry", request=request, pharmacy=row.pharmacy, target=row)
        messages.success(request, _("The transmission is queued again."))
    else:
        messages.warning(request, _("This transmission is no longer dead-lettered."))
    return redirect("transmission:operations")


@require_POST
@platform_admin_required
def retry_all(request):
    rows = list(
        Transmission.objects.filter(state=Transmission.State.DEAD).select_related("pharmacy")
    )
    retried = [row for row in rows if outbox.retry_dead(row)]
    for row in retried:
        record("transmission.retry", request=request, pharmacy=row.pharmacy, target=row)
    messages.success(
        request, _("%(count)d transmissions are queued again.") % {"count": len(retried)}
    )
    return redirect("transmission:operations")
