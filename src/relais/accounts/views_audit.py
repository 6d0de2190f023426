"""The audit log, for platform administrators and auditors (read-only).

The page lives with the accounts it filters by (pharmacies, users), so that the audit app
itself imports no domain app.
"""

from django import forms
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from relais.accounts.models import Pharmacy, User
from relais.accounts.permissions import audit_reader_required
from relais.audit import actions
from relais.audit.chain import chain_lag
from relais.audit.events import record
from relais.audit.models import AuditEvent, ChainHead
from relais.lib import dates
from relais.lib.dates import local_day_bounds

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    pharmacy = forms.ModelChoiceField(
        label=_("Pharmacy"), queryset=Pharmacy.objects.order_by("name"), required=False
    )
    user = forms.EmailField(label=_("User's e-mail"), required=False, max_length=254)
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=64,
        help_text=_("An action, or its beginning: “patient.” lists every patient action."),
    )
    date_from = dates.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = dates.DateField(
        label=_("To (included)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


def filtered_events(data: dict):
    events = AuditEvent.objects.order_by("-id")
    if data.get("pharmacy"):
        events = events.filter(pharmacy_id=data["pharmacy"].pk)
    if data.get("user"):
        user = User.objects.filter(email__iexact=data["user"]).first()
        events = events.filter(actor_id=user.pk) if user is not None else events.none()
    if data.get("action"):
        events = events.filter(action__startswith=data["action"])
    if data.get("date_from"):
        events = events.filter(created_at__gte=local_day_bounds(data["date_from"])[0])
    if data.get("date_to"):
        events = events.filter(created_at__lt=local_day_bounds(data["date_to"])[1])
    return events


@require_GET
@audit_reader_required
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    events = filtered_events(data) if not form.errors else AuditEvent.objects.none()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    actors = User.objects.in_bulk({e.actor_id for e in rows if e.actor_id})
    pharmacies = Pharmacy.objects.in_bulk({e.pharmacy_id for e in rows if e.pharmacy_id})
    for event in rows:
        event.actor = actors.get(event.actor_id)
        event.pharmacy = pharmacies.get(event.pharmacy_id)
        event.action_label = actions.label(event.action)
    query = request.GET.copy()
    query.pop("page", None)
    filters = {k: str(v.pk if hasattr(v, "pk") else v) for k, v in data.items() if v}
    filters.pop("user", None)  # a professional's address: the actor id is enough
    record("audit.view", request=request, details={"filters": filters, "page": page.number})
    context = {
        "form": form,
        "page": page,
        "events": rows,
        "query": query.urlencode(),
        "lag": chain_lag(),
        "head": ChainHead.objects.filter(pk=1).first(),
    }
    return render(request, "audit/log.html", context)
