"""Issue "No lost input": a staff form posted after its session ended is kept, encrypted,
for its own user only, and given back after a full login (relais.accounts.drafts)."""

import datetime
import re

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from relais.accounts import drafts
from relais.accounts.models import FormDraft
from relais.audit.models import AuditEvent
from relais.crypto.blobs import encrypt_blob
from relais.lib.clock import database_now
from relais.screening.models import ScreeningTest
from tests.support.factories import (
    PASSWORD,
    log_in,
    make_member,
    make_patient,
    next_totp_code,
    screening_test_form,
)

LOGIN = reverse("accounts:login")
KEPT = "Your session expired: log in again; what you typed is kept."
NOT_KEPT = "Your session expired: log in again."
RESTORED = "What you typed before your session expired is back in the form"
DEVICE = "Zorglub rapid test lot 7Q"  # typed: must never be readable in the database


def english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def session_ends() -> None:
    """The idle timeout, as the server sees it: the session row is gone."""
    Session.objects.all().delete()


def log_in_again(client, user):
    code = next_totp_code(user.totpdevice_set.get())
    data = {"email": user.email, "password": PASSWORD, "otp_token": code}
    return client.post(LOGIN, data)


@pytest.fixture
def counter(client, pharmacist):
    """The counter PC's browser: `pharmacist` logged in, the new-test form of a patient
    open (the page named its user)."""
    english(log_in(client, pharmacist))
    patient = make_patient(pharmacist.memberships.get().pharmacy, pharmacist)
    path = reverse("screening:test_new", args=[patient.pk])
    assert client.get(path).status_code == 200
    return client, path


def typed_form(**changes) -> dict:
    onset = datetime.date.today().isoformat()
    typed = {"device": DEVICE, "result": "positive", "symptoms": "on", "symptom_onset": onset}
    return screening_test_form(**{**typed, **changes})


@pytest.mark.django_db
def test_an_expired_session_keeps_the_form_and_gives_it_back_after_login(counter, pharmacist):
    client, path = counter
    session_ends()
    typed = typed_form()
    response = client.post(path, typed)
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert texts(response) == [KEPT]
    assert not ScreeningTest.objects.exists()
    draft = FormDraft.objects.get()
    assert draft.user == pharmacist and draft.path == path
    # Encrypted at rest: the raw row holds none of what was typed.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_formdraft")
        raw = repr(cursor.fetchall())
    assert DEVICE not in raw and DEVICE.encode().hex() not in raw
    assert "positive" not in raw
    kept = AuditEvent.objects.get(action="form_draft.kept")
    assert kept.actor_id == pharmacist.pk
    assert kept.details == {"draft": str(draft.pk), "view": "screening:test_new"}

    login = log_in_again(client, pharmacist)
    assert login["Location"] == path
    page = client.get(path)
    assert RESTORED in " ".join(texts(page))
    form = page.context["form"]
    assert form.is_bound
    for name in ("device", "result", "kind", "specimen", "sampled_at", "symptom_onset"):
        assert form[name].value() == typed[name], name
    assert form["symptoms"].value() is True and form["consent_transmission"].value() is True
    assert DEVICE in page.content.decode()
    assert not FormDraft.objects.exists()  # given back once, then gone
    restored = AuditEvent.objects.get(action="form_draft.restored")
    assert restored.actor_id == pharmacist.pk and DEVICE not in str(restored.details)
    assert client.get(path).context["form"].is_bound is False  # not twice

    # The page's fresh one-time token saves it once, and only once.
    fresh = page.content.decode().split('name="form_token" value="')[1].split('"')[0]
    sent = {**typed, "form_token": fresh}
    assert client.post(path, sent).status_code == 302
    assert client.post(path, sent).status_code == 302
    test = ScreeningTest.objects.get()
    assert test.result == "positive"


