"""The patient's pages: the link, the date-of-birth check, the result and its PDF.

The link's token leaves the address bar on first use: `/r/<token>` only keeps the
token's digest in the (server-side) session and redirects to `/r/open/`, which shows the
date form. So the token stays out of the browser's history, any Referer, and the access
logs of every request after the first (whose log line the shipped gunicorn configuration
redacts, see relais.gunicorn_config). The form names the pharmacy, never the patient:
whoever holds the link learns nothing before the date of birth is right.

These views are exempt from CSRF on purpose. Their pages send `Referrer-Policy:
no-referrer`, so browsers post their forms with `Origin: null`, which Django's CSRF
check refuses. Nothing here is worth forging: the date form needs the secret token (a
forger who has it can post it himself), the short-code form the secret code, and the
other forms only close the visitor's own session or pick a language.

A printed result slip (`print_slip`, the pharmacist's side) carries a fresh link as a QR
code and its short code, typed with the date of birth at /r/code/ (`code_page`).
"""

import datetime
from collections.abc import Callable
from functools import wraps

import segno
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from relais.accounts.http import PharmacyRequest
from relais.accounts.permissions import pharmacy_permission_required
from relais.audit.events import record
from relais.lib import ratelimit
from relais.lib.http import client_address
from relais.lib.tokens import token_digest
from relais.patient_access import codes, links
from relais.patient_access.advice import advice_for
from relais.patient_access.forms import BirthDateForm, ShortCodeForm
from relais.patient_access.middleware import PATIENT_PREFIX
from relais.patient_access.models import ResultLink
from relais.patient_access.notify import link_url
from relais.patient_access.pdf import result_pdf
from relais.screening.models import ScreeningTest

SESSION_LINK = "patient_access.link_id"
SESSION_OPENED_AT = "patient_access.opened_at"
# The followed link's token digest and when it was followed, until the date is right.
SESSION_FOLLOWED = "patient_access.followed_link"
# Tries of the short-code page per address and window (see relais.patient_access.codes).
CODE_TRIES = 10
CODE_WINDOW_SECONDS = 600


def link_context(link: links.LinkState | None, form, **extra) -> dict:
    context = {"form": form, "link": link, **extra}
    if link is not None:
        context["pharmacy"] = link.pharmacy
    return context


def audit_access(
    request, action: str, link: ResultLink | links.LinkState | None, reason: str = "", **details
) -> None:
    """One event per access, without the typed date; a missing link has no target."""
    if reason:
        details["reason"] = reason
    target, pharmacy = audit_subject(link)
    record(action, request=request, target=target, pharmacy=pharmacy, details=details)


def audit_subject(link: ResultLink | links.LinkState | None) -> tuple:
    """The test an access is about and its pharmacy."""
    if link is None:
        return None, None
    if isinstance(link, ResultLink):
        return link.test, link.test.pharmacy
    return link.audit_target(), link.pharmacy


@require_http_methods(["GET"])
def follow_link(request, token):
    """The link from the message: its token goes into the session (as the digest the
    database keeps) and the browser moves on to a token-free address at once. Nothing is
    looked up here: every token gets the same answer."""
    request.session[SESSION_FOLLOWED] = {
        "token_hash": token_digest(token),
        "at": timezone.now().isoformat(),
    }
    return redirect("patient_access:open")


