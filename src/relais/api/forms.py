from django import forms
from django.utils.translation import gettext_lazy as _


class CredentialForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_('Which software or computer uses it, e.g. "LGO counter 1".'),
    )

    def clean_name(self):
        return " ".join(self.cleaned_data["name"].split())
