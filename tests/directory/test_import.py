import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from relais.directory import importers
from relais.directory.checks import CHECK_NAMES, check_application
from relais.directory.models import Activity, Establishment, Professional

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from generate_rpps import HEADER, rpps_line  # noqa: E402

SAMPLES = Path(importers.__file__).parent / "samples"
RPPS_SAMPLE = SAMPLES / "PS_LibreAcces_Personne_activite_demo.txt"
FINESS_SAMPLE = SAMPLES / "etalab-finess-demo.csv"
PHARMACIST = ("21", "Pharmacien")


def snapshot():
    return (
        sorted(Professional.objects.values_list("rpps", "last_name", "first_name")),
        sorted(
            Activity.objects.values_list(
                "rpps",
                "profession_code",
                "finess_site",
                "siret_site",
                "role_code",
                "exercise_mode_code",
            )
        ),
        sorted(Establishment.objects.values_list("finess", "name", "category_code", "address")),
    )


@pytest.mark.django_db
def test_samples_import_and_reimport_is_idempotent():
    importers.import_finess(FINESS_SAMPLE)
    report = importers.import_rpps(RPPS_SAMPLE)
    assert report.error_count == 0
    assert report.rows_skipped == 1  # the ADELI line
    first = snapshot()
    assert len(first[0]) == 7 and len(first[2]) == 4
    # The role and the mode of activity come from their own columns of the extract.
    assert ("10000000001", "21", "750000017", "", "FON-03", "L") in first[1]
    assert ("10000000002", "21", "750000017", "", "FON-05", "S") in first[1]

    again = importers.import_rpps(RPPS_SAMPLE)
    importers.import_finess(FINESS_SAMPLE)
    assert again.rows_removed == 0
    assert snapshot() == first
    assert Establishment.objects.get(finess="750000017").address == "1 PL DE LA GARE, 75010 PARIS"


@pytest.mark.django_db
def test_reimport_updates_changed_rows_and_removes_absent_ones(tmp_path):
    extract = tmp_path / "rpps.txt"
    extract.write_text(
        "\n".join(
            [
                HEADER,
                rpps_line("10000000011", "ANCIEN", "NOM", PHARMACIST, "750000017"),
                rpps_line("10000000012", "PARTI", "BIENTOT", PHARMACIST, "750000025"),
            ]
        )
    )
    importers.import_rpps(extract)
    extract.write_text(
        "\n".join([HEADER, rpps_line("10000000011", "NOUVEAU", "NOM", PHARMACIST, "750000025")])
    )
    report = importers.import_rpps(extract)
    assert list(Professional.objects.values_list("rpps", "last_name")) == [
        ("10000000011", "NOUVEAU")
    ]
    assert list(Activity.objects.values_list("rpps", "finess_site")) == [
        ("10000000011", "750000025")
    ]
    assert report.rows_removed == 3  # two old activities and one person


@pytest.mark.django_db
def test_malformed_rpps_lines_are_reported_and_the_rest_imported(tmp_path):
    good = rpps_line("10000000021", "BON", "ELEVE", PHARMACIST, "750000017")
    extract = tmp_path / "rpps.txt"
    extract.write_text(
        "\n".join(
            [
                HEADER,
                good,
                rpps_line("1234", "COURT", "NUMERO", PHARMACIST),
                rpps_line("10000000022", "", "SANSNOM", PHARMACIST),
                rpps_line("10000000023", "MAUVAIS", "FINESS", PHARMACIST, "75-000017"),
                "8|10000000024|trop|peu",
                rpps_line("10000000025", "AUSSI", "BON", ("10", "Médecin")),
            ]
        )
        + "\n"
    )
    report = importers.import_rpps(extract)
    assert [(e.line, e.column) for e in report.errors] == [
        (3, "Identifiant PP"),
        (4, "Nom d'exercice"),
        (5, "Numéro FINESS site"),
        (6, "(line)"),
    ]
    assert report.errors[0].reason == "is not an 11-digit number"
    assert "has 4 fields" in report.errors[3].reason
    assert sorted(Professional.objects.values_list("rpps", flat=True)) == [
        "10000000021",
        "10000000025",
    ]


