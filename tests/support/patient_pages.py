"""Acting as a patient: the result link's date-of-birth check, the result page."""

import datetime

from django.conf import settings

from relais.patient_access import links
from tests.support.fictitious import PATIENT_DATA, date_fields

BIRTH_DATE = PATIENT_DATA["birth_date"]
OPEN_PATH = "/r/open/"


def in_english(client):
    """The interface is French until the language switch's cookie says otherwise."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def follow_link(client, token: str, **extra):
    """What a click on the link does: /r/<token> hands the token to the session and
    redirects to the token-free date page, which the client then loads."""
    response = client.get(f"/r/{token}", **extra)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == OPEN_PATH
    return client.get(OPEN_PATH, **extra)


def post_date(client, token: str, date: datetime.date, **extra):
    """Follow the link, then send the date: the form posts to the token-free page."""
    client.get(f"/r/{token}", **extra)
    return client.post(OPEN_PATH, date_fields(date), **extra)


def open_result(client, token: str):
    response = post_date(client, token, BIRTH_DATE)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == "/r/result/"
    return response


def issue(test):
    return links.issue_links([(test, [])])[0]
