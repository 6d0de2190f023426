"""SQL, HTML and HL7 injection in every text field, through the web forms and the API:
stored values come back escaped in every page, the HL7 message built from the stored
record keeps its structure, and the tables are all still there."""

import csv
import io
import re

from relais.transmission.hl7 import escape
from tests.support.fictitious import api_submission
from tests.support.live import identity

STORED = "stored injection (HTML/HL7/SQL)"
REFLECTED = "reflected injection (HTML)"
HL7 = "HL7 delimiter injection"
SQL_ATTACK = "SQL injection"

SQL = "'; DROP TABLE screening_patient;--"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
DELIMITERS = "|^~\\&"
SEGMENT = "\rPID|1||EVIL"
RAW_HTML = [SCRIPT, "<img src=x onerror=alert(1)>", "<script>", "onerror=alert(1)>"]
LONG_PAYLOAD = f"{SQL} {SCRIPT} {IMG} {DELIMITERS}{SEGMENT}"  # free text up to 200
SHORT_PAYLOAD = f"{IMG} {DELIMITERS}{SEGMENT}"  # free text up to 100
# The result's OBX, then the answer "symptomatic: no" (95419-8).
SEGMENTS = ["MSH", "SFT", "PID", "ORC", "OBR", "OBX", "OBX", "SPM"]

WEB_PATIENT = identity("Vauquelinard", "", "Héloïse", "1972-05-30", "F", 318, "+33611223347",
                      "heloise.vauquelinard@example.org", LONG_PAYLOAD)  # fmt: skip
WEB_PATIENT["city"] = SHORT_PAYLOAD
API_PATIENT = identity("Ternoiseau", "", "Gaspard", "1988-09-14", "M", 742, "+33622334459",
                      "gaspard.ternoiseau@example.org", LONG_PAYLOAD)  # fmt: skip
API_PATIENT["city"] = SHORT_PAYLOAD
CSV_PATIENT = identity("Dubreuilhac", "", "Aurèle", "1969-12-05", "M", 613, "+33644556672",
                      "aurele.dubreuilhac@example.org", LONG_PAYLOAD)  # fmt: skip
CSV_PATIENT["city"] = SHORT_PAYLOAD
CSV_DEVICE = f"{SCRIPT};{DELIMITERS}{SEGMENT}"


def raw_html_in(response) -> list[str]:
    """The payloads that came back unescaped in an HTML answer."""
    if "html" not in response.headers.get("content-type", ""):
        return []
    return [payload for payload in RAW_HTML if payload in response.text]


def every_field(value: str) -> dict:
    return dict.fromkeys(WEB_PATIENT, value)


def test_payloads_in_every_patient_field_are_refused_and_reflected_escaped(live, attacks):
    browser = live.login("a_pharmacist")
    for payload in (SQL, SCRIPT, IMG, DELIMITERS + SEGMENT):
        response = browser.post_form("/patients/new/", every_field(payload))
        attacks.attempt(STORED, response.status_code == 302, f"saved {payload!r}")
        leaked = raw_html_in(response)
        attacks.attempt(REFLECTED, bool(leaked), f"/patients/new/ reflects {leaked}")
        assert response.status_code == 200
    attacks.assert_none(STORED)
    attacks.assert_none(REFLECTED)


def test_reflected_payloads_come_back_escaped(live, attacks):
    browser = live.login("a_pharmacist")
    stranger = live.browser("127.0.0.16")
    api = live.api("a")
    for payload in (SCRIPT, IMG, SQL):
        answers = [
            browser.search_patients({"birth_name": payload, "birth_date": "1980-01-01"}),
            browser.search_patients({"nir": payload}),
            browser.get("/", params={"date": payload}),
            browser.post_form(
                "/patients/new/", {"prefill": "1", "birth_name": payload, "nir": payload}
            ),
            stranger.post_form(
                "/accounts/login/", {"email": payload, "password": payload, "otp_token": payload}
            ),
            stranger.get("/accounts/login/", params={"next": payload}),
            stranger.post_form("/accounts/password-reset/", {"email": payload}),
            stranger.get("/accounts/activate/", params={"t": payload}),
            api.get("/api/v1/tests", params={"since": payload, "cursor": payload}),
            api.get(f"/api/v1/{payload}"),
        ]
        for response in answers:
            leaked = raw_html_in(response)
            path = response.request.url.path
            attacks.attempt(REFLECTED, bool(leaked), f"{path} reflects {leaked}")
            attacks.attempt(SQL_ATTACK, response.status_code >= 500, f"{path}: 5xx")
    attacks.assert_none(REFLECTED)
    attacks.assert_none(SQL_ATTACK)


def create_through_the_web(browser) -> tuple[str, str]:
    response = browser.post_form("/patients/new/", WEB_PATIENT)
    assert response.status_code == 302, response.text[:3000]
    patient_path = response.headers["location"].replace("tests/new/", "")
    test = dict(api_submission()["test"], device=f"{SCRIPT}{DELIMITERS}{SEGMENT}")
    test["consent_transmission"] = "on"
    response = browser.post_form(response.headers["location"], test)
    assert response.status_code == 302, response.text[:3000]
    return patient_path, test["device"]


def create_through_the_api(api) -> dict:
    test = dict(api_submission()["test"], device=f"{IMG}{DELIMITERS}{SEGMENT}")
    response = api.post("/api/v1/tests", json={"patient": API_PATIENT, "test": test})
    assert response.status_code == 201, response.text
    return response.json()


