"""Nothing typed is lost when a session ends: the form drafts of the staff pages.

A staff form posted after its session ended (idle timeout while the pharmacist served
someone else) is not dropped. Its fields (never files, never the CSRF or one-time
token) are kept in a FormDraft row, encrypted with the data keyset and bound to the row,
its user and the path it was posted to, for DRAFT_MINUTES; the browser is sent to the
login page with a message saying so. Once that same user has logged in again (password
and second factor), they land on the same page with the form filled in with what they
typed, bound to it so that its errors show, and a fresh one-time token: nothing was
saved, and saving it saves once.

Who typed it? The ended session no longer tells. Every staff page sets OWNER_COOKIE, the
user's id signed with the secret key; a draft is kept only for the user it names. The
browser that posted it gets DRAFT_COOKIE, the signed ids of its drafts: a draft comes
back only on that browser, and only to its own user (another user logging in on the same
browser sees nothing of it). At most MAX_PER_USER drafts per user, of at most MAX_BYTES:
a flood of posts overwrites the same few rows.

Only the pages whose view may show a draft take part: `pharmacy_permission_required(...,
drafts=True)` marks them, and such a view binds its form to `form_data(request)`.
"""

import datetime
import json
import uuid

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from relais.accounts import acting
from relais.accounts.models import FormDraft, Membership, Pharmacy, User
from relais.audit.events import record
from relais.crypto.blobs import CryptoError, decrypt_blob, encrypt_blob
from relais.lib.clock import database_now

OWNER_COOKIE = "relais_form_owner"
DRAFT_COOKIE = "relais_form_drafts"
SALT = "relais.accounts.drafts"
# The owner cookie counts for as long as a one-time form token (a form left open at the
# counter all day); the session itself ends much sooner.
OWNER_MAX_AGE = 12 * 60 * 60
MAX_BYTES = 32 * 1024
MAX_FIELDS = 200
MAX_PER_USER = 3
# Never kept: they belong to the page that was built, not to what was typed.
SKIPPED_FIELDS = frozenset({"csrfmiddlewaretoken", "form_token"})
RESTORE_SESSION_KEY = "relais_restore_draft"


def _cookie_options() -> dict:
    return {
        "httponly": True,
        "secure": settings.SESSION_COOKIE_SECURE,
        "samesite": "Strict",
    }