@pytest.mark.django_db
def test_another_user_on_the_same_browser_gets_nothing(counter, pharmacist, pharmacy):
    client, path = counter
    session_ends()
    client.post(path, typed_form())
    colleague = make_member(pharmacy, "colleague@example.org")
    login = log_in_again(client, colleague)
    assert login["Location"] == reverse("screening:day")
    page = client.get(path)
    assert page.context["form"].is_bound is False
    assert DEVICE not in page.content.decode()
    assert not AuditEvent.objects.filter(action="form_draft.restored").exists()
    # The colleague's pages and logout leave it alone: it is still there for its user.
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert FormDraft.objects.filter(user=pharmacist).count() == 1
    assert log_in_again(client, pharmacist)["Location"] == path


@pytest.mark.django_db
def test_a_draft_stays_on_its_browser(counter, pharmacist):
    client, path = counter
    session_ends()
    client.post(path, typed_form())
    elsewhere = english(Client())
    assert log_in_again(elsewhere, pharmacist)["Location"] == reverse("screening:day")
    assert FormDraft.objects.count() == 1


@pytest.mark.django_db
def test_an_expired_draft_is_not_given_back_and_is_purged(counter, pharmacist):
    client, path = counter
    session_ends()
    client.post(path, typed_form())
    past = database_now() - datetime.timedelta(seconds=1)
    FormDraft.objects.update(expires_at=past)
    assert log_in_again(client, pharmacist)["Location"] == reverse("screening:day")
    assert client.get(path).context["form"].is_bound is False
    assert drafts.purge_expired() == 1
    assert not FormDraft.objects.exists()


@pytest.mark.django_db
def test_drafts_last_the_configured_minutes(counter, settings):
    client, path = counter
    settings.DRAFT_MINUTES = 7
    session_ends()
    before = database_now()
    client.post(path, typed_form())
    draft = FormDraft.objects.get()
    lifetime = draft.expires_at - draft.created_at
    assert lifetime == datetime.timedelta(minutes=7) and draft.created_at >= before
    assert drafts.purge_expired() == 0


@pytest.mark.django_db
def test_logout_deletes_the_users_drafts(counter, pharmacist):
    client, path = counter
    session_ends()
    client.post(path, typed_form())
    log_in(client, pharmacist)
    client.cookies.pop(drafts.DRAFT_COOKIE)  # not restored: still pending
    client.post(reverse("accounts:logout"))
    assert not FormDraft.objects.exists()


# --- Hostile posts --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_post_without_a_signed_owner_is_not_kept(client, pharmacist, patient):
    path = reverse("screening:test_new", args=[patient.pk])
    english(client)
    response = client.post(path, typed_form())  # never logged in on this browser
    assert response["Location"] == LOGIN and texts(response) == [NOT_KEPT]
    client.cookies[drafts.OWNER_COOKIE] = str(pharmacist.pk)  # unsigned
    client.post(path, typed_form())
    forged = signing.get_cookie_signer(salt=drafts.OWNER_COOKIE + "other").sign(str(pharmacist.pk))
    client.cookies[drafts.OWNER_COOKIE] = forged  # signed for something else
    client.post(path, typed_form())
    assert not FormDraft.objects.exists()
    assert not AuditEvent.objects.filter(action="form_draft.kept").exists()


@pytest.mark.django_db
def test_a_cross_site_post_is_refused_before_any_draft(pharmacist, patient):
    client = Client(enforce_csrf_checks=True)
    log_in(client, pharmacist)
    path = reverse("screening:test_new", args=[patient.pk])
    client.get(path)
    session_ends()
    assert client.post(path, typed_form()).status_code == 403  # no CSRF token
    assert not FormDraft.objects.exists()


@pytest.mark.django_db
def test_an_oversized_post_is_not_kept(counter):
    client, path = counter
    session_ends()
    response = client.post(path, typed_form(device="x" * (drafts.MAX_BYTES + 1)))
    assert texts(response) == [NOT_KEPT]
    many = {f"field{i}": "x" for i in range(drafts.MAX_FIELDS + 1)}
    client.post(path, {**typed_form(), **many})
    assert not FormDraft.objects.exists()


@pytest.mark.django_db
def test_a_flood_of_posts_keeps_a_few_rows(counter, pharmacist, pharmacy):
    client, path = counter
    session_ends()
    for _ in range(3):
        client.post(path, typed_form())  # the same page: replaced each time
    assert FormDraft.objects.count() == 1
    for _ in range(drafts.MAX_PER_USER + 2):
        patient = make_patient(pharmacy, pharmacist)
        other = reverse("screening:test_new", args=[patient.pk])
        client.post(other, typed_form())
    assert FormDraft.objects.filter(user=pharmacist).count() == drafts.MAX_PER_USER


