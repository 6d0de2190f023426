"""Synthetic CSV files of fictitious patients for import tests and the benchmark."""

import datetime
import string


def letters(number: int) -> str:
    """A name made of letters only (names may not hold digits): 0 -> "Baaaa"."""
    out = []
    for _ in range(5):
        number, digit = divmod(number, 26)
        out.append(string.ascii_lowercase[digit])
    return "B" + "".join(reversed(out))


def nir(sex: str, birth_date: datetime.date, serial: int) -> str:
    body = f"{1 if sex == 'M' else 2}{birth_date:%y%m}75056{serial % 999 + 1:03d}"
    return f"{body}{97 - int(body) % 97:02d}"


def row(number: int, sampled_at: datetime.datetime | None = None, **overrides) -> dict:
    sex = "FM"[number % 2]
    birth_date = datetime.date(1940 + number % 60, number % 12 + 1, number % 28 + 1)
    sampled_at = sampled_at or datetime.datetime.now() - datetime.timedelta(hours=2)
    values = {
        "birth_name": letters(number),
        "used_name": "",
        "given_names": "Camille",
        "birth_date": birth_date.strftime("%d/%m/%Y"),
        "sex": sex,
        "birthplace_code": "75056",
        "nir": nir(sex, birth_date, number),
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
