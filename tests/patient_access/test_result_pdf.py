"""The result PDF's content and layout, read back with pdfplumber: what it says, and
that no label runs into its value, in French and English."""

import pytest
from django.utils import translation

from relais.patient_access import pdf
from relais.patient_access.pdf import result_pdf, result_rows
from tests.support.factories import make_test
from tests.support.pdf import overlap, text_boxes

MULTIPLEX = {
    "kind": "sars_cov_2_influenza_ab_rsv_antigen",
    "result": "positive",
    "other_results": {
        "influenza_a_antigen": "negative",
        "influenza_b_antigen": "negative",
        "rsv_antigen": "invalid",
    },
}
PAGE_HEIGHT = 841.89  # A4, in points
LONG_LABEL = (
    "Date et heure du prélèvement de l'échantillon nasopharyngé, à l'heure locale de la "
    "pharmacie qui l'a réalisé"
)


def row_boxes(content: bytes, rows) -> list[tuple[tuple, tuple]]:
    """(label box, value box) of each row. The value is an occurrence of its text with
    the whole label, beginning a line at the same height, in the area to its left (a
    label that ran into its value would be cut there, and not found)."""
    boxes = []
    for label, value in rows:
        pairs = []
        for value_box in text_boxes(content, pdf.latin1(value)):
            left = (0, value_box[1] - 2, value_box[0], PAGE_HEIGHT)
            pairs += [
                (label_box, value_box)
                for label_box in text_boxes(
                    content, pdf.latin1(label), line_start=True, within=left
                )
                if abs(label_box[1] - value_box[1]) < 2
            ]
        assert pairs, f"no {label!r} wholly left of its value {value!r}"
        boxes.append(pairs[0])
    return boxes


def assert_no_overlap(content: bytes, rows) -> None:
    boxes = row_boxes(content, rows)
    for (label, value), (label_box, value_box) in zip(rows, boxes, strict=True):
        assert not overlap(label_box, value_box), f"{label!r} runs into {value!r}"
        assert label_box[2] <= value_box[0], f"{value!r} starts inside {label!r}"
    # Nor does a row run into the next one.
    tops = sorted(box for pair in boxes for box in pair)
    for first, second in zip(tops, tops[1:], strict=False):
        assert not overlap(first, second)


@pytest.fixture
def multiplex_test(patient, pharmacist):
    pharmacist.full_name = "Claire Dubois"
    pharmacist.save()
    return make_test(patient, pharmacist, **MULTIPLEX)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_label_overlaps_its_value(multiplex_test, language):
    with translation.override(language):
        rows = result_rows(multiplex_test)
        content = result_pdf(multiplex_test)
    labels = [str(label) for label, _value in rows]
    if language == "fr":
        assert "Date et heure du prélèvement" in labels
    assert_no_overlap(content, [(str(label), str(value)) for label, value in rows])


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_label_too_long_for_its_column_wraps_beside_its_value(
    multiplex_test, language, monkeypatch
):
    """A label longer than the label column (a translation, a future field) wraps
    within it instead of running under its value."""
    with translation.override(language):
        rows = [*result_rows(multiplex_test), (LONG_LABEL, "27/11/2026 09:30")]
    monkeypatch.setattr(pdf, "result_rows", lambda test: rows)
    with translation.override(language):
        content = result_pdf(multiplex_test)
    long_box, value_box = row_boxes(content, [(LONG_LABEL, "27/11/2026 09:30")])[0]
    assert long_box[3] - long_box[1] > 20  # it took several lines
    assert_no_overlap(content, [(str(label), str(value)) for label, value in rows])


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_pdf_names_the_patient_and_every_analyte(multiplex_test, language):
    with translation.override(language):
        content = result_pdf(multiplex_test)
        expected = {
            "name": "MARTIN Élodie Anne",
            "birth": "14 mars 1985" if language == "fr" else "March 14, 1985",
            "analytes": [
                ("Test antigénique SARS-CoV-2 (rapide)", "positif"),
                ("Test antigénique grippe A (rapide)", "négatif"),
                ("Test antigénique grippe B (rapide)", "négatif"),
                ("Test antigénique VRS (rapide)", "invalide"),
            ]
            if language == "fr"
            else [
                ("SARS-CoV-2 antigen (rapid test)", "positive"),
                ("Influenza A antigen (rapid test)", "negative"),
                ("Influenza B antigen (rapid test)", "negative"),
                ("RSV antigen (rapid test)", "invalid"),
            ],
        }
    assert text_boxes(content, pdf.latin1(expected["name"]))
    assert text_boxes(content, expected["birth"])
    row_boxes(content, expected["analytes"])  # each analyte with its own result beside it


def test_a_single_test_has_one_result_row_and_its_advice(patient, pharmacist):
    test = make_test(patient, pharmacist, result="negative")
    with translation.override("en"):
        content = result_pdf(test)
    row_boxes(content, [("Result", "negative")])
    assert text_boxes(content, "The test did not detect the infection it looks for.")
    assert not text_boxes(content, "What to do now")
