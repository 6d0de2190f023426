"""Fictitious patients and results as plain data: no database and no Django set-up
needed, so benchmarks that only drive a server over HTTP can use them too."""

import datetime
import string

from stdnum.fr import nir as stdnum_nir

PATIENT_DATA = {
    "birth_name": "Lefèvre",
    "used_name": "Martin",
    "given_names": "Élodie Anne",
    "birth_date": datetime.date(1985, 3, 14),
    "sex": "F",
    "birthplace_code": "75056",
    "nir": "285037505612306",
    "address": "12 rue des Lilas",
    "postal_code": "75011",
    "city": "Paris",
    "phone": "+33612345678",
    "email": "elodie.lefevre@example.org",
}


def date_fields(date: datetime.date) -> dict:
    """A date as the patient's date-of-birth form takes it."""
    return {"day": str(date.day), "month": str(date.month), "year": str(date.year)}


def make_nir(sex: str, birth_date: datetime.date, order: int, place: str = "75056") -> str:
    """A valid NIR (control key included) for that sex, birth month, place and order
    number (1 to 999)."""
    body = f"{1 if sex == 'M' else 2}{birth_date:%y%m}{place}{order:03d}"
    return body + stdnum_nir.calc_check_digits(body)


def letters(number: int) -> str:
    """A name made of letters only (names may not hold digits): 0 -> "Baaaaa"."""
    out = []
    for _ in range(5):
        number, digit = divmod(number, 26)
        out.append(string.ascii_lowercase[digit])
    return "B" + "".join(reversed(out))


def numbered_patient(number: int) -> dict:
    """Patient number `number`: a name, sex, birth date and NIR of its own."""
    sex = "FM"[number % 2]
    birth_date = datetime.date(1940 + number % 60, number % 12 + 1, number % 28 + 1)
    return {
        "birth_name": letters(number),
        "given_names": "Camille",
        "birth_date": birth_date,
        "sex": sex,
        "nir": make_nir(sex, birth_date, number % 999 + 1),
    }


# The RPPS of the `pharmacist` fixture, the performer of API submissions.
PERFORMER_RPPS = "10001234567"
# The `other_pharmacist` fixture's (of the other pharmacy).
OTHER_PERFORMER_RPPS = "10009876543"


def api_submission(patient: dict | None = None, **test_overrides) -> dict:
    """The JSON body of POST /api/v1/tests: `patient` (PATIENT_DATA's patient by default)
    and a negative antigen test sampled 30 minutes ago."""
    if patient is None:
        patient = {**PATIENT_DATA, "phone": "0612345678"}
    sampled_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=30)
    return {
        "patient": {**patient, "birth_date": patient["birth_date"].isoformat()},
        "test": {
            "performer_rpps": PERFORMER_RPPS,
            "kind": "sars_cov_2_antigen",
            "device": "Demo AG Rapid",
            "specimen": "nasal_swab",
            "sampled_at": sampled_at.isoformat(),
            "result": "negative",
            "symptoms": False,
            "consent_transmission": True,
            **test_overrides,
        },
    }


# --- CSV import files ---------------------------------------------------------------------


def csv_row(number: int, sampled_at: datetime.datetime | None = None, **overrides) -> dict:
    """Row `number` of an import file (patient `number`, a test sampled 2 hours ago)."""
    patient = numbered_patient(number)
    sampled_at = sampled_at or datetime.datetime.now() - datetime.timedelta(hours=2)
    values = {
        **patient,
        "used_name": "",
        "birth_date": patient["birth_date"].strftime("%d/%m/%Y"),
        "birthplace_code": "75056",
        "address": "1 rue de l'Exemple",
        "postal_code": "75011",
        "city": "Paris",
        "phone": "0612345678",
        "email": "",
        "kind": "sars_cov_2_antigen",
        "device": "Exemple AG",
        "specimen": "nasal_swab",
        "sampled_at": sampled_at.strftime("%d/%m/%Y %H:%M"),
        "result": "negative" if number % 3 else "positive",
        "symptoms": "non",
        "symptom_onset": "",
        "consent_transmission": "oui",
        "notify_by": "sms",
    }
    values.update(overrides)
    return values


def csv_text(rows, separator=";", columns=None) -> str:
    if columns is None:
        from relais.imports.bulk_import import COLUMNS as columns  # after Django's set-up
    lines = [separator.join(columns)]
    for values in rows:
        lines.append(separator.join(quote(values.get(column, ""), separator) for column in columns))
    return "\r\n".join(lines) + "\r\n"


def quote(value: str, separator: str) -> str:
    if separator in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value
