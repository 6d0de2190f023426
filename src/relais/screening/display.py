"""How a test's results read, for every page, table, PDF and slip that shows them: one
result per analyte (several for a multiplex kit), in the kit's order."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from relais.screening import catalogue
from relais.screening.models import ScreeningTest

SEPARATOR = " · "


@dataclass(frozen=True)
class AnalyteResult:
    analyte: catalogue.TestKind
    code: str  # a catalogue.RESULTS code; "" while the kit is being read

    @property
    def name(self):
        return self.analyte.label

    @property
    def short(self):
        return self.analyte.short

    @property
    def label(self):
        """The result in words ("positive"), or that it is still awaited."""
        return catalogue.RESULTS[self.code].label if self.code else _("awaiting reading")

    @property
    def short_result(self) -> str:
        """ "SARS-CoV-2: positive" (each language punctuates it its own way)."""
        return _("%(name)s: %(result)s") % {"name": self.short, "result": self.label}


def analyte_results(test: ScreeningTest) -> list[AnalyteResult]:
    return [AnalyteResult(analyte, code) for analyte, code in test.analyte_results()]


def compact(test: ScreeningTest) -> str:
    """One line for a table cell or a receipt: "positive", or for a multiplex kit
    "SARS-CoV-2: positive · Influenza A: negative"."""
    results = analyte_results(test)
    if len(results) == 1:
        return str(results[0].label)
    return SEPARATOR.join(r.short_result for r in results)
