"""Every URL of the project, discovered from the resolver, refuses whoever must not reach it,
and every refusal follows the one policy of relais.accounts.permissions:

- not logged in, or the second factor not verified: redirect to the login page;
- logged in but not allowed (wrong role, inactive pharmacy, not a platform administrator,
  not an auditor): 403;
- an object of another pharmacy: 404, like a missing one.

A route is either PUBLIC (with the reason), SIGNED_IN, an API route (bearer credentials),
or a web page wrapped in one of the decorators of relais.accounts.permissions. For each
route the test makes real requests: anonymous, each role of pharmacy A, the owner of
pharmacy B (object ids are filled with objects of pharmacy A), an auditor, a platform
administrator with and without the second factor. A new route that is none of these
fails here. (A method the view does not serve may answer 405 before any of this.)
"""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from relais.accounts.models import Membership, Pharmacy, PharmacyApplication, User
from relais.accounts.permissions import ROLE_PERMISSIONS
from tests.support.factories import (
    PASSWORD,
    log_in,
    make_member,
    make_patient,
    make_pharmacy,
    make_platform_admin,
    make_test,
)
from tests.support.routes import PARAM_RE, REGEX_GROUP_RE, discover, is_api

PUBLIC = {
    "accounts/login/": "the login form",
    "accounts/activate/": "gated by a single-use, expiring activation token",
    "accounts/enrol/": "new authenticator after a reset: gated by the password, throttled",
    "accounts/password-reset/": "asks for a reset link; same answer for any address",
    "accounts/password-reset/sent/": "static confirmation page",
    "accounts/password-reset/new/": "gated by a single-use, expiring reset token",
    "accounts/psc/start/": "starts a Pro Santé Connect round trip (POST with CSRF token); "
    "linking needs a verified session, activation the activation token",
    "accounts/psc/callback/": "gated by the single-use state, nonce and PKCE verifier the "
    "session holds; what it grants is checked per purpose",
    "apply/": "the public pharmacy application form (rate-limited)",
    "apply/received/": "static confirmation page",
    "i18n/setlang/": "language switch, stores a cookie only",
    "r/<str:token>": "patient result link: hands its token to the session, looks nothing up",
    "r/open/": "patient date form: gated by the link token the session holds",
    "r/result/": "patient result: gated by the link token and the date of birth",
    "r/result/pdf": "patient result PDF: same gate as r/result/",
    "r/close/": "ends the patient's result session",
    "r/code/": "result slip's short code: gated by the code and the date of birth together",
    "r/code": "redirects to r/code/",
    "r/language/": "patient pages' language switch",
    "api/v1/docs": "API documentation, no data",
    "api/v1/openapi.json": "OpenAPI description, no data",
    "api/v1/health": "health check, no data",
}
# Pages for any signed-in user, about their own session only.
SIGNED_IN = {"accounts/logout/": "ends the caller's own session (POST)"}
LOGIN_PATH = "/accounts/login/"


ROUTES = dict(discover())  # a route served by several methods (API) appears once


ACCESS_RULES = ("pharmacy", "platform_admin", "audit_reader", "account")


def declared_access(view):
    return getattr(view, "access", None)


# --- The world each route is requested in ---------------------------------------------------


