"""The device catalogue: the EU common list of rapid antigen tests and the French kits."""

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from relais.screening import devices
from relais.screening.devices import (
    CATALOGUE_SOURCE,
    DEVICES,
    EU_FILE,
    FRENCH_FILE,
    convert_value_set,
    get,
    search,
    split_display,
)
from relais.screening.models import ScreeningTest

ROOT = Path(__file__).resolve().parents[2]

# The codes of src/relais/screening/catalogue.py that devices may name. The multiplex kinds
# are being added to the catalogue on another branch; until then they are listed here.
TEST_KINDS = {
    "sars_cov_2_antigen",
    "influenza_a_antigen",
    "influenza_b_antigen",
    "rsv_antigen",
    "strep_a_antigen",
    "influenza_ab_antigen",
    "sars_cov_2_influenza_ab_antigen",
    "sars_cov_2_influenza_ab_rsv_antigen",
}
KIND_ANALYTES = {
    "sars_cov_2_antigen": {"sars_cov_2"},
    "influenza_a_antigen": {"influenza_a"},
    "influenza_b_antigen": {"influenza_b"},
    "rsv_antigen": {"rsv"},
    "strep_a_antigen": {"strep_a"},
    "influenza_ab_antigen": {"influenza_a", "influenza_b"},
    "sars_cov_2_influenza_ab_antigen": {"sars_cov_2", "influenza_a", "influenza_b"},
    "sars_cov_2_influenza_ab_rsv_antigen": {"sars_cov_2", "influenza_a", "influenza_b", "rsv"},
}
SPECIMENS = {"nasopharyngeal_swab", "nasal_swab", "throat_swab", "saliva"}


