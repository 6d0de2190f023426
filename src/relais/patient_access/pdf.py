"""The result as a PDF, built in memory on request and never stored.

It holds the result, the test, the sample time, the pharmacy and the pharmacist's name,
and nothing else. fpdf2's built-in fonts cover Latin-1 only; other characters are
written without their accents (or as "?") rather than failing.
"""

import unicodedata

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from fpdf import FPDF

from relais.screening import catalogue
from relais.screening.models import ScreeningTest

REPLACEMENTS = {"œ": "oe", "Œ": "OE", "’": "'", "‘": "'", "–": "-", "—": "-", "…": "..."}


def latin1(text: str) -> str:
    out = []
    for char in str(text):
        char = REPLACEMENTS.get(char, char)
        try:
            char.encode("latin-1")
        except UnicodeEncodeError:
            stripped = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode()
            char = "".join(c for c in stripped if not unicodedata.combining(c)) or "?"
        out.append(char)
    return "".join(out)


def result_pdf(test: ScreeningTest, *, compress: bool = True) -> bytes:
    pharmacy = test.pharmacy
    sampled_at = date_format(timezone.localtime(test.sampled_at), "DATETIME_FORMAT")
    rows = [
        (_("Result"), catalogue.RESULTS[test.result].label),
        (_("Test"), catalogue.TEST_KINDS[test.kind].label),
        (_("Sampled at"), sampled_at),
        (_("Pharmacy"), pharmacy.name),
        (_("Address"), pharmacy.address),
        (_("Phone"), pharmacy.phone or "-"),
        (_("Performed by"), test.performed_by.full_name or "-"),
    ]
    pdf = FPDF(format="A4")
    pdf.compress = compress
    pdf.set_title(latin1(_("Screening test result")))
    pdf.set_creator("Relais")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.cell(0, 12, latin1(_("Screening test result")), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for label, value in rows:
        pdf.set_font("Helvetica", style="B", size=12)
        pdf.cell(50, 9, latin1(str(label)))
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 9, latin1(str(value)), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