class World:
    """Pharmacy A with one member per role and one object of each kind; pharmacy B's owner;
    a platform administrator."""

    def __init__(self):
        self.a = make_pharmacy("Pharmacie A", "750000101")
        self.b = make_pharmacy("Pharmacie B", "750000102")
        self.members = {
            role: make_member(self.a, f"{role}@a.example.org", role) for role in ROLE_PERMISSIONS
        }
        self.other_owner = make_member(self.b, "owner@b.example.org", Membership.Role.OWNER)
        self.admin = make_platform_admin()
        self.auditor = make_auditor()
        self._objects = {}

    def client_for(self, user):
        return log_in(Client(), user)

    def admin_client(self, verified=True):
        if verified:
            return log_in(Client(), self.admin)
        client = Client()
        client.force_login(self.admin)  # password only
        return client

    def auditor_client(self):
        return log_in(Client(), self.auditor)  # verified (password and TOTP)

    def api_client_for_b(self):
        from relais.api.credentials import create_credential

        _, token = create_credential(self.b, "url walk")
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    # Objects of pharmacy A, by URL parameter name. A new kind of id in a URL needs an
    # entry here, so that the test can prove another pharmacy gets a 404 for it.
    def object_id(self, name):
        if name not in self._objects:
            factory = getattr(self, f"make_{name}", None)
            if factory is None:
                pytest.fail(f"tests/test_url_permissions.py: add World.make_{name}")
            self._objects[name] = str(factory())
        return self._objects[name]

    def pharmacist(self):
        return self.members[Membership.Role.PHARMACIST]

    def make_patient_id(self):
        return make_patient(self.a, self.pharmacist()).pk

    def make_test_id(self):
        from relais.screening.models import Patient

        patient = Patient.objects.get(pk=self.object_id("patient_id"))
        return make_test(patient, self.pharmacist()).pk

    def make_membership_id(self):
        return Membership.objects.get(user=self.members[Membership.Role.ASSISTANT]).pk

    def make_invitation_id(self):
        from relais.accounts.models import Invitation

        invitee = make_member(make_pharmacy("Pharmacie C", "750000103"), "invitee@c.example.org")
        return Invitation.objects.create(
            pharmacy=self.a,
            email=invitee.email,
            user=invitee,
            role=Membership.Role.ASSISTANT,
            expires_at=timezone.now() + datetime.timedelta(days=1),
        ).pk

    def make_pharmacy_id(self):
        return self.a.pk

    def make_application_id(self):
        return PharmacyApplication.objects.create(
            pharmacy=self.a,
            pharmacy_name=self.a.name,
            finess=self.a.finess,
            owner_name="Owner A",
            owner_rpps="10000000001",
            owner_email="owner@a.example.org",
            checks={},
        ).pk

    def make_transmission_id(self):
        from relais.transmission.models import Transmission

        self.object_id("test_id")
        return Transmission.objects.filter(pharmacy=self.a).latest("pk").pk

    def make_credential_id(self):
        from relais.api.credentials import create_credential

        return create_credential(self.a, "walk")[0].pk

    def make_batch_id(self):
        import datetime

        from django.utils import timezone

        from relais.imports.models import ImportBatch

        return ImportBatch.objects.create(
            pharmacy=self.a,
            user=self.pharmacist(),
            expires_at=timezone.now() + datetime.timedelta(hours=1),
            encoding="utf-8",
            separator=";",
        ).pk


def make_auditor():
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = User.objects.create_user("auditor@relais.test", PASSWORD, full_name="Auditor")
    user.is_auditor = True
    user.save()
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def url_for(route, world):
    def fill(match):
        converter, name = match.group(1), match.group(2)
        if converter in ("uuid", "uuidstr") or name.endswith("_id"):
            return world.object_id(name)
        return "probe"

    path = PARAM_RE.sub(fill, route)
    path = REGEX_GROUP_RE.sub("probe", path).lstrip("^").rstrip("$")
    return "/" + path


def has_object(route):
    return any(
        conv in ("uuid", "uuidstr") or name.endswith("_id")
        for conv, name in PARAM_RE.findall(route)
    )


def sent_to_login(response):
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PATH)


def refused_anonymously(response):
    return sent_to_login(response) or response.status_code == 405


def statuses(client, url):
    return [client.get(url), client.post(url)]


def assert_refused_with(status, responses, message):
    """The policy's one answer, or 405 for a method the view does not serve."""
    for response in responses:
        assert response.status_code in (status, 405), f"{message}: {response.status_code}"


# --- The checks -----------------------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: r or "/")
def test_route_refuses_whoever_must_not_reach_it(route, db):
    if route not in PUBLIC:
        check_route(route, ROUTES[route], World())


