import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from relais.patient_access import codes


def date_part_field(label, autocomplete: str, low: int, high: int, digits: int):
    """A number typed on a phone's numeric keypad, e.g. the day of a date."""
    return forms.IntegerField(
        label=label,
        min_value=low,
        max_value=high,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": autocomplete,
                "size": digits,
                "maxlength": digits,
            }
        ),
    )


class BirthDateForm(forms.Form):
    """Day, month and year as three numeric fields: easy on a phone, no JavaScript."""

    day = date_part_field(_("Day"), "bday-day", 1, 31, digits=2)
    month = date_part_field(_("Month"), "bday-month", 1, 12, digits=2)
    year = date_part_field(_("Year"), "bday-year", 1900, 2100, digits=4)

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


class ShortCodeForm(BirthDateForm):
    """A slip's short code and the date of birth, sent together: the answer never says
    whether a code exists unless the date is right as well."""

    code = forms.CharField(
        label=_("Code on your result slip"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "size": 16,
            }
        ),
    )

    field_order = ["code", "day", "month", "year"]

    def clean_code(self):
        code = codes.normalise(self.cleaned_data["code"])
        if code is None:
            raise ValidationError(
                _("A code has 12 letters and digits, like ABCD-EFGH-JKMN."), code="invalid_code"
            )
        return code