@pytest.mark.django_db
def test_malformed_finess_lines_are_reported_and_the_rest_imported(tmp_path):
    lines = FINESS_SAMPLE.read_text().splitlines()
    bad_category = lines[2].replace(";620;", ";officine;")
    extract = tmp_path / "finess.csv"
    extract.write_text(
        "\n".join([lines[0], lines[1], bad_category, "structureet;12;court", "autre;x", lines[3]])
    )
    report = importers.import_finess(extract)
    assert [(e.line, e.column) for e in report.errors] == [
        (3, "categetab"),
        (4, "(line)"),
        (5, "(record type)"),
    ]
    assert sorted(Establishment.objects.values_list("finess", flat=True)) == [
        "750000017",
        "750000033",
    ]


@pytest.mark.django_db
def test_a_file_of_the_wrong_kind_changes_nothing(tmp_path):
    importers.import_finess(FINESS_SAMPLE)
    with pytest.raises(CommandError, match="not a FINESS extract"):
        call_command("directory", "import-finess", str(RPPS_SAMPLE))
    with pytest.raises(CommandError, match="missing columns"):
        call_command("directory", "import-rpps", str(FINESS_SAMPLE))
    assert Establishment.objects.count() == 4
    assert Professional.objects.count() == 0


@pytest.mark.django_db
def test_command_prints_rejected_lines_with_line_column_and_reason(tmp_path):
    extract = tmp_path / "rpps.txt"
    extract.write_text(HEADER + "\n" + rpps_line("999", "X", "Y", PHARMACIST) + "\n")
    out, err = StringIO(), StringIO()
    call_command("directory", "import-rpps", str(extract), stdout=out, stderr=err)
    assert "rejected: line 2, column 'Identifiant PP': is not an 11-digit number" in err.getvalue()
    assert "1 rejected" in out.getvalue()


@pytest.mark.django_db
def test_windows_1252_lines_are_read(tmp_path):
    extract = tmp_path / "rpps.txt"
    line = rpps_line("10000000031", "LEFÈVRE", "ÉLODIE", PHARMACIST)
    extract.write_bytes((HEADER + "\n").encode() + line.encode("cp1252") + b"\r\n")
    report = importers.import_rpps(extract)
    assert report.error_count == 0
    assert Professional.objects.get().last_name == "LEFÈVRE"


def failed(finess, rpps, name):
    verdicts, _ = check_application(finess, rpps, name)
    return {check for check, passed in verdicts.items() if not passed}


