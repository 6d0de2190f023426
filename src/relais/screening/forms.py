"""Forms for patients and tests. The API and the CSV import use these same forms,
so every entry point applies one set of rules."""

import copy
import json
import re
from typing import TypeVar

from django import forms
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.choices import CallableChoiceIterator
from django.utils.translation import gettext_lazy as _

from relais.lib import dates
from relais.phone import normalise_phone
from relais.screening import catalogue, devices, validation
from relais.screening.models import (
    NOTIFY_CHANNELS,
    IdentityStatus,
    NotifyBy,
    Sex,
    reachable_channels,
    unusable_address,
)
from relais.screening.services import CANCEL_REASONS, BuiltFrom

BIRTHPLACE_RE = re.compile(r"^([0-9]{5}|2[AB][0-9]{3})$")
POSTAL_CODE_RE = re.compile(r"^[0-9]{5}$")


# The hidden field of correction and patient forms naming the state they were built from.
BUILT_FROM_FIELD = "built_from"
BUILT_FROM_SALT = "relais.screening.built-from"


def built_from_token(record, fields) -> str:
    """The record's version and the values the form shows, signed (not secret: the page
    shows the same values), so that the POST can tell what the user changed."""
    base = BuiltFrom.of(record, fields)
    payload = {"id": str(record.pk), "version": base.version, "values": base.values}
    return signing.dumps(payload, salt=BUILT_FROM_SALT, compress=True)