@pytest.mark.django_db
def test_pages_that_show_no_draft_keep_nothing(counter, pharmacist, pharmacy):
    client, _path = counter
    colleague = make_member(pharmacy, "colleague@example.org")
    membership = colleague.memberships.get()
    session_ends()
    remove = reverse("accounts:staff_remove", args=[membership.pk])
    assert client.post(remove, {})["Location"] == LOGIN
    assert client.post(LOGIN, {"email": pharmacist.email, "password": "x"}).status_code == 200
    assert not FormDraft.objects.exists()


@pytest.mark.parametrize(
    "path",
    ["//evil.example/", "https://evil.example/", "/\\evil.example", "/not-a-page/", "/r/x/"],
)
def test_only_staff_form_pages_may_hold_a_draft(path):
    assert drafts.keeps_drafts_at(path) is False


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/"])
def test_a_draft_never_sends_the_browser_elsewhere(counter, pharmacist, target):
    """A row naming another site or a page that shows no draft (written by someone with
    database access) is dropped, and the login goes to the usual page."""
    client, _path = counter
    if True:
        draft = FormDraft(user=pharmacist, path=target)
        draft.created_at = database_now()
        draft.expires_at = draft.created_at + datetime.timedelta(minutes=5)
        draft.content = encrypt_blob(
            b'{"fields": {}}', f"relais.form-draft|{draft.pk}|{pharmacist.pk}|{target}".encode()
        )
        draft.save()
        client.cookies[drafts.DRAFT_COOKIE] = signing.get_cookie_signer(
            salt=drafts.DRAFT_COOKIE + drafts.SALT
        ).sign(f'["{draft.pk}"]')
        assert log_in_again(client, pharmacist)["Location"] == reverse("screening:day")
        assert not FormDraft.objects.filter(pk=draft.pk).exists()


@pytest.mark.django_db
def test_a_draft_moved_to_another_page_does_not_decrypt(counter, pharmacist, pharmacy):
    client, path = counter
    session_ends()
    client.post(path, typed_form())
    other = make_patient(pharmacy, pharmacist)
    moved = reverse("screening:test_new", args=[other.pk])
    FormDraft.objects.update(path=moved)
    assert log_in_again(client, pharmacist)["Location"] == moved
    page = client.get(moved)
    assert page.context["form"].is_bound is False and DEVICE not in page.content.decode()
    assert not FormDraft.objects.exists()


HIDDEN = re.compile(r'<input type="hidden" name="(form_token|built_from)" value="([^"]*)">')


def correction(test, page, **typed) -> dict:
    return {
        "kind": test.kind,
        "device": test.device,
        "specimen": test.specimen,
        "sampled_at": timezone.localtime(test.sampled_at).strftime("%Y-%m-%dT%H:%M"),
        "result": test.result,
        "consent_transmission": "on",
        "notify_by": test.notify_by,
        **dict(HIDDEN.findall(page.content.decode())),
        **typed,
    }


@pytest.mark.django_db
def test_a_correction_given_back_still_sees_a_change_made_meanwhile(
    client, pharmacist, pharmacy, screening_test
):
    path = reverse("screening:test_correct", args=[screening_test.pk])
    english(log_in(client, pharmacist))
    typed = correction(screening_test, client.get(path), result="invalid")
    session_ends()
    client.post(path, typed)
    colleague = english(log_in(Client(), make_member(pharmacy, "colleague@example.org")))
    theirs = correction(screening_test, colleague.get(path), result="positive")
    assert colleague.post(path, theirs).status_code == 302

    assert log_in_again(client, pharmacist)["Location"] == path
    page = client.get(path)
    assert page.context["form"]["result"].value() == "invalid"
    assert dict(HIDDEN.findall(page.content.decode()))["built_from"] == typed["built_from"]
    review = client.post(path, correction(screening_test, page, result="invalid"))
    assert review.status_code == 409
    screening_test.refresh_from_db()
    assert screening_test.result == "positive"