@pytest.mark.django_db
def test_application_checks_against_the_samples():
    importers.import_finess(FINESS_SAMPLE)
    importers.import_rpps(RPPS_SAMPLE)
    verdicts, evidence = check_application("750000017", "10000000001", "Claire Titulaire")
    assert all(verdicts.values()) and set(verdicts) == set(CHECK_NAMES)
    assert evidence["reasons"]["rpps_titulaire_at_finess"] == {
        "code": "titulaire",
        "params": {"role": "Titulaire d'officine", "role_code": "FON-03", "mode": "Libéral"},
    }
    assert evidence["establishment"]["category_code"] == "620"
    assert evidence["professional"]["last_name"] == "TITULAIRE"
    assert failed("750000099", "10000000001", "Claire Titulaire") == {
        "finess_exists",
        "finess_open",
        "finess_is_officine",
        "rpps_titulaire_at_finess",
    }
    # The tester's case: a laboratory's FINESS, a doctor's RPPS, the doctor's own name.
    assert failed("750000041", "10000000004", "Marc Medecin") == {
        "finess_is_officine",
        "rpps_is_pharmacist",
        "rpps_titulaire_at_finess",
    }
    # A pharmacist of another pharmacy; a salaried pharmacist (adjoint) of this one.
    assert failed("750000017", "10000000003", "Inès Officine") == {"rpps_titulaire_at_finess"}
    assert failed("750000017", "10000000002", "Paul Pharmacien") == {"rpps_titulaire_at_finess"}
    nurse = failed("750000017", "10000000005", "Sophie Infirmiere")
    assert nurse == {"rpps_is_pharmacist", "rpps_titulaire_at_finess"}
    # The real titulaire's RPPS under another name.
    assert failed("750000017", "10000000001", "Jean Imposteur") == {"owner_name_matches"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    [
        "élodie lefèvre dupont",
        "LEFEVRE-DUPONT Elodie",
        "  Elodie   Lefèvre-Dupont ",
        "ÉLODIE LEFÈVRE-DUPONT",
    ],
)
def test_the_name_check_ignores_accents_case_hyphens_and_word_order(typed):
    importers.import_finess(FINESS_SAMPLE)
    importers.import_rpps(RPPS_SAMPLE)
    assert failed("750000017", "10000000007", typed) == set()  # a co-titulaire (FON-03)
    assert failed("750000017", "10000000007", "Élodie Lefèvre") == {"owner_name_matches"}


@pytest.mark.django_db
def test_an_activity_without_site_finess_matches_by_the_sites_siret(tmp_path):
    importers.import_finess(FINESS_SAMPLE)
    Establishment.objects.filter(finess="750000025").update(siret="12345678900012")
    extract = tmp_path / "rpps.txt"
    extract.write_text(
        HEADER
        + "\n"
        + rpps_line("10000000041", "SIRET", "SEUL", PHARMACIST, siret="12345678900012")
    )
    importers.import_rpps(extract)
    assert failed("750000025", "10000000041", "Seul Siret") == set()
    assert "rpps_titulaire_at_finess" in failed("750000017", "10000000041", "Seul Siret")


@pytest.mark.django_db
def test_an_establishment_missing_from_a_later_extract_is_closed_not_deleted(tmp_path):
    importers.import_finess(FINESS_SAMPLE)
    importers.import_rpps(RPPS_SAMPLE)
    without_canal = [
        line for line in FINESS_SAMPLE.read_text().splitlines() if "750000025" not in line
    ]
    extract = tmp_path / "finess.csv"
    extract.write_text("\n".join(without_canal) + "\n")
    report = importers.import_finess(extract)
    assert report.rows_closed == 1
    canal = Establishment.objects.get(finess="750000025")
    assert not canal.is_open and Establishment.objects.get(finess="750000017").is_open
    verdicts, evidence = check_application("750000025", "10000000003", "Inès Officine")
    assert {name for name, passed in verdicts.items() if not passed} == {"finess_open"}
    assert evidence["reasons"]["finess_open"]["code"] == "closed"
    assert evidence["establishment"]["open"] is False
    # Listed again, it is open again.
    importers.import_finess(FINESS_SAMPLE)
    assert Establishment.objects.get(finess="750000025").is_open


@pytest.mark.django_db
def test_a_malformed_role_code_is_rejected_and_a_file_without_role_columns_refused(tmp_path):
    line = rpps_line("10000000051", "ROLE", "FAUX", PHARMACIST, "750000017")
    bad = line.replace("|FON-03|", "|titulaire|")
    extract = tmp_path / "rpps.txt"
    extract.write_text("\n".join([HEADER, bad]) + "\n")
    report = importers.import_rpps(extract)
    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (2, "Code rôle", "is not a role code")
    ]
    old_layout = HEADER.replace("Code rôle|Libellé rôle|", "")
    extract.write_text(old_layout + "\n")
    with pytest.raises(importers.ImportAborted, match="'Code rôle', 'Libellé rôle'"):
        importers.import_rpps(extract)
