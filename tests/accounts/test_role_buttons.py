"""Buttons an assistant may not use are not shown: logged in as an assistant, a crawl from
the home page follows every link and reads every form of every page it reaches; each link
answers (no 403) and each form's action accepts the assistant's role. The templates ask one
rule (`may`, the context processor over role_allows) instead of checking roles themselves.
"""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from relais.accounts.models import Membership
from relais.accounts.permissions import role_allows
from relais.transmission.models import Transmission
from tests.support.factories import earlier_today, log_in, make_member, make_patient, make_test

pytestmark = pytest.mark.django_db

MAX_PAGES = 80


class Targets(HTMLParser):
    """The links (GET) and form actions (with their method) of a page."""

    def __init__(self, page_path: str):
        super().__init__()
        self.page_path = page_path
        self.links: list[str] = []
        self.forms: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
        elif tag == "form":
            action = attributes.get("action") or self.page_path
            self.forms.append(((attributes.get("method") or "get").lower(), action))


def local_path(address: str) -> str | None:
    parts = urlsplit(address)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def form_accepts(path: str, role: str) -> bool:
    """Whether the view behind a POST form lets `role` in (decorators of permissions.py)."""
    try:
        view = resolve(urlsplit(path).path).func
    except Resolver404:
        return False
    if getattr(view, "platform_admin", False) or getattr(view, "access", "") == "audit_reader":
        return False
    action = getattr(view, "required_action", None)
    return action is None or role_allows(role, action)


def crawl(client: Client, role: str, start: str = "/") -> tuple[list[str], list[str]]:
    """(pages visited, refusals "page -> target (why)") from `start`."""
    seen, queue, refused, visited = {start}, [start], [], []
    while queue and len(visited) < MAX_PAGES:
        page = queue.pop(0)
        response = client.get(page)
        visited.append(page)
        if response.status_code != 200 or "text/html" not in response["Content-Type"]:
            continue
        targets = Targets(urlsplit(page).path)
        targets.feed(response.content.decode())
        for method, action in targets.forms:
            path = local_path(action)
            if path is None:
                continue
            if method == "post" and not form_accepts(path, role):
                refused.append(f"{page} -> form {path}")
            elif method == "get" and path not in seen:
                seen.add(path)
                queue.append(path)
        for href in targets.links:
            path = local_path(href)
            if path is None or path in seen or path.startswith("/static/"):
                continue
            seen.add(path)
            status = client.get(path).status_code
            if status == 403:
                refused.append(f"{page} -> {path} (403)")
            else:
                queue.append(path)
    return visited, refused


@pytest.fixture
def counter(pharmacy, pharmacist):
    """A day at the counter: a patient with a test SI-DEP holds and one not sent yet."""
    patient = make_patient(pharmacy, pharmacist)
    sent = make_test(patient, pharmacist)
    Transmission.objects.filter(test=sent).update(
        state=Transmission.State.ACKNOWLEDGED,
        sent_at=timezone.now(),
        acknowledged_at=timezone.now(),
    )
    later = earlier_today(5)
    waiting = make_test(patient, pharmacist, kind="influenza_ab_antigen", sampled_at=later)
    return {"patient": patient, "sent": sent, "waiting": waiting}


def assistant_client(pharmacy) -> Client:
    return log_in(
        Client(), make_member(pharmacy, "assistant@example.org", Membership.Role.ASSISTANT)
    )


def test_an_assistant_is_shown_nothing_they_may_not_use(pharmacy, counter):
    client = assistant_client(pharmacy)
    visited, refused = crawl(client, Membership.Role.ASSISTANT)
    # The test pages are the other test's business (below); everything else is clean.
    refused = [line for line in refused if not line.startswith("/tests/")]
    assert refused == []
    # The crawl did reach the pages of the counter.
    patient_page = f"/patients/{counter['patient'].pk}/"
    assert "/" in visited and patient_page in visited and "/imports/" in visited
    assert f"/tests/{counter['waiting'].pk}/" in visited
    assert "/accounts/staff/" not in client.get("/").content.decode()
    assert "/api-credentials/" not in client.get("/").content.decode()


def test_an_assistant_is_not_offered_to_change_a_result_sidep_holds(pharmacy, counter):
    _, refused = crawl(assistant_client(pharmacy), "assistant", f"/tests/{counter['sent'].pk}/")
    assert refused == []


def test_an_owner_is_shown_the_staff_and_credential_pages(pharmacy, counter):
    owner = make_member(pharmacy, "owner@example.org", Membership.Role.OWNER)
    home = log_in(Client(), owner).get("/").content.decode()
    assert 'href="/accounts/staff/"' in home and 'href="/api-credentials/"' in home
    visited, refused = crawl(log_in(Client(), owner), Membership.Role.OWNER)
    assert refused == [] and "/accounts/staff/" in visited


def test_a_template_asking_about_an_unknown_action_fails_loudly(rf):
    from relais.accounts.context_processors import RoleRights, UnknownAction

    with pytest.raises(UnknownAction):
        RoleRights("owner")["staff_manges"]
    assert RoleRights("owner")["staff_manage"] and not RoleRights("assistant")["staff_manage"]
    assert not RoleRights(None)["patient_view"]