def followed_token_hash(request) -> str | None:
    """The digest of the link this browser followed, for PATIENT_SESSION_MINUTES."""
    followed = request.session.get(SESSION_FOLLOWED)
    if not isinstance(followed, dict):
        return None
    try:
        at = datetime.datetime.fromisoformat(followed["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if timezone.now() - at > datetime.timedelta(minutes=settings.PATIENT_SESSION_MINUTES):
        request.session.pop(SESSION_FOLLOWED, None)
        return None
    return followed.get("token_hash")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def link_page(request):
    token_hash = followed_token_hash(request)
    if token_hash is None:
        return render_no_session(request)
    if request.method == "POST":
        return check_date(request, token_hash)
    link = links.find_link_by_hash(token_hash)
    if link is None:
        audit_access(request, "patient_link.refused", None, "unknown")
        return render(request, "patient_access/link.html", link_context(None, None), status=404)
    reason = link.closed_reason()
    if reason:
        audit_access(request, "patient_link.refused", link, reason)
        return render_closed(request, link, reason)
    audit_access(request, "patient_link.view", link)
    return render(request, "patient_access/link.html", link_context(link, BirthDateForm()))


def render_closed(request, link: links.LinkState, reason: str):
    return render(
        request,
        "patient_access/closed.html",
        {"pharmacy": link.pharmacy, "reason": reason},
        status=403,
    )


def check_date(request, token_hash: str):
    form = BirthDateForm(request.POST)
    if not form.is_valid():
        # Not a try: nothing was compared. The page looks the same for every token.
        link = links.find_link_by_hash(token_hash)
        return render(request, "patient_access/link.html", link_context(link, form), status=400)
    result = links.check_birth_date(token_hash, form.cleaned_data["birth_date"])
    link = result.link
    if result.opened and link is not None:
        audit_access(request, "patient_link.opened", link)
        return open_result_session(request, link)
    audit_access(request, "patient_link.refused", link, result.reason, failures=_failures(link))
    if link is not None and result.reason in CLOSED_REASONS:
        return render_closed(request, link, result.reason)
    context = link_context(
        link, BirthDateForm(), outcome=result.reason, tries_left=result.tries_left
    )
    return render(request, "patient_access/link.html", context, status=403)


CLOSED_REASONS = ("locked", "expired", "revoked", "corrected")


def open_result_session(request, link: links.LinkState):
    """The date was right: this browser may read the result for a few minutes."""
    request.session.cycle_key()
    request.session.pop(SESSION_FOLLOWED, None)
    request.session[SESSION_LINK] = str(link.pk)
    request.session[SESSION_OPENED_AT] = timezone.now().isoformat()
    return redirect("patient_access:result")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def code_page(request):
    """A printed slip's short code and the date of birth, in one form posted together (the
    code stays out of every URL and log). Until the date is right as well, every refusal
    reads the same, whether the code exists, is closed or is not one: a guesser learns
    nothing. Tries are limited per address (CODE_TRIES per CODE_WINDOW_SECONDS), and a
    known code's wrong dates count against its link like the link's own."""
    if request.method == "GET":
        return render(request, "patient_access/code.html", {"form": ShortCodeForm()})
    verdict = ratelimit.hit(
        "patient_code", client_address(request), CODE_TRIES, window_seconds=CODE_WINDOW_SECONDS
    )
    if not verdict.allowed:
        response = render(request, "patient_access/too_many.html", status=429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    form = ShortCodeForm(request.POST)
    if not form.is_valid():
        return render(request, "patient_access/code.html", {"form": form}, status=400)
    result = links.check_code(form.cleaned_data["code"], form.cleaned_data["birth_date"])
    link = result.link
    if result.opened and link is not None:
        audit_access(request, "patient_link.opened", link, via="code")
        return open_result_session(request, link)
    audit_access(
        request, "patient_link.refused", link, result.reason, failures=_failures(link), via="code"
    )
    if link is not None and result.date_matched and result.reason in CLOSED_REASONS:
        return render_closed(request, link, result.reason)
    context = {"form": ShortCodeForm(), "refused": True}
    return render(request, "patient_access/code.html", context, status=403)


def _failures(link) -> int:
    return link.failures if link is not None else 0


def session_link(request):
    """The link this browser opened with the right date, while the session lasts."""
    link_id = request.session.get(SESSION_LINK)
    opened_at = request.session.get(SESSION_OPENED_AT)
    if not link_id or not opened_at:
        return None
    try:
        opened = datetime.datetime.fromisoformat(opened_at)
    except ValueError:
        return None
    if timezone.now() - opened > datetime.timedelta(minutes=settings.PATIENT_SESSION_MINUTES):
        forget_result(request)
        return None
    link = links.open_link_for_session(link_id)
    if link is None:
        forget_result(request)
    return link


def forget_result(request) -> None:
    request.session.pop(SESSION_LINK, None)
    request.session.pop(SESSION_OPENED_AT, None)


def render_no_session(request):
    return render(request, "patient_access/no_session.html", status=403)


def reading_result(action: str):
    """For a page showing the result: the view gets the link this session opened, once
    the reading is audited as `action`; without one, the no-session page."""

    def decorator(view: Callable[[HttpRequest, ResultLink], HttpResponse]):
        @wraps(view)
        def read(request: HttpRequest) -> HttpResponse:
            link = session_link(request)
            if link is None:
                return render_no_session(request)
            audit_access(request, action, link)
            return view(request, link)

        return read

    return decorator


@require_http_methods(["GET"])
@reading_result("patient_result.view")
def result_page(request, link: ResultLink):
    test = link.test
    context = {"test": test, "pharmacy": test.pharmacy, "advice": advice_for(test)}
    return render(request, "patient_access/result.html", context)


@require_http_methods(["GET"])
@reading_result("patient_result.pdf")
def result_pdf_download(request, link: ResultLink):
    response = HttpResponse(result_pdf(link.test), content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="result.pdf"'
    return response


@csrf_exempt
@require_POST
def close(request):
    link = session_link(request)
    if link is not None:
        audit_access(request, "patient_result.close", link)
    forget_result(request)
    request.session.cycle_key()
    return render(request, "patient_access/closed_session.html")


@csrf_exempt
@require_POST
def language(request):
    """The language switch of the patient pages (see the module docstring for CSRF)."""
    code = request.POST.get("language", "")
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    if not safe or not target.startswith(PATIENT_PREFIX):
        target = reverse("patient_access:result")
    response = redirect(target)
    if code in dict(settings.LANGUAGES) and translation.check_for_language(code):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            code,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
        )
    return response


@require_POST
@pharmacy_permission_required("test.record")
def resend(request: PharmacyRequest, test_id):
    """The pharmacist sends a new link; the old one stops working at once."""
    test = ScreeningTest.objects.select_related("patient").get_for_pharmacy_or_404(
        request.pharmacy, pk=test_id
    )
    channels = links.channels_for(test)
    if test.cancelled_at is not None:
        messages.error(request, _("This test was cancelled: no result can be sent."))
        return redirect("screening:test_detail", test_id=test.pk)
    if not channels:
        messages.error(
            request,
            _(
                "No message can be sent: the patient has no phone number or e-mail address "
                "for the channel chosen. Print the result slip and give it to them instead."
            ),
        )
        return redirect("screening:test_detail", test_id=test.pk)
    links.issue_links([(test, channels)], ResultLink.Purpose.RESEND)
    record("patient_link.resend", request=request, target=test, details={"channels": channels})
    messages.success(request, _("A new link will be sent to the patient. The old one is closed."))
    return redirect("screening:test_detail", test_id=test.pk)


SLIP_FORMATS = ("a4", "receipt")


@require_POST
@pharmacy_permission_required("patient.view")
def print_slip(request: PharmacyRequest, test_id):
    """The result slip for a patient without a phone or e-mail: it issues a fresh link
    (the test's older links close, as on every new link) and shows it once, as a QR code
    and a short code, on a page made for printing (A4 or an 80 mm receipt). The answer to
    this POST is the only place the token and the code ever appear; they are not stored."""
    test = ScreeningTest.objects.select_related(
        "patient", "pharmacy", "performed_by"
    ).get_for_pharmacy_or_404(request.pharmacy, pk=test_id)
    if not links.may_print(test):
        messages.error(request, _("A result slip is printed only for a validated result."))
        return redirect("screening:test_detail", test_id=test.pk)
    paper = request.POST.get("format")
    if paper not in SLIP_FORMATS:
        paper = "a4"
    link, token, code = links.issue_slip_link(test)
    record("test.print", request=request, target=test, details={"format": paper})
    base = settings.BASE_URL or request.build_absolute_uri("/").rstrip("/")
    url = link_url(token, base)
    qr = segno.make(url, error="m")
    context = {
        "test": test,
        "patient": test.patient,
        "pharmacy": test.pharmacy,
        "advice": advice_for(test),
        "link": link,
        "code": codes.grouped(code),
        "qr_url": url,
        "code_page_url": base + reverse("patient_access:code"),
        "qr_svg": qr.svg_inline(scale=2 if paper == "receipt" else 3, svgclass="slip__qr"),
        "format": paper,
    }
    response = render(request, "patient_access/slip.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
