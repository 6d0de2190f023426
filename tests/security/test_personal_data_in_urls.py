"""Personal data must never travel in a URL: URLs end up in the TLS proxy's access log
(nginx's default format logs the request line, query string included), in the browser
history of the shared counter PC, and in any log of the path. The attacker here reads
what the app's own pages make the browser send."""

import html.parser
import urllib.parse

ATTACK = "personal data in URLs"
PERSONAL_FIELDS = {"birth_name", "used_name", "given_names", "birth_date", "nir", "phone",
                   "email", "address", "city"}  # fmt: skip


class Forms(html.parser.HTMLParser):
    """Each form's method and the names of its fields; every link's href."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            method = (attrs.get("method") or "get").lower()
            self.forms.append({"method": method, "action": attrs.get("action"), "fields": set()})
        elif tag in ("input", "select", "textarea") and self.forms and attrs.get("name"):
            self.forms[-1]["fields"].add(attrs["name"])
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def parse(response) -> Forms:
    forms = Forms()
    forms.feed(response.text)
    return forms


def test_no_page_puts_personal_data_in_a_url(live, attacks):
    browser = live.login("a_pharmacist")
    searched = {"birth_name": "Inconnudelaliste", "birth_date": "1950-01-01"}
    pages = ["/", "/patients/", "/patients/new/", f"/patients/{live.seeded['patients']['a1']}/"]
    answers = [(page, browser.get(page)) for page in pages]
    # A search that finds no one offers to create the patient with what was typed.
    answers.append(("search results", browser.search_patients(searched)))
    for page, response in answers:
        assert response.status_code == 200, f"{page}: {response.status_code}"
        found = parse(response)
        for form in found.forms:
            sent_in_url = form["method"] == "get" and form["fields"] & PERSONAL_FIELDS
            attacks.attempt(
                ATTACK, bool(sent_in_url), f"{page}: GET form sends {sorted(sent_in_url or [])}"
            )
        for link in found.links:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
            carried = sorted(set(query) & PERSONAL_FIELDS)
            attacks.attempt(ATTACK, bool(carried), f"{page}: link {link[:60]} carries {carried}")
    attacks.assert_none(ATTACK)