def create_through_the_import(live, browser) -> None:
    header = browser.get("/imports/template.csv").text.lstrip("\ufeff").splitlines()[0]
    names = header.split(";")
    birth = CSV_PATIENT["birth_date"]
    row = {**CSV_PATIENT, "birth_date": f"{birth[8:]}/{birth[5:7]}/{birth[:4]}",
           "kind": "sars_cov_2_antigen", "device": CSV_DEVICE, "specimen": "nasal_swab",
           "sampled_at": "02/01/2025 09:30", "result": "negative", "symptoms": "non",
           "symptom_onset": "", "consent_transmission": "oui", "notify_by": "none"}  # fmt: skip
    content = io.StringIO()
    writer = csv.writer(content, delimiter=";")
    writer.writerow(names)
    writer.writerow([row.get(name, "") for name in names])
    upload = browser.post(
        "/imports/",
        data={"csrfmiddlewaretoken": browser.csrf_token()},
        files={"file": ("patients.csv", content.getvalue().encode(), "text/csv")},
    )
    assert upload.status_code == 302, upload.text[:3000]
    review = upload.headers["location"]
    live.work_imports()  # the worker checks the file
    assert "1" in browser.get(review).text
    confirmed = browser.post_form(review, {"import": "1"})
    assert confirmed.status_code == 302, confirmed.status_code
    live.work_imports()  # then imports it


def test_stored_payloads_are_escaped_in_pages_and_in_hl7(live, attacks):
    browser = live.login("a_pharmacist")
    live.personal_data += [WEB_PATIENT, API_PATIENT, CSV_PATIENT]
    create_through_the_web(browser)
    created = create_through_the_api(live.api("a"))
    create_through_the_import(live, browser)
    test_ids = live.query(
        "SELECT id::text FROM screening_screeningtest WHERE device LIKE %s", (f"%{SCRIPT}%",)
    )
    test_ids = [row[0] for row in test_ids] + [created["id"]]
    assert len(test_ids) == 3, "the web form, the API and the import each stored one test"
    patient_paths = [
        f"/patients/{row[0]}/"
        for row in live.query(
            "SELECT patient_id::text FROM screening_screeningtest WHERE id::text = ANY(%s)",
            (test_ids,),
        )
    ]
    pages = [*patient_paths, *(f"{path}edit/" for path in patient_paths),
             "/", *(f"/tests/{test_id}/" for test_id in test_ids),
             *(f"/tests/{test_id}/correct/" for test_id in test_ids)]  # fmt: skip
    for page in pages:
        response = browser.get(page)
        assert response.status_code == 200, f"{page}: {response.status_code}"
        leaked = raw_html_in(response)
        attacks.attempt(STORED, bool(leaked), f"{page} shows {leaked}")
    for test_id, message in live.backstage("hl7", *test_ids).items():
        check_hl7(attacks, test_id, message)
    attacks.assert_none(STORED)
    attacks.assert_none(HL7)


def check_hl7(attacks, test_id: str, message: str) -> None:
    segments = [segment for segment in message.split("\r") if segment]
    names = [segment[:3] for segment in segments]
    attacks.attempt(HL7, names != SEGMENTS, f"{test_id}: segments {names}")
    attacks.attempt(HL7, not message.startswith("MSH|^~\\&|"), f"{test_id}: MSH-2 changed")
    pid = next(segment for segment in segments if segment.startswith("PID|"))
    attacks.attempt(HL7, escape(LONG_PAYLOAD) not in pid, f"{test_id}: address not escaped")
    raw = "|EVIL" in message or "PID|1||EVIL" in message
    attacks.attempt(HL7, raw, f"{test_id}: the injected segment is raw")


def test_free_text_of_owners_and_applicants_is_escaped(live, attacks):
    owner = live.login("a_owner")
    response = owner.post_form("/api-credentials/", {"name": f"{SCRIPT} {IMG}"[:100]})
    assert response.status_code == 200
    attacks.attempt(STORED, bool(raw_html_in(response)), "new credential page")
    attacks.attempt(STORED, bool(raw_html_in(owner.get("/api-credentials/"))), "credentials")
    invite = {"email": "invited@attack.test", "full_name": f"{IMG}"[:150], "role": "assistant"}
    response = owner.post_form("/accounts/staff/", invite)
    assert response.status_code in (200, 302), response.status_code
    attacks.attempt(STORED, bool(raw_html_in(owner.get("/accounts/staff/"))), "staff page")
    applicant = live.browser("127.0.0.17")
    application = {"pharmacy_name": f"{SCRIPT}", "finess": "750000303", "owner_name": IMG,
                   "owner_rpps": "10000000099", "owner_email": "applicant@attack.test"}  # fmt: skip
    response = applicant.post_form("/apply/", application)
    assert response.status_code == 302, response.status_code
    admin = live.login("admin")
    listing = admin.get("/platform/applications/")
    attacks.attempt(STORED, bool(raw_html_in(listing)), "applications list")
    for application_id in set(re.findall(r"/platform/applications/([0-9a-f-]{36})/", listing.text)):
        page = admin.get(f"/platform/applications/{application_id}/")
        attacks.attempt(STORED, bool(raw_html_in(page)), f"application {application_id}")
    attacks.assert_none(STORED)


def test_every_table_survived(live, attacks):
    tables = {row[0] for row in live.query("SELECT tablename FROM pg_tables")}
    for table in ("screening_patient", "screening_screeningtest", "accounts_user",
                  "audit_auditevent", "transmission_transmission"):  # fmt: skip
        attacks.attempt(SQL_ATTACK, table not in tables, f"{table} is gone")
    counts = live.query("SELECT count(*) FROM screening_patient")
    attacks.attempt(SQL_ATTACK, counts[0][0] < 3, "patients are gone")
    attacks.assert_none(SQL_ATTACK)
