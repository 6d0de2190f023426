from django import forms
from django.utils.translation import gettext_lazy as _


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns separated by ; or , — UTF-8 or Latin-1 (Windows) text."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
