"""The directory checks run on a pharmacy application, before anyone looks at it.

Each check gives a verdict and a reason: a code and its values, worded for the
administrator by `reason_text` in their language. `check_application` also returns what
the directories held (the establishment, the person and all their activities), which
the application keeps, so that its review shows what was checked even after the
directories change.

The FINESS must be an open pharmacie d'officine (category 620); the RPPS a pharmacist
(profession 21) registered at that establishment (its site FINESS, or the site's SIRET
when that is what the RPPS extract carries) as titulaire or co-titulaire ("Code rôle"
FON-03); the name typed in the application the directory's, accents, case, hyphens and
word order aside.
"""

import datetime
from dataclasses import dataclass, field

from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from relais.directory.models import (
    OFFICINE_CATEGORY_CODE,
    PHARMACIST_PROFESSION_CODE,
    Activity,
    DirectoryImport,
    Establishment,
    Professional,
)
from relais.screening.validation import normalise_name

CHECK_NAMES = [
    "finess_exists",
    "finess_open",
    "finess_is_officine",
    "rpps_exists",
    "rpps_is_pharmacist",
    "rpps_titulaire_at_finess",
    "owner_name_matches",
]
MAX_ACTIVITIES_KEPT = 20
MAX_SITES_NAMED = 3

REASONS = {
    "finess_found": _("Listed as %(name)s."),
    "finess_unknown": _("No establishment has the FINESS number %(finess)s."),
    "open": _("Listed in the latest FINESS extract."),
    "closed": _("Closed: no longer in the FINESS extract since %(date)s."),
    "no_establishment": _("No establishment to check."),
    "officine": _("Category %(code)s (%(label)s)."),
    "not_officine": _("Category %(code)s (%(label)s), not 620 (pharmacie d'officine)."),
    "rpps_found": _("Listed as %(name)s."),
    "rpps_unknown": _("No professional has the RPPS number %(rpps)s."),
    "no_professional": _("No professional to check."),
    "pharmacist": _("Profession 21 (pharmacist)."),
    "not_pharmacist": _("Profession %(professions)s, not 21 (pharmacist)."),
    "titulaire": _("%(role)s (%(role_code)s, %(mode)s) at this establishment."),
    "not_titulaire": _(
        "At this establishment as %(role)s (%(role_code)s, %(mode)s), "
        "not as titulaire or co-titulaire."
    ),
    "not_at_finess": _("No activity as a pharmacist at this establishment; listed at: %(sites)s."),
    "name_matches": _("The name typed is the directory's (%(name)s)."),
    "name_differs": _("Typed “%(typed)s”; the directory holds “%(name)s”."),
}


@dataclass
class Findings:
    verdicts: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, dict] = field(default_factory=dict)

    def add(self, check: str, passed: bool, code: str, /, **params: str) -> None:
        self.verdicts[check] = passed
        self.reasons[check] = {"code": code, "params": params}


def reason_text(reason: dict | None) -> str:
    """The reason of a stored check, worded in the current language (its date too)."""
    if not reason or reason.get("code") not in REASONS:
        return ""
    params = dict(reason.get("params", {}))
    if "date" in params:
        params["date"] = date_format(
            datetime.date.fromisoformat(params["date"]), "SHORT_DATE_FORMAT"
        )
    return str(REASONS[reason["code"]]) % params


def name_tokens(name: str) -> list[str]:
    return sorted(normalise_name(name).split())


def person_name(professional: Professional) -> str:
    return f"{professional.first_name} {professional.last_name}".strip()


def at_site(activity: Activity, finess: str, establishment: Establishment | None) -> bool:
    if activity.finess_site:
        return activity.finess_site == finess
    # No site FINESS on the line: its site's SIRET, when the establishment has one.
    return bool(
        establishment and establishment.siret and activity.siret_site == establishment.siret
    )


def check_application(finess: str, rpps: str, owner_name: str) -> tuple[dict[str, bool], dict]:
    """(verdicts {check: passed}, evidence): the evidence holds each check's reason and
    what the directories held, to be stored with the application."""
    establishment = Establishment.objects.filter(finess=finess).first()
    professional = Professional.objects.filter(rpps=rpps).first()
    activities = list(Activity.objects.filter(rpps=rpps).order_by("id")[:MAX_ACTIVITIES_KEPT])
    findings = Findings()
    check_establishment(findings, finess, establishment)
    check_professional(findings, rpps, professional, activities)
    check_role(findings, finess, establishment, professional, activities)
    check_name(findings, owner_name, professional)
    evidence = {
        "reasons": findings.reasons,
        "establishment": establishment_record(establishment),
        "professional": professional_record(professional),
        "activities": [activity_record(a, at_site(a, finess, establishment)) for a in activities],
        "directory_dates": import_dates(),
    }
    return findings.verdicts, evidence


