"""Every analyte of a test, the same way on every page: the test page, the tables, the
patient's page (one display module, one template tag)."""

import re

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.utils import translation

from relais.screening import display
from tests.support.factories import make_test, sample_test
from tests.support.patient_pages import in_english, issue, open_result

MULTIPLEX = {
    "kind": "sars_cov_2_influenza_ab_antigen",
    "result": "positive",
    "other_results": {"influenza_a_antigen": "negative", "influenza_b_antigen": "negative"},
}


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_compact_form_names_each_analyte():
    with translation.override("en"):
        assert display.compact(sample_test(**MULTIPLEX)) == (
            "SARS-CoV-2: positive · Influenza A: negative · Influenza B: negative"
        )
        assert display.compact(sample_test(result="negative")) == "negative"
        assert display.compact(sample_test(result="")) == "awaiting reading"
        partial = {**MULTIPLEX, "other_results": {"influenza_a_antigen": "negative"}}
        assert display.compact(sample_test(**partial)).endswith("Influenza B: awaiting reading")


def test_the_day_table_shows_every_result_in_one_cell(pharmacist_client, patient, pharmacist):
    make_test(patient, pharmacist, **MULTIPLEX)
    page = visible_text(in_english(pharmacist_client).get("/").content.decode())
    assert "SARS-CoV-2: positive · Influenza A: negative · Influenza B: negative" in page


def test_the_patient_table_too(pharmacist_client, patient, pharmacist):
    make_test(patient, pharmacist, **MULTIPLEX)
    response = in_english(pharmacist_client).get(f"/patients/{patient.pk}/")
    assert "Influenza B: negative" in visible_text(response.content.decode())


def test_the_test_page_has_a_row_per_analyte(pharmacist_client, patient, pharmacist):
    test = make_test(patient, pharmacist, lot="LOT42", **MULTIPLEX)
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    for analyte in ("SARS-CoV-2 antigen", "Influenza A antigen", "Influenza B antigen"):
        assert f"<dt>{analyte} (rapid test)</dt>" in page
    assert page.count("result result--negative") == 4  # two rows, two head badges
    assert "LOT42" in page


def test_a_single_test_keeps_one_result_row(pharmacist_client, patient, pharmacist):
    test = make_test(patient, pharmacist, result="invalid")
    page = in_english(pharmacist_client).get(f"/tests/{test.pk}/").content.decode()
    assert "<dt>Result</dt>" in page and page.count("result--invalid") == 2


def test_the_patient_page_shows_every_result_and_whose_it_is(client, patient, pharmacist):
    test = make_test(patient, pharmacist, **MULTIPLEX)
    link, token = issue(test)
    open_result(client, token)
    page = in_english(client).get("/r/result/").content.decode()
    assert "MARTIN Élodie Anne" in page and "March 14, 1985" in page
    for analyte in ("SARS-CoV-2 antigen", "Influenza A antigen", "Influenza B antigen"):
        assert f"<dt>{analyte} (rapid test)</dt>" in page
    assert "The test detected at least one of the infections it looks for." in page
    assert "What to do now" in page


def test_an_unknown_style_is_a_template_error(db):
    template = Template('{% load screening_results %}{% test_results test "fancy" %}')
    with pytest.raises(TemplateSyntaxError, match="fancy"):
        template.render(Context({"test": sample_test()}))
