from django import forms
from django.utils.translation import gettext_lazy as _

from relais.api import webhooks


class CredentialForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_('Which software or computer uses it, e.g. "LGO counter 1".'),
    )

    def clean_name(self):
        return " ".join(self.cleaned_data["name"].split())


class WebhookForm(forms.Form):
    url = forms.CharField(
        label=_("Webhook address"),
        max_length=500,
        help_text=_("An https:// address of your software, reachable from the internet."),
    )

    def clean_url(self):
        return webhooks.check_url(self.cleaned_data["url"])
