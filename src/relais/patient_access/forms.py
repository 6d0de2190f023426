import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class BirthDateForm(forms.Form):
    """Day, month and year as three numeric fields: easy on a phone, no JavaScript."""

    day = forms.IntegerField(
        label=_("Day"),
        min_value=1,
        max_value=31,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "bday-day", "size": 2, "maxlength": 2}
        ),
    )
    month = forms.IntegerField(
        label=_("Month"),
        min_value=1,
        max_value=12,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "bday-month", "size": 2, "maxlength": 2}
        ),
    )
    year = forms.IntegerField(
        label=_("Year"),
        min_value=1900,
        max_value=2100,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "bday-year", "size": 4, "maxlength": 4}
        ),
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        try:
            data["birth_date"] = datetime.date(data["year"], data["month"], data["day"])
        except ValueError:
            raise ValidationError(_("This date does not exist."), code="invalid_date") from None
        return data