def check_establishment(findings: Findings, finess: str, establishment) -> None:
    if establishment is None:
        findings.add("finess_exists", False, "finess_unknown", finess=finess)
        findings.add("finess_open", False, "no_establishment")
        findings.add("finess_is_officine", False, "no_establishment")
        return
    findings.add("finess_exists", True, "finess_found", name=establishment.name)
    if establishment.closed_at is None:
        findings.add("finess_open", True, "open")
    else:
        closed = establishment.closed_at.date().isoformat()
        findings.add("finess_open", False, "closed", date=closed)
    category = {"code": establishment.category_code, "label": establishment.category_label}
    if establishment.category_code == OFFICINE_CATEGORY_CODE:
        findings.add("finess_is_officine", True, "officine", **category)
    else:
        findings.add("finess_is_officine", False, "not_officine", **category)


def check_professional(findings: Findings, rpps: str, professional, activities) -> None:
    if professional is None:
        findings.add("rpps_exists", False, "rpps_unknown", rpps=rpps)
        findings.add("rpps_is_pharmacist", False, "no_professional")
        return
    findings.add("rpps_exists", True, "rpps_found", name=person_name(professional))
    if any(a.profession_code == PHARMACIST_PROFESSION_CODE for a in activities):
        findings.add("rpps_is_pharmacist", True, "pharmacist")
        return
    professions = sorted({f"{a.profession_code} ({a.profession_label})" for a in activities})
    findings.add("rpps_is_pharmacist", False, "not_pharmacist", professions=", ".join(professions))


def check_role(findings: Findings, finess: str, establishment, professional, activities) -> None:
    name = "rpps_titulaire_at_finess"
    if professional is None:
        findings.add(name, False, "no_professional")
        return
    pharmacist = [a for a in activities if a.profession_code == PHARMACIST_PROFESSION_CODE]
    here = [a for a in pharmacist if at_site(a, finess, establishment)]
    titulaire = next((a for a in here if a.is_titulaire), None)
    if titulaire is not None:
        findings.add(name, True, "titulaire", **role_params(titulaire))
    elif here:
        findings.add(name, False, "not_titulaire", **role_params(here[0]))
    else:
        sites = [a.site_name or a.finess_site or a.siret_site for a in pharmacist]
        named = ", ".join(s for s in sites[:MAX_SITES_NAMED] if s) or "—"
        findings.add(name, False, "not_at_finess", sites=named)


def role_params(activity: Activity) -> dict[str, str]:
    return {
        "role": activity.role_label or "—",
        "role_code": activity.role_code or "—",
        "mode": activity.exercise_mode_label or activity.exercise_mode_code or "—",
    }


def check_name(findings: Findings, typed: str, professional) -> None:
    if professional is None:
        findings.add("owner_name_matches", False, "no_professional")
        return
    directory_name = person_name(professional)
    if name_tokens(typed) == name_tokens(directory_name):
        findings.add("owner_name_matches", True, "name_matches", name=directory_name)
    else:
        findings.add("owner_name_matches", False, "name_differs", typed=typed, name=directory_name)


# --- What the directories held ----------------------------------------------------------------


def establishment_record(establishment: Establishment | None) -> dict | None:
    if establishment is None:
        return None
    return {
        "finess": establishment.finess,
        "name": establishment.name,
        "long_name": establishment.long_name,
        "category_code": establishment.category_code,
        "category_label": establishment.category_label,
        "address": establishment.address,
        "siret": establishment.siret,
        "open": establishment.is_open,
        "closed_at": establishment.closed_at.isoformat() if establishment.closed_at else None,
    }


def professional_record(professional: Professional | None) -> dict | None:
    if professional is None:
        return None
    return {
        "rpps": professional.rpps,
        "last_name": professional.last_name,
        "first_name": professional.first_name,
    }


def activity_record(activity: Activity, here: bool) -> dict:
    return {
        "profession_code": activity.profession_code,
        "profession_label": activity.profession_label,
        "exercise_mode_code": activity.exercise_mode_code,
        "exercise_mode_label": activity.exercise_mode_label,
        "role_code": activity.role_code,
        "role_label": activity.role_label,
        "finess_site": activity.finess_site,
        "siret_site": activity.siret_site,
        "site_name": activity.site_name,
        "at_this_establishment": here,
    }


def import_dates() -> dict[str, str | None]:
    """When each directory was last imported: the checks are as good as that."""
    dates: dict[str, str | None] = {}
    for kind in DirectoryImport.Kind:
        run = (
            DirectoryImport.objects.filter(kind=kind, finished_at__isnull=False)
            .order_by("-finished_at")
            .first()
        )
        dates[kind.value] = run.finished_at.isoformat() if run and run.finished_at else None
    return dates


def establishment_address(finess: str) -> str:
    return (
        Establishment.objects.filter(finess=finess).values_list("address", flat=True).first() or ""
    )