def read_built_from(data, record) -> BuiltFrom | None:
    """What the posted form was built from, if it is a form of this record Relais built."""
    try:
        payload = signing.loads(data.get(BUILT_FROM_FIELD) or "", salt=BUILT_FROM_SALT)
        if payload["id"] != str(record.pk):
            return None
        return BuiltFrom(int(payload["version"]), dict(payload["values"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


class PatientForm(forms.Form):
    birth_name = forms.CharField(label=_("Birth name"), max_length=100)
    used_name = forms.CharField(label=_("Used name"), max_length=100, required=False)
    given_names = forms.CharField(label=_("Given names"), max_length=100)
    birth_date = dates.DateField(
        label=_("Birth date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    # No default: a sex chosen for the user would silently falsify the INS identity.
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—"), *Sex.choices])
    birthplace_code = forms.CharField(
        label=_("Birthplace (INSEE code)"),
        max_length=5,
        required=False,
        help_text=_("5 characters; 99xxx for a birth abroad."),
    )
    nir = forms.CharField(label=_("Social security number (NIR)"), max_length=21, required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=5, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    phone = forms.CharField(label=_("Mobile phone"), max_length=30, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)
    # Not required: left out (an older file, an API client), the identity is provisional.
    identity_status = forms.ChoiceField(
        label=_("Identity status"),
        choices=IdentityStatus.choices,
        required=False,
        help_text=_(
            "Validated: an identity document (ID card, passport, residence permit) was seen."
        ),
    )

    # The traits the INSi service returns with a qualified INS: they may not be changed
    # while the identity stays qualified (RNIV: the INS traits are copied, never typed).
    INS_TRAITS = ("birth_name", "given_names", "birth_date", "sex", "birthplace_code", "nir")

    def __init__(self, *args, counter: bool = False, **kwargs):
        """`counter`: the web's form. There, "qualified" cannot be chosen (it needs the
        INSi service, which Relais does not call); a qualified record keeps it as long as
        none of its INS traits is changed."""
        super().__init__(*args, **kwargs)
        self.counter = counter
        if counter:
            stored = (self.initial or {}).get("identity_status")
            field = self.fields["identity_status"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [
                (value, label)
                for value, label in IdentityStatus.choices
                if value != IdentityStatus.QUALIFIED or stored == IdentityStatus.QUALIFIED
            ]
            self.fields["identity_status"].initial = IdentityStatus.PROVISIONAL

    def clean_identity_status(self):
        return self.cleaned_data["identity_status"] or IdentityStatus.PROVISIONAL

    def clean_birth_name(self):
        return validation.clean_person_name(self.cleaned_data["birth_name"])

    def clean_used_name(self):
        value = self.cleaned_data["used_name"]
        return validation.clean_person_name(value) if value else ""

    def clean_given_names(self):
        return validation.clean_person_name(self.cleaned_data["given_names"])

    def clean_birth_date(self):
        value = self.cleaned_data["birth_date"]
        validation.check_birth_date(value)
        return value

    def clean_birthplace_code(self):
        value = self.cleaned_data["birthplace_code"].strip().upper()
        if value and not BIRTHPLACE_RE.match(value):
            raise ValidationError(
                _("A birthplace code has 5 characters (digits, or 2A/2B then 3 digits)."),
                code="birthplace",
            )
        return value

    def clean_nir(self):
        value = self.cleaned_data["nir"]
        return validation.normalise_nir(value) if value.strip() else ""

    def clean_postal_code(self):
        value = self.cleaned_data["postal_code"].strip()
        if value and not POSTAL_CODE_RE.match(value):
            raise ValidationError(_("A postal code has 5 digits."), code="postal_code")
        return value

    def clean_phone(self):
        value = self.cleaned_data["phone"]
        return normalise_phone(value) if value.strip() else ""

    def clean_email(self):
        value = self.cleaned_data["email"]
        return validation.normalise_email(value) if value.strip() else ""

    def clean(self):
        super().clean()
        data = self.cleaned_data
        nir, sex, birth_date = data.get("nir"), data.get("sex"), data.get("birth_date")
        if nir and sex and birth_date:
            try:
                validation.check_nir_consistency(nir, sex, birth_date)
            except ValidationError as error:
                self.add_error("nir", error)
        if data.get("identity_status") == IdentityStatus.QUALIFIED:
            self.check_qualified(data)
        return data

    def check_qualified(self, data) -> None:
        """A qualified identity carries the INS the INSi service returned: its NIR and the
        birthplace INSi gives with it; at the counter, it comes only from the record."""
        if not data.get("nir") and "nir" not in self.errors:
            self.add_error(
                "nir",
                ValidationError(
                    _("A qualified identity has its INS: the NIR the INSi service returned."),
                    code="qualified_without_ins",
                ),
            )
        if not data.get("birthplace_code") and "birthplace_code" not in self.errors:
            self.add_error(
                "birthplace_code",
                ValidationError(
                    _("A qualified identity has the birthplace the INSi service returned."),
                    code="qualified_without_birthplace",
                ),
            )
        if self.counter:
            changed = [
                name
                for name in self.INS_TRAITS
                if name in data and data[name] != (self.initial or {}).get(name)
            ]
            if changed:
                self.add_error(
                    "identity_status",
                    ValidationError(
                        _(
                            "The traits of a qualified identity come from the INSi service: "
                            "to correct them, choose another status."
                        ),
                        code="qualified_traits_changed",
                    ),
                )


# A chosen channel whose address the patient record lacks, or cannot be reached through.
UNUSABLE_ADDRESS_ERRORS = {
    "sms": lambda: ValidationError(
        _(
            "The patient's phone number is not a mobile number: it cannot receive an SMS. "
            "Enter a mobile number on the patient record or choose e-mail."
        ),
        code="notify_landline",
    ),
}
NO_ADDRESS_ERRORS = {
    "sms": lambda: ValidationError(
        _("The patient record has no mobile phone number to send an SMS to."),
        code="notify_no_phone",
    ),
    "email": lambda: ValidationError(
        _("The patient record has no e-mail address to write to."), code="notify_no_email"
    ),
}


class ScreeningTestForm(forms.Form):
    # Not required: a device chosen from the catalogue says which test it is.
    kind = forms.ChoiceField(label=_("Test"), choices=catalogue.kind_choices, required=False)
    device_code = forms.CharField(label=_("Device"), max_length=20, required=False)
    device = forms.CharField(
        label=_("Device not in the list (brand and reference)"), max_length=120, required=False
    )
    lot = forms.CharField(label=_("Lot number"), max_length=40, required=False)
    lot_expiry = dates.DateField(
        label=_("Lot expiry date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    specimen = forms.ChoiceField(label=_("Specimen"), choices=catalogue.specimen_choices)
    sampled_at = dates.DateTimeField(
        label=_("Sampled at"),
        error_messages={
            "no_time": _("Give the time of the sample as well as its date (e.g. 05/06/2026 09:30).")
        },
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    # A multiplex kit's other results are in the fields added below the class.
    result = forms.ChoiceField(
        label=_("Result"),
        choices=catalogue.result_choices,
        widget=forms.RadioSelect,
        required=False,
    )
    symptoms = forms.BooleanField(label=_("Symptoms"), required=False)
    symptom_onset = dates.DateField(
        label=_("Symptom onset"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    consent_transmission = forms.BooleanField(
        label=_("The patient was informed of the transmission to SI-DEP"), required=False
    )
    notify_by = forms.ChoiceField(
        label=_("Tell the patient the result is ready by"),
        choices=NotifyBy.choices,
        initial=NotifyBy.NONE,
        required=False,
    )
    # The answer to the question the submission service asks about a second test of the
    # same patient and analyte within 2 hours (submissions.check_duplicate_test); the
    # page shows it only with that question.
    new_sample = forms.BooleanField(label=_("This is a new sample"), required=False)

    def __init__(
        self,
        *args,
        birth_date=None,
        patient=None,
        require_result=True,
        device_choices=None,
        **kwargs,
    ):
        """`patient`, when given, lets notify_by be checked against the contact details
        on the record (a channel needs a phone number or an e-mail address).
        `require_result=False` (a test started at the counter) accepts no result at all:
        the test is then in progress until its reading is entered."""
        self.birth_date = (
            birth_date if birth_date is not None else getattr(patient, "birth_date", None)
        )
        self.patient = patient
        self.require_result = require_result
        self.device_choices = device_choices
        super().__init__(*args, **kwargs)
        if device_choices is not None:  # the page's list (never the API's checking form)
            self.fields["device_code"].widget = forms.Select(choices=device_choices)

    @property
    def result_fields(self):
        """The result fields, the first analyte's first, for the page."""
        return [self["result"], *(self[name] for name in OTHER_RESULT_FIELDS)]

    def kit_data(self) -> dict[str, str]:
        """What relais.js needs to show only the chosen kit's result fields: each kind's
        analytes and first analyte's name, each device's kind (JSON in data- attributes)."""
        kinds = {
            code: {
                "analytes": [a.code for a in kind.analytes[1:]],
                "first": str(kind.analytes[0].label),
            }
            for code, kind in catalogue.TEST_KINDS.items()
        }
        kits = {code: device.kind for code, device in devices.DEVICES.items()}
        return {"kinds": json.dumps(kinds), "devices": json.dumps(kits)}

    def clean_lot(self):
        return validation.clean_printable(self.cleaned_data["lot"])

    def clean(self):
        super().clean()
        data = self.cleaned_data
        self.choose_device(data)
        self.clean_results(data)
        self.check_lot_expiry(data)
        kind, specimen = data.get("kind"), data.get("specimen")
        if kind and specimen and specimen not in catalogue.TEST_KINDS[kind].specimens:
            self.add_error(
                "specimen",
                ValidationError(
                    _("This specimen cannot be used for this test."), code="specimen_kind"
                ),
            )
        sampled_at = data.get("sampled_at")
        if sampled_at and self.birth_date:
            try:
                validation.check_sampled_at(sampled_at, self.birth_date)
            except ValidationError as error:
                self.add_error("sampled_at", error)
        onset = data.get("symptom_onset")
        if data.get("symptoms") and not onset:
            self.add_error(
                "symptom_onset",
                ValidationError(_("Give the date the symptoms began."), code="onset_required"),
            )
        data["notify_by"] = data.get("notify_by") or NotifyBy.NONE
        self.check_notify_by(data["notify_by"])
        if onset and not data.get("symptoms"):
            data["symptom_onset"] = None
        elif onset:
            if onset > timezone.localdate():
                self.add_error(
                    "symptom_onset",
                    ValidationError(_("This date is in the future."), code="onset_future"),
                )
            elif self.birth_date and onset < self.birth_date:
                self.add_error(
                    "symptom_onset",
                    ValidationError(
                        _("Symptoms cannot begin before the birth date."), code="onset_birth"
                    ),
                )
        return data

    def choose_device(self, data) -> None:
        """A device from the catalogue (its label is what is shown and sent; it names the
        test when none is chosen) or, for an unlisted one, its name as typed."""
        code = (data.get("device_code") or "").strip()
        device = devices.get(code) if code else None
        if code and device is None:
            self.add_error(
                "device_code",
                ValidationError(_("This device is not in the catalogue."), code="device_unknown"),
            )
        if device is not None:
            data["device_code"], data["device"] = device.code, device.label
            kind = data.get("kind") or device.kind
            if kind != device.kind:
                self.add_error(
                    "device_code",
                    ValidationError(
                        _("This device is a kit for another test: %(kind)s."),
                        code="device_kind",
                        params={"kind": catalogue.TEST_KINDS[device.kind].label},
                    ),
                )
            data["kind"] = kind
            specimen = data.get("specimen")
            if specimen and specimen not in device.specimens:
                self.add_error(
                    "specimen",
                    ValidationError(
                        _("This device is not made for this specimen."), code="device_specimen"
                    ),
                )
        else:
            data["device_code"] = ""
        if not data.get("kind") and "kind" not in self.errors:
            self.add_error("kind", ValidationError(_("This field is required."), code="required"))

    def clean_results(self, data) -> None:
        """Every result the kit reads (one, or one per analyte of a multiplex kit), or
        none when the test may stay in progress; `result` then `other_results`."""
        kind = data.get("kind")
        if not kind:
            return
        analytes = catalogue.TEST_KINDS[kind].analytes
        fields = {"result": analytes[0].code} | {
            catalogue.other_result_field(analyte.code): analyte.code for analyte in analytes[1:]
        }
        for name in OTHER_RESULT_FIELDS:
            if name not in fields and data.get(name):
                self.add_error(
                    name,
                    ValidationError(_("This kit does not read this analyte."), code="not_in_kit"),
                )
        missing = [name for name in fields if not data.get(name)]
        if missing and (self.require_result or len(missing) < len(fields)):
            message = (
                _("This field is required.")
                if self.require_result
                else _("Give every result of the kit, or none to keep the test in progress.")
            )
            for name in missing:
                self.add_error(name, ValidationError(message, code="required"))
        data["result"] = data.get("result") or ""
        data["other_results"] = (
            {} if missing else {fields[name]: data[name] for name in fields if name != "result"}
        )

    def check_lot_expiry(self, data) -> None:
        expiry, sampled_at = data.get("lot_expiry"), data.get("sampled_at")
        if expiry and sampled_at and expiry < timezone.localtime(sampled_at).date():
            self.add_error(
                "lot_expiry",
                ValidationError(
                    _("This lot had expired when the sample was taken: use an unexpired kit."),
                    code="lot_expired",
                ),
            )

    def check_notify_by(self, notify_by: str) -> None:
        if self.patient is None:
            return
        reachable = reachable_channels(notify_by, self.patient)
        for channel in NOTIFY_CHANNELS.get(notify_by, ()):
            if channel not in reachable:
                errors = (
                    UNUSABLE_ADDRESS_ERRORS
                    if unusable_address(channel, self.patient)
                    else NO_ADDRESS_ERRORS
                )
                self.add_error("notify_by", errors[channel]())


def other_result_choice(analyte: str) -> forms.ChoiceField:
    """A result field named after its analyte."""
    return forms.ChoiceField(
        label=catalogue.TEST_KINDS[analyte].label,
        choices=catalogue.result_choices,
        widget=forms.RadioSelect,
        required=False,
    )


# One result field per analyte a multiplex kit reads after its first one, from the
# catalogue (a declared field per analyte would repeat it).
OTHER_RESULT_FIELDS = [catalogue.other_result_field(code) for code in catalogue.SECONDARY_ANALYTES]
for _analyte in catalogue.SECONDARY_ANALYTES:
    ScreeningTestForm.base_fields[catalogue.other_result_field(_analyte)] = other_result_choice(
        _analyte
    )


class ResultForm(forms.Form):
    """The reading of a test in progress: its results only (the rest was entered when
    the test started)."""

    def __init__(self, *args, test, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = test.kind_info
        analytes = self.kind.analytes
        self.fields["result"] = other_result_choice(analytes[0].code)
        for analyte in analytes[1:]:
            self.fields[catalogue.other_result_field(analyte.code)] = other_result_choice(
                analyte.code
            )
        for field in self.fields.values():
            field.required = True

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        data["other_results"] = {
            analyte.code: data[catalogue.other_result_field(analyte.code)]
            for analyte in self.kind.analytes[1:]
        }
        return data


class PatientSearchForm(forms.Form):
    nir = forms.CharField(label=_("NIR"), max_length=21, required=False)
    birth_name = forms.CharField(label=_("Birth name"), max_length=100, required=False)
    birth_date = dates.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean_nir(self):
        value = self.cleaned_data["nir"]
        return validation.normalise_nir(value) if value.strip() else ""

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data
        if not data.get("nir") and not (data.get("birth_name") and data.get("birth_date")):
            raise ValidationError(
                _("Enter an NIR, or a birth name and a birth date."), code="search_criteria"
            )
        return data


class CancelTestForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Why is this test cancelled?"),
        choices=lambda: list(CANCEL_REASONS.items()),
        widget=forms.RadioSelect,
    )


class SharedFields(dict):
    """A form's base_fields whose per-instance copy is shallow (see checking_form)."""

    def __deepcopy__(self, memo):
        return dict(self)


FormT = TypeVar("FormT", bound=forms.Form)


def _full_clean_without_cycles(form: forms.Form) -> None:
    """Django's full_clean, then its bound fields forgotten: each refers to the form
    that caches it, a reference cycle that only the cyclic garbage collector frees. A
    checking form is never rendered, so without them each form is freed as soon as it is
    no longer used (a file of 100,000 rows makes 200,000 forms)."""
    forms.Form.full_clean(form)
    form._bound_fields_cache.clear()  # type: ignore[attr-defined]


def checking_form(form_class: type[FormT]) -> type[FormT]:
    """`form_class` with the same fields and clean methods, minus Django's deep copy of
    every field for each new form (there so that a view may change one form's fields;
    it was ~40% of the cost of checking a row), its callable choices read once, and no
    reference cycle left once cleaned. For forms that only check data and never change
    their fields nor are rendered: the API and the CSV import."""
    checking: type[FormT] = type(
        f"Checking{form_class.__name__}",
        (form_class,),
        {"__module__": __name__, "full_clean": _full_clean_without_cycles},
    )
    fields = SharedFields(form_class.base_fields)
    for name, field in fields.items():
        # Choices given as a function (the catalogue's) are read and normalised for each
        # row by Django; the catalogue does not change while the process runs, so they
        # are read once here (their labels stay lazy: translated when shown).
        if isinstance(field, forms.ChoiceField) and isinstance(
            field.choices, CallableChoiceIterator
        ):
            fixed = copy.deepcopy(field)
            fixed.choices = list(field.choices)
            fields[name] = fixed
    checking.base_fields = fields
    return checking


CheckingPatientForm = checking_form(PatientForm)
CheckingScreeningTestForm = checking_form(ScreeningTestForm)
