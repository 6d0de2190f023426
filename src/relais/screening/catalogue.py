"""The test catalogue, as data: what a pharmacy can perform, with its standard codes.

LOINC codes name the observation; SNOMED CT codes name the result and the specimen.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class TestKind:
    """What a test looks for and how. A multiplex kit's kind (one swab, several results)
    names the single kinds it reads, in the order the kit shows them: each gives one
    result and one OBX; the kind's own LOINC code names the panel (OBR-4)."""

    code: str
    label: "StrOrPromise"  # translated when shown
    loinc: str  # "" for a panel LOINC does not name (the order then has a local code)
    loinc_display: str
    specimens: tuple[str, ...]
    panel_of: tuple[str, ...] = ()
    # The kit's reading time when the device is not in the device catalogue.
    reading_minutes: int = 15
    # What the infection is called where space is short ("SARS-CoV-2: positive" in a
    # table); the label when empty.
    short_label: "StrOrPromise" = ""
    # (specimen, LOINC code, display) where the specimen makes it another observation:
    # LOINC names the specimen, so RT-PCR on saliva is not RT-PCR on a respiratory swab.
    loinc_by_specimen: tuple[tuple[str, str, str], ...] = ()
    # The order's local code (OBR-4, coding system 99RLS) when LOINC names no such panel:
    # at most 20 characters (CE-1).
    local_code: str = ""

    @property
    def analytes(self) -> tuple["TestKind", ...]:
        """The single kinds whose results this test gives (itself, unless multiplex)."""
        return tuple(TEST_KINDS[code] for code in self.panel_of) or (self,)

    def observation(self, specimen: str) -> tuple[str, str]:
        """(LOINC code, display) of this observation on `specimen` (OBR-4, OBX-3)."""
        for code, loinc, display in self.loinc_by_specimen:
            if code == specimen:
                return loinc, display
        return self.loinc, self.loinc_display

    @property
    def multiplex(self) -> bool:
        return bool(self.panel_of)

    @property
    def short(self) -> "StrOrPromise":
        return self.short_label or self.label


@dataclass(frozen=True)
class Coded:
    code: str
    label: "StrOrPromise"
    snomed: str
    snomed_display: str


TEST_KINDS: dict[str, TestKind] = {
    kind.code: kind
    for kind in [
        TestKind(
            "sars_cov_2_antigen",
            _("SARS-CoV-2 antigen (rapid test)"),
            "94558-4",
            "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay",
            ("nasopharyngeal_swab", "nasal_swab"),
            short_label=_("SARS-CoV-2"),
        ),
        TestKind(
            "sars_cov_2_rt_pcr",
            _("SARS-CoV-2 RT-PCR"),
            "94500-6",
            "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with probe "
            "detection",
            ("nasopharyngeal_swab", "nasal_swab", "saliva"),
            short_label=_("SARS-CoV-2"),
            loinc_by_specimen=(
                (
                    "saliva",
                    "94845-5",
                    "SARS-CoV-2 (COVID-19) RNA [Presence] in Saliva (oral fluid) by NAA with "
                    "probe detection",
                ),
            ),
        ),
        TestKind(
            "influenza_a_antigen",
            _("Influenza A antigen (rapid test)"),
            "80382-5",
            "Influenza virus A Ag [Presence] in Upper respiratory specimen by Rapid immunoassay",
            ("nasopharyngeal_swab", "nasal_swab"),
            short_label=_("Influenza A"),
        ),
        TestKind(
            "influenza_b_antigen",
            _("Influenza B antigen (rapid test)"),
            "80383-3",
            "Influenza virus B Ag [Presence] in Upper respiratory specimen by Rapid immunoassay",
            ("nasopharyngeal_swab", "nasal_swab"),
            short_label=_("Influenza B"),
        ),
        TestKind(
            "rsv_antigen",
            _("RSV antigen (rapid test)"),
            "72885-7",
            "Respiratory syncytial virus Ag [Presence] in Nasopharynx by Rapid immunoassay",
            ("nasopharyngeal_swab",),
            short_label=_("RSV"),
        ),
        TestKind(
            "strep_a_antigen",
            _("Group A streptococcus antigen (rapid test)"),
            "78012-2",
            "Streptococcus pyogenes Ag [Presence] in Throat by Rapid immunoassay",
            ("throat_swab",),
            reading_minutes=5,
            short_label=_("Group A strep"),
        ),
        TestKind(
            "influenza_ab_antigen",
            _("Influenza A and B antigen (rapid test)"),
            "80381-7",
            "Influenza virus A and B Ag panel - Upper respiratory specimen by Rapid immunoassay",
            ("nasopharyngeal_swab", "nasal_swab"),
            panel_of=("influenza_a_antigen", "influenza_b_antigen"),
        ),
        TestKind(
            "sars_cov_2_influenza_ab_antigen",
            _("SARS-CoV-2 + influenza A and B antigen (rapid multiplex test)"),
            "97099-6",
            "Influenza virus A and B and SARS-CoV-2 (COVID-19) Ag panel - Upper respiratory "
            "specimen by Rapid immunoassay",
            ("nasopharyngeal_swab", "nasal_swab"),
            panel_of=("sars_cov_2_antigen", "influenza_a_antigen", "influenza_b_antigen"),
        ),
        TestKind(
            "sars_cov_2_influenza_ab_rsv_antigen",
            _("SARS-CoV-2 + influenza A and B + RSV antigen (rapid multiplex test)"),
            # LOINC has no antigen panel of these four (95941-1 is by NAA): the order
            # goes under a local code; each result still carries its LOINC code.
            "",
            "SARS-CoV-2 and Influenza virus A and B and Respiratory syncytial virus Ag panel - "
            "Upper respiratory specimen by Rapid immunoassay",
            ("nasopharyngeal_swab", "nasal_swab"),
            local_code="COV2-FLUAB-RSV-AG",
            panel_of=(
                "sars_cov_2_antigen",
                "influenza_a_antigen",
                "influenza_b_antigen",
                "rsv_antigen",
            ),
        ),
    ]
}

# The analytes a multiplex kit reads after its first one: each has its own result field
# ("result" holds the first analyte's result, see ScreeningTest.analyte_results).
SECONDARY_ANALYTES: tuple[str, ...] = tuple(
    dict.fromkeys(code for kind in TEST_KINDS.values() for code in kind.panel_of[1:])
)


def other_result_field(analyte: str) -> str:
    """The form field (and CSV column) of a multiplex kit's result for `analyte`."""
    return f"result__{analyte}"


RESULTS: dict[str, Coded] = {
    r.code: r
    for r in [
        Coded("positive", _("positive"), "260373001", "Detected"),
        Coded("negative", _("negative"), "260415000", "Not detected"),
        Coded("invalid", _("invalid"), "419984006", "Inconclusive"),
    ]
}

SPECIMENS: dict[str, Coded] = {
    s.code: s
    for s in [
        Coded("nasopharyngeal_swab", _("nasopharyngeal swab"), "258500001", "Nasopharyngeal swab"),
        Coded("nasal_swab", _("nasal swab"), "445297001", "Swab of internal nose"),
        Coded("throat_swab", _("throat swab"), "258529004", "Throat swab"),
        Coded("saliva", _("saliva"), "258560004", "Oral saliva sample"),
    ]
}


def kind_choices():
    return [(k.code, k.label) for k in TEST_KINDS.values()]


def result_choices():
    return [(r.code, r.label) for r in RESULTS.values()]


def specimen_choices():
    return [(s.code, s.label) for s in SPECIMENS.values()]