def keeps_drafts_at(path: str) -> bool:
    """Whether `path` is a page of this site whose view shows a draft: the one check on
    where a draft may send the browser (never another site, never another kind of page)."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return False
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "keeps_drafts", False) is True


def _associated_data(draft_id: uuid.UUID, user_id, path: str) -> bytes:
    return f"relais.form-draft|{draft_id}|{user_id}|{path}".encode()


def draft_row_ad(draft) -> bytes:
    """The associated data of a stored draft (what key rotation re-encrypts with)."""
    return _associated_data(draft.pk, draft.user_id, draft.path)


def _owner(request: HttpRequest) -> tuple[User, Pharmacy] | None:
    """The user the browser names, and the pharmacy they acted for, while they are still
    a member of it."""
    value = request.get_signed_cookie(OWNER_COOKIE, default=None, salt=SALT, max_age=OWNER_MAX_AGE)
    user_id, _sep, pharmacy_id = (value or "").partition("|")
    if not user_id or not pharmacy_id:
        return None
    membership = (
        Membership.objects.select_related("user", "pharmacy")
        .filter(user_id=user_id, pharmacy_id=pharmacy_id, user__is_active=True)
        .first()
    )
    return (membership.user, membership.pharmacy) if membership is not None else None


def _browser_drafts(request: HttpRequest) -> list[str]:
    raw = request.get_signed_cookie(DRAFT_COOKIE, default=None, salt=SALT)
    try:
        ids = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [str(value) for value in ids if isinstance(value, str)][: MAX_PER_USER * 4]


def _set_browser_drafts(response: HttpResponse, ids: list[str]) -> None:
    if ids:
        response.set_signed_cookie(DRAFT_COOKIE, json.dumps(ids), salt=SALT, **_cookie_options())
    else:
        response.delete_cookie(DRAFT_COOKIE, samesite="Strict")


def mark_owner(request: HttpRequest, response: HttpResponse) -> None:
    """Names the logged-in user, and the pharmacy they act for, on a staff page's answer
    (OWNER_COOKIE)."""
    pharmacy = getattr(request, "pharmacy", None)
    value = f"{request.user.pk}|{pharmacy.pk if pharmacy is not None else ''}"
    response.set_signed_cookie(OWNER_COOKIE, value, salt=SALT, **_cookie_options())


def keep(request: HttpRequest, response: HttpResponse) -> bool:
    """Keeps the fields of `request` (a POST that found no session) for the user its
    browser names, and says so on `response` (the way to the login page). False when
    nothing was kept: no known user, a page that shows no draft, too much data."""
    owner = _owner(request)
    path = request.path
    if owner is None or not keeps_drafts_at(path):
        return False
    user, pharmacy = owner
    fields = {
        name: request.POST.getlist(name) for name in request.POST if name not in SKIPPED_FIELDS
    }
    content = json.dumps({"fields": fields}, ensure_ascii=False).encode()
    if len(fields) > MAX_FIELDS or len(content) > MAX_BYTES or len(path) > 255:
        return False
    now = database_now()
    draft_id = uuid.uuid4()
    # One draft a page: a second click on the same expired form replaces the first.
    FormDraft.objects.filter(user=user, path=path).delete()
    FormDraft.objects.create(
        id=draft_id,
        user=user,
        pharmacy=pharmacy,
        path=path,
        content=encrypt_blob(content, _associated_data(draft_id, user.pk, path)),
        created_at=now,
        expires_at=now + datetime.timedelta(minutes=settings.DRAFT_MINUTES),
    )
    surplus = FormDraft.objects.filter(user=user).order_by("-created_at")[MAX_PER_USER:]
    FormDraft.objects.filter(pk__in=list(surplus.values_list("pk", flat=True))).delete()
    record(
        "form_draft.kept",
        request=request,
        actor=user,
        pharmacy=pharmacy,
        details=_details(draft_id, path),
    )
    ids = [str(draft_id), *(i for i in _browser_drafts(request) if i != str(draft_id))]
    _set_browser_drafts(response, ids[: MAX_PER_USER * 4])
    return True


def _details(draft_id, path: str) -> dict:
    """What the audit log says of a draft: its id and the name of its page (no data, no
    patient or test id)."""
    try:
        view = resolve(path).view_name
    except Resolver404:
        view = ""
    return {"draft": str(draft_id), "view": view}


def after_login(request: HttpRequest, user: User) -> str | None:
    """At a full login (password and second factor) of `user`: the path of this
    browser's latest draft of that user, set to be restored by that page's next GET, the
    session acting for the pharmacy the draft was typed for; or None. Another user's
    drafts stay where they are, unseen; a draft of a pharmacy the user has left is gone."""
    ids = _browser_drafts(request)
    if not ids:
        return None
    now = database_now()
    draft = (
        FormDraft.objects.filter(pk__in=_valid_uuids(ids), user=user, expires_at__gt=now)
        .order_by("-created_at")
        .first()
    )
    if draft is None:
        return None
    membership = acting.memberships_of(user).filter(pharmacy_id=draft.pharmacy_id).first()
    if membership is None or not keeps_drafts_at(draft.path):
        draft.delete()
        return None
    acting.act_for(request, membership)
    request.session[RESTORE_SESSION_KEY] = str(draft.pk)
    return draft.path


def _valid_uuids(ids: list[str]) -> list[uuid.UUID]:
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    return valid


def take(request: HttpRequest) -> None:
    """On the GET that follows the login: the draft set to be restored, if it was kept
    for this user and this page, becomes `request.restored_form` (and is deleted)."""
    draft_id = request.session.get(RESTORE_SESSION_KEY)
    if not draft_id or request.user.pk is None:
        return
    del request.session[RESTORE_SESSION_KEY]
    draft = FormDraft.objects.filter(
        pk=draft_id, user_id=request.user.pk, expires_at__gt=database_now()
    ).first()
    pharmacy = getattr(request, "pharmacy", None)
    if (
        draft is None
        or draft.path != request.path
        or draft.pharmacy_id != (pharmacy and pharmacy.pk)
    ):
        return
    draft_id = draft.pk
    draft.delete()  # given back once, whatever follows
    try:
        content = decrypt_blob(
            bytes(draft.content), _associated_data(draft_id, request.user.pk, draft.path)
        )
        fields = json.loads(content)["fields"]
    except (CryptoError, ValueError, KeyError, TypeError):
        return
    data = QueryDict(mutable=True)
    for name, values in fields.items():
        data.setlist(str(name), [str(value) for value in values])
    data._mutable = False
    request.restored_form = data  # type: ignore[attr-defined]  # read by form_data()
    record("form_draft.restored", request=request, details=_details(draft_id, draft.path))
    messages.warning(
        request,
        _(
            "What you typed before your session expired is back in the form: nothing was "
            "saved yet. Check it and save."
        ),
    )


def form_data(request: HttpRequest) -> QueryDict | None:
    """What a staff page's form is bound to: the POST, or on the GET after a login, the
    draft restored for it (see take); None for an empty form."""
    if request.method == "POST":
        return request.POST or None
    return getattr(request, "restored_form", None)


def forget(request: HttpRequest, user: User, response: HttpResponse) -> None:
    """At logout: the user's drafts are deleted and the browser forgets who it was."""
    FormDraft.objects.filter(user=user).delete()
    response.delete_cookie(OWNER_COOKIE, samesite="Strict")
    remaining = FormDraft.objects.filter(pk__in=_valid_uuids(_browser_drafts(request)))
    _set_browser_drafts(response, [str(pk) for pk in remaining.values_list("pk", flat=True)])


def purge_expired() -> int:
    """Worker job: drafts past their time."""
    deleted, _ = FormDraft.objects.filter(expires_at__lte=database_now()).delete()
    return deleted
