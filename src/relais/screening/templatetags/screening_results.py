"""A test's results on a page: the one way every template shows them (see
relais.screening.display). {% test_results test "rows" %} inside a <dl class="details">,
"badges" beside a title, "compact" in a table cell."""

from django import template

from relais.screening.display import analyte_results

register = template.Library()

STYLES = ("rows", "badges", "compact")


@register.inclusion_tag("screening/includes/test_results.html")
def test_results(test, style: str = "rows"):
    if style not in STYLES:
        raise template.TemplateSyntaxError(f"test_results: unknown style {style!r}")
    results = analyte_results(test)
    return {"results": results, "multiplex": len(results) > 1, "style": style}
