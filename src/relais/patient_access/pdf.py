"""The result as a PDF, built in memory on request and never stored.

It is downloaded only after the date-of-birth check, and holds whose result it is (name
and date of birth), each result, what to do now, the test, the sample time, the pharmacy
and the pharmacist's name, and nothing else. fpdf2's built-in fonts cover Latin-1 only;
other characters are written without their accents (or as "?") rather than failing.
"""

import unicodedata

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from fpdf import FPDF

from relais.patient_access.advice import advice_for
from relais.phone import national_format
from relais.screening import catalogue
from relais.screening.display import analyte_results
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


LABEL_SIZE = 12
VALUE_SIZE = 12
LINE_HEIGHT = 7
ROW_GAP = 2
GUTTER = 4  # mm between a label and its value
MAX_LABEL_SHARE = 0.45  # of the text width; a longer label wraps within it


def result_rows(test: ScreeningTest) -> list[tuple[str, str]]:
    """(label, value) of each line, in order."""
    pharmacy, patient = test.pharmacy, test.patient
    sampled_at = date_format(timezone.localtime(test.sampled_at), "DATETIME_FORMAT")
    results = analyte_results(test)
    if len(results) == 1:
        result_lines = [(_("Result"), str(results[0].label))]
    else:
        result_lines = [(str(r.name), str(r.label)) for r in results]
    return [
        (_("Patient"), patient.display_name),
        (_("Date of birth"), date_format(patient.birth_date, "DATE_FORMAT")),
        *result_lines,
        (_("Test"), str(catalogue.TEST_KINDS[test.kind].label)),
        (_("Sampled at"), sampled_at),
        (_("Pharmacy"), pharmacy.name),
        (_("Address"), pharmacy.address),
        (_("Phone"), national_format(pharmacy.phone) if pharmacy.phone else "-"),
        (_("Performed by"), test.performed_by.full_name or "-"),
    ]


def result_pdf(test: ScreeningTest, *, compress: bool = True) -> bytes:
    """The patient's PDF: whose result it is (name and date of birth: a parent may hold
    several children's), each analyte's result, the test and the pharmacy. Labels get a
    column as wide as the longest needs (up to MAX_LABEL_SHARE of the line, then they
    wrap), so no label runs into its value, in any language."""
    rows = [(latin1(str(label)), latin1(str(value))) for label, value in result_rows(test)]
    pdf = FPDF(format="A4")
    pdf.compress = compress
    pdf.set_title(latin1(_("Screening test result")))
    pdf.set_creator("Relais")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.cell(0, 12, latin1(_("Screening test result")), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    text_width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font("Helvetica", style="B", size=LABEL_SIZE)
    widest = max(pdf.get_string_width(label) for label, _value in rows)
    # Two millimetres more than the text: fpdf2 keeps a cell margin on each side.
    label_width = min(widest + 2 * pdf.c_margin + 1, text_width * MAX_LABEL_SHARE)
    value_width = text_width - label_width - GUTTER
    for label, value in rows:
        top = pdf.get_y()
        pdf.set_font("Helvetica", style="B", size=LABEL_SIZE)
        pdf.multi_cell(label_width, LINE_HEIGHT, label, new_x="LMARGIN", new_y="NEXT")
        label_bottom = pdf.get_y()
        pdf.set_xy(pdf.l_margin + label_width + GUTTER, top)
        pdf.set_font("Helvetica", size=VALUE_SIZE)
        pdf.multi_cell(value_width, LINE_HEIGHT, value, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(label_bottom, pdf.get_y()) + ROW_GAP)
    pdf.ln(2)
    pdf.set_font("Helvetica", size=VALUE_SIZE)
    advice = advice_for(test)
    pdf.multi_cell(0, LINE_HEIGHT, latin1(str(advice.summary)), new_x="LMARGIN", new_y="NEXT")
    if advice.steps:
        pdf.ln(2)
        pdf.set_font("Helvetica", style="B", size=LABEL_SIZE)
        pdf.cell(0, LINE_HEIGHT, latin1(_("What to do now")), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=VALUE_SIZE)
        for step in advice.steps:
            pdf.multi_cell(0, LINE_HEIGHT, latin1(f"- {step}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