def shipped(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def value_set_from_shipped() -> dict:
    """The EU value set as test-manf.json has it, rebuilt from what we ship."""
    eu = shipped(EU_FILE)
    return {
        "valueSetId": eu["source"]["valueSetId"],
        "valueSetDate": eu["source"]["valueSetDate"],
        "valueSetValues": {
            d["id"]: {
                "display": d["display"],
                "lang": "en",
                "active": d["active"],
                "system": eu["source"]["system"],
                "version": d["version"],
            }
            for d in eu["devices"]
        },
    }


# --- The EU list ---------------------------------------------------------------------------


def test_the_eu_list_is_complete_and_names_its_source():
    eu = shipped(EU_FILE)
    header = eu["source"]
    assert header["repository"] == "ehn-dcc-development/eu-dcc-valuesets"
    assert header["valueSetId"] == "covid-19-lab-test-manufacturer-and-name"
    assert header["valueSetDate"] == "2021-07-01"
    assert len(header["commit"]) == 40
    # Every entry of the source is kept, withdrawn ones too.
    assert header["entries"] == len(eu["devices"]) == 88
    assert header["active"] == sum(d["active"] for d in eu["devices"]) == 86
    eu_devices = [d for d in DEVICES.values() if not d.code.startswith("FR-")]
    assert len(eu_devices) == 88
    assert sum(not d.active for d in eu_devices) == 2
    assert CATALOGUE_SOURCE == {
        "source": "ehn-dcc-development/eu-dcc-valuesets:test-manf-example.json",
        "repository": header["repository"],
        "path": "test-manf-example.json",
        "commit": header["commit"],
        "date": "2021-07-01",
        "size": 88,
        "active": 86,
    }


def test_known_eu_devices_keep_their_id_and_label():
    panbio = get("1232")
    assert panbio is not None
    assert panbio.label == "Abbott Rapid Diagnostics, Panbio COVID-19 Ag Rapid Test"
    assert panbio.manufacturer == "Abbott Rapid Diagnostics"
    assert panbio.name == "Panbio COVID-19 Ag Rapid Test"
    assert panbio.kind == "sars_cov_2_antigen"
    assert panbio.specimens == ("nasopharyngeal_swab", "nasal_swab")
    assert (panbio.reading_minutes, panbio.reading_minutes_assumed) == (15, True)
    assert panbio.source == "EU DCC value set 2021-07-01"
    assert panbio.active
    flowflex = get("1468")
    assert flowflex is not None
    # The maker's own comma stays with the maker.
    assert flowflex.manufacturer == "ACON Laboratories, Inc"
    assert flowflex.label == "ACON Laboratories, Inc, Flowflex SARS-CoV-2 Antigen rapid test"
    veritor = get("1065")
    assert veritor is not None and not veritor.active


def test_every_eu_label_is_the_value_set_display():
    for entry in shipped(EU_FILE)["devices"]:
        device = DEVICES[entry["id"]]
        assert device.label == entry["display"]
        assert device.manufacturer and device.name


def test_the_shipped_list_is_what_the_converter_makes_of_its_source():
    header = shipped(EU_FILE)["source"]
    origin = {k: header[k] for k in ("repository", "path", "commit", "retrieved")}
    assert convert_value_set(value_set_from_shipped(), origin) == shipped(EU_FILE)


def test_the_converter_refuses_another_value_set():
    other = value_set_from_shipped() | {"valueSetId": "covid-19-lab-test-type"}
    with pytest.raises(ValueError, match="covid-19-lab-test-manufacturer-and-name"):
        convert_value_set(other, {})


@pytest.mark.parametrize(
    "display, manufacturer, name",
    [
        ("AAZ-LMB, COVID-VIRO", "AAZ-LMB", "COVID-VIRO"),
        (
            "Hangzhou Clongene Biotech Co., Ltd, Covid-19 Kit",
            "Hangzhou Clongene Biotech Co., Ltd",
            "Covid-19 Kit",
        ),
        (
            "CerTest Biotec, S.L., CerTest Card, nasal",
            "CerTest Biotec, S.L.",
            "CerTest Card, nasal",
        ),
        ("Getein Biotech, Inc., One Step Test", "Getein Biotech, Inc.", "One Step Test"),
        ("No comma at all", "", "No comma at all"),
    ],
)
def test_split_display_keeps_company_suffixes_with_the_maker(display, manufacturer, name):
    assert split_display(display) == (manufacturer, name)
    assert ", ".join(p for p in (manufacturer, name) if p) == display


def test_the_update_script_regenerates_the_file(tmp_path):
    source = tmp_path / "test-manf.json"
    source.write_text(json.dumps(value_set_from_shipped()), encoding="utf-8")
    output = tmp_path / "eu_rat_devices.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "update-eu-rat-devices"),
            str(source),
            "--commit",
            "0" * 40,
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "88 devices (86 active), value set of 2021-07-01" in done.stdout
    regenerated = json.loads(output.read_text(encoding="utf-8"))
    assert regenerated["source"]["commit"] == "0" * 40
    assert regenerated["devices"] == shipped(EU_FILE)["devices"]


def test_the_data_ships_inside_the_package():
    data = resources.files("relais.screening").joinpath("data")
    assert data.joinpath("eu_rat_devices.json").is_file()
    assert data.joinpath("french_kits.json").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data/**/*"' in pyproject


# --- The French kits -----------------------------------------------------------------------


def test_every_french_kit_is_coded_and_sourced():
    kits = shipped(FRENCH_FILE)["kits"]
    assert kits
    assert len({k["id"] for k in kits}) == len(kits)
    for kit in kits:
        assert kit["id"].startswith("FR-")
        assert kit["kind"] in TEST_KINDS
        assert set(kit["analytes"]) == KIND_ANALYTES[kit["kind"]]
        assert kit["specimens"] and set(kit["specimens"]) <= SPECIMENS
        assert isinstance(kit["reading_minutes"], int) and 1 <= kit["reading_minutes"] <= 30
        assert isinstance(kit["reading_minutes_assumed"], bool)
        assert kit["source"].strip()
        device = DEVICES[kit["id"]]
        assert device.label == f"{kit['manufacturer']}, {kit['name']}"


def test_every_device_code_fits_the_test_column_and_obx_17():
    # ScreeningTest.device_code holds it, and OBX-17.1 (CE-1) allows 20 characters.
    column = ScreeningTest._meta.get_field("device_code").max_length
    assert column == 20
    assert [code for code in DEVICES if len(code) > column] == []


def test_every_device_names_a_catalogue_kind_and_specimens():
    for device in DEVICES.values():
        assert device.kind in TEST_KINDS
        assert device.specimens and set(device.specimens) <= SPECIMENS


def test_strep_a_kits_take_a_throat_swab():
    strep = [d for d in DEVICES.values() if d.kind == "strep_a_antigen"]
    assert strep
    assert all(d.specimens == ("throat_swab",) for d in strep)


# --- Search --------------------------------------------------------------------------------


def test_search_by_partial_name_and_maker():
    assert [d.code for d in search("panbio")] == ["1232", "FR-PANBIO-COVID-FLU"]
    assert "FR-AAZ-TRIPLEX" in [d.code for d in search("trip")]
    assert [d.code for d in search("clongene")] == ["1363", "1365"]


def test_search_words_in_any_order_all_required():
    assert [d.code for d in search("rapid test panbio")] == ["1232"]
    assert [d.code for d in search("panbio rapid test")] == ["1232"]
    assert search("panbio triplex") == []


def test_search_by_code_puts_the_exact_code_first():
    found = search("1232")
    assert found[0].code == "1232"
    assert search("fr-aaz-cov-grip")[0].code == "FR-AAZ-COV-GRIP"
    assert [d.code for d in search(" 345 ")][:1] == ["345"]


def test_search_ignores_case_and_accents():
    assert [d.code for d in search("MÖLAB")] == ["1190"]
    assert [d.code for d in search("molab")] == ["1190"]
    assert [d.code for d in search("mo-screen")] == ["1190"]
    assert [d.code for d in search("Mö-Screen")] == ["1190"]


def test_search_lists_active_devices_first():
    found = search("covid", limit=100)
    flags = [d.active for d in found]
    assert False in flags and True in flags
    assert flags == sorted(flags, reverse=True)


@pytest.mark.parametrize("query", ["", "   ", "\t\n", "---", "®", "«»"])
def test_an_empty_query_finds_nothing(query):
    assert search(query) == []


@pytest.mark.parametrize(
    "query", [".*", "(", "[a-z]+", "\\d{4}", "^1232$", "a|b", "%", "_", "' OR 1=1 --", "\x00"]
)
def test_a_hostile_query_is_taken_literally(query):
    # No regular expression, no SQL: punctuation is a word break, so nothing matches
    # unless the remaining letters do.
    for device in search(query):
        assert device in DEVICES.values()
    assert search(".*") == []
    assert [d.code for d in search("^1232$")] == ["1232"]


def test_a_very_long_query_is_cut_short():
    assert search("panbio " * 100_000) == search("panbio")
    assert search("x" * 1_000_000) == []
    # Only the first words count: a ninth word cannot narrow the result.
    eight = "abbott panbio covid 19 ag rapid test abbott"
    assert search(eight + " nonexistent") == search(eight)


def test_search_limit_is_bounded():
    assert len(search("covid", limit=3)) == 3
    assert search("covid", limit=0) == []
    assert search("covid", limit=-5) == []
    assert len(search("a", limit=10**9)) <= devices.MAX_LIMIT


def test_get_unknown_or_odd_codes():
    assert get("0") is None
    assert get("") is None
    assert get("1232; DROP TABLE") is None
    assert get(None) is None  # type: ignore[arg-type]
    assert get(" 1232 ") is DEVICES["1232"]
