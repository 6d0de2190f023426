from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from relais.accounts.otp import verify_device_token
from relais.phone import normalise_phone


class PasswordForm(forms.Form):
    """An account's e-mail and password: the first step of setting up a new authenticator
    after a reset, and the first two fields of the login form."""

    email = forms.EmailField(
        label=_("E-mail"),
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class LoginForm(PasswordForm):
    # The authenticator's 6 digits, or one of the one-time recovery codes (xxxxx-xxxxx).
    otp_token = forms.RegexField(
        label=_("Authenticator code"),
        regex=r"^(\d{6}|[A-Za-z2-7]{5}-?[A-Za-z2-7]{5})$",
        help_text=_("Lost your phone? Enter one of your recovery codes instead."),
        error_messages={
            "invalid": _(
                "Enter the 6-digit code shown by your authenticator app, or a recovery code."
            )
        },
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "maxlength": "11"}),
    )

    def clean_otp_token(self):
        return self.cleaned_data["otp_token"].replace("-", "").lower()


class NumberField(forms.RegexField):
    """An identifier typed by a person: spaces inside it are not errors."""

    def to_python(self, value):
        return "".join((super().to_python(value) or "").split())


class ApplicationForm(forms.Form):
    pharmacy_name = forms.CharField(label=_("Pharmacy name"), max_length=200)
    finess = NumberField(
        label=_("FINESS number of the pharmacy"),
        regex=r"^\d[0-9ABab]\d{7}$",
        help_text=_("9 characters, as on the establishment's FINESS record."),
        error_messages={"invalid": _("A FINESS number has 9 characters, e.g. 750000017.")},
    )
    pharmacy_phone = forms.CharField(
        label=_("Pharmacy phone number"),
        max_length=30,
        required=False,
        help_text=_("Shown to patients who need to call the pharmacy about their result."),
    )
    owner_name = forms.CharField(label=_("Your full name"), max_length=150)
    owner_rpps = NumberField(
        label=_("Your RPPS number"),
        regex=r"^\d{11}$",
        help_text=_("11 digits, as on your CPS card."),
        error_messages={"invalid": _("An RPPS number has 11 digits.")},
    )
    owner_email = forms.EmailField(label=_("Your e-mail"), max_length=254)

    def clean_finess(self):
        return self.cleaned_data["finess"].upper()

    def clean_owner_email(self):
        return self.cleaned_data["owner_email"].lower()

    def clean_pharmacy_phone(self):
        value = self.cleaned_data["pharmacy_phone"]
        return normalise_phone(value) if value.strip() else ""


class SetPasswordForm(forms.Form):
    password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        help_text=_("At least 12 characters; not a common password."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second:
            if first != second:
                self.add_error("password2", _("The two passwords differ."))
            else:
                try:
                    password_validation.validate_password(first, self.user)
                except ValidationError as error:
                    self.add_error("password1", error)
        return cleaned


class ActivationForm(SetPasswordForm):
    otp_token = forms.RegexField(
        label=_("Code shown by your authenticator app"),
        regex=r"^\d{6}$",
        error_messages={"invalid": _("Enter the 6-digit code shown by your authenticator app.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "6"}
        ),
    )

    def __init__(self, user, device, *args, **kwargs):
        self.device = device
        super().__init__(user, *args, **kwargs)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        # Checked last: a wrong code slows down the next try (django-otp throttling).
        if not self.errors and not verify_device_token(self.device, cleaned["otp_token"]):
            self.add_error(
                "otp_token",
                _("This code does not match: check the app's clock and enter the current code."),
            )
        return cleaned


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"), max_length=254)
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[
            ("pharmacist", _("Pharmacist: records, corrects and validates tests")),
            ("assistant", _("Assistant: records tests only")),
        ],
        widget=forms.RadioSelect,
    )

    def clean_email(self):
        return self.cleaned_data["email"].lower()


class RefusalForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for refusal"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Sent to the applicant and kept with the application."),
    )


class EnrolCodeForm(forms.Form):
    otp_token = forms.RegexField(
        label=_("Code shown by your authenticator app"),
        regex=r"^\d{6}$",
        error_messages={"invalid": _("Enter the 6-digit code shown by your authenticator app.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "6"}
        ),
    )

    def __init__(self, device, *args, **kwargs):
        self.device = device
        super().__init__(*args, **kwargs)

    def clean_otp_token(self):
        token = self.cleaned_data["otp_token"]
        if not verify_device_token(self.device, token):
            raise ValidationError(
                _("This code does not match: check the app's clock and enter the current code.")
            )
        return token


class RoleForm(forms.Form):
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[
            ("owner", _("Owner: also manages staff, API credentials and the access log")),
            ("pharmacist", _("Pharmacist: records, corrects and validates tests")),
            ("assistant", _("Assistant: records tests only")),
        ],
        widget=forms.RadioSelect,
    )


class LetterCodeForm(forms.Form):
    """The code of the activation letter posted to the pharmacy's directory address."""

    code = forms.RegexField(
        label=_("Code printed on the letter"),
        regex=r"^[A-Za-z2-7\- ]{12,20}$",
        error_messages={"invalid": _("Enter the 12 letters and digits printed on the letter.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )


class OverrideForm(forms.Form):
    override_reason = forms.CharField(
        label=_("Why approve despite the failed checks?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Kept with the application. A second administrator reads it and must confirm "
            "before the pharmacy is approved."
        ),
    )
