"""What a result means for the patient and what to do now: the one source of these
texts for the result page, its PDF and the printed slip."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from relais.screening.models import ScreeningTest

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

POSITIVE = ScreeningTest.Result.POSITIVE
INVALID = ScreeningTest.Result.INVALID

POSITIVE_STEPS = (
    _(
        "Limit your contacts with other people, especially the elderly and the frail, and "
        "wear a mask around others."
    ),
    _("Contact your doctor for advice, especially if you are at risk or your symptoms get worse."),
    _("Tell the people you have been in close contact with recently."),
    _("If you have trouble breathing, call 15 (or 112)."),
)
INVALID_STEPS = (_("Contact the pharmacy to take the test again."),)


@dataclass(frozen=True)
class Advice:
    summary: "StrOrPromise"
    steps: tuple["StrOrPromise", ...]  # what to do now (none after a negative result)
    positive: bool


def advice_for(test: ScreeningTest) -> Advice:
    codes = [code for _analyte, code in test.analyte_results()]
    positive, invalid = POSITIVE in codes, INVALID in codes
    steps = (POSITIVE_STEPS if positive else ()) + (INVALID_STEPS if invalid else ())
    if len(codes) == 1:
        if positive:
            summary = _("The test detected the infection it looks for.")
        elif invalid:
            summary = _("The test could not give a result. It needs to be done again.")
        else:
            summary = _("The test did not detect the infection it looks for.")
    elif positive:
        summary = _("The test detected at least one of the infections it looks for.")
    elif invalid:
        summary = _(
            "The test could not give a result for every infection it looks for. It needs "
            "to be done again."
        )
    else:
        summary = _("The test did not detect any of the infections it looks for.")
    return Advice(summary, steps, positive)