def check_route(route, view, world):
    url = url_for(route, world)
    if is_api(route):
        for response in statuses(Client(), url):
            assert response.status_code in (401, 404, 405), f"{route}: anonymous API call"
        if has_object(route):
            response = world.api_client_for_b().get(url)
            assert response.status_code in (404, 405), f"{route}: pharmacy B's credential"
        return
    for response in statuses(Client(), url):
        assert refused_anonymously(response), f"{route}: anonymous got {response.status_code}"
    if route in SIGNED_IN:
        assert declared_access(view) == "signed_in", f"{route}: not signed_in_required"
        return
    access = declared_access(view)
    assert access in ACCESS_RULES, f"{route}: no decorator of relais.accounts.permissions"
    for response in statuses(world.admin_client(verified=False), url):
        assert refused_anonymously(response), f"{route}: a login without TOTP was let in"
    if access == "pharmacy":
        check_pharmacy_route(route, url, view.required_action, world)
    elif access == "account":
        check_account_route(route, url, world)
    else:
        check_platform_route(route, url, access, world)


def check_pharmacy_route(route, url, action, world):
    reached_by = []
    for role, user in world.members.items():
        if action in ROLE_PERMISSIONS[role]:
            if world.client_for(user).get(url).status_code not in (403, 404):
                reached_by.append(role)
        else:
            assert_refused_with(403, statuses(world.client_for(user), url), f"{route}: {role}")
    # Someone allowed reaches it (objects may be visible to their creator only): so the
    # 404 below comes from the pharmacy scope, not from a made-up id.
    assert reached_by, f"{route}: no member of pharmacy A with {action} reached it"
    if has_object(route):
        responses = statuses(world.client_for(world.other_owner), url)
        assert_refused_with(404, responses, f"{route}: pharmacy B on A's object")
    assert_refused_with(403, statuses(world.admin_client(), url), f"{route}: platform admin")
    assert_refused_with(403, statuses(world.auditor_client(), url), f"{route}: auditor")
    allowed = world.members[reached_by[0]]
    Pharmacy.objects.filter(pk=world.a.pk).update(status=Pharmacy.Status.SUSPENDED)
    assert_refused_with(403, statuses(world.client_for(allowed), url), f"{route}: suspended")


def check_account_route(route, url, world):
    """A person's own pages: any verified user reaches them, and an object id that is not
    theirs (here: an invitation to someone else) answers 404."""
    for user in [*world.members.values(), world.other_owner]:
        for response in statuses(world.client_for(user), url):
            assert response.status_code != 403, f"{route}: refused a verified user"
            if has_object(route):
                assert response.status_code in (404, 405), f"{route}: someone else's object"
    if not has_object(route):
        assert world.client_for(world.other_owner).get(url).status_code == 200, route


def check_platform_route(route, url, access, world):
    for user in [*world.members.values(), world.other_owner]:
        assert_refused_with(403, statuses(world.client_for(user), url), f"{route}: pharmacy user")
    auditor = world.auditor_client()
    if access == "audit_reader":
        assert auditor.get(url).status_code in (200, 405), f"{route}: auditor refused"
    else:
        assert_refused_with(403, statuses(auditor, url), f"{route}: auditor")
    response = world.admin_client().get(url)
    assert response.status_code < 400 or response.status_code == 405, f"{route}: admin refused"


def test_public_list_names_only_existing_routes():
    assert set(PUBLIC) <= set(ROUTES), set(PUBLIC) - set(ROUTES)


@pytest.mark.parametrize("protection", ["none", "role-but-no-pharmacy-scope"])
def test_an_unprotected_view_would_be_caught(db, settings, protection):
    """The walk itself: views added without protection, or without the pharmacy scope,
    fail the checks above."""
    from django.http import HttpResponse
    from django.urls import include, path

    from relais.accounts.permissions import pharmacy_permission_required
    from relais.screening.models import Patient

    def leaky(request, patient_id):
        return HttpResponse(Patient.objects.get(pk=patient_id).birth_name)

    if protection != "none":
        leaky = pharmacy_permission_required("patient.view")(leaky)
    route = "leak/<uuid:patient_id>/"
    patterns = [path(route, leaky), path("accounts/", include("relais.accounts.urls"))]
    settings.ROOT_URLCONF = type("urlconf", (), {"urlpatterns": patterns})
    with pytest.raises(AssertionError, match="anonymous|no decorator|pharmacy B on"):
        check_route(route, leaky, World())
