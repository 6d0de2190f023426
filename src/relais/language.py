"""The interface language: French unless the user chose another one."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

API_PREFIX = "/api/"


class ChosenLanguageMiddleware(LocaleMiddleware):
    """Like Django's LocaleMiddleware, but ignores the browser's Accept-Language.

    Pharmacy computers often run an English-language browser; the interface stays in
    French until someone picks English with the language switch (a cookie). Patients'
    pages (/r/) follow the patient's own browser until they use the switch. The API
    (/api/) answers in the language its client asks for with Accept-Language (French
    when it asks for none we have); the answer's Content-Language names it.
    """

    def process_request(self, request):
        if request.path.startswith(API_PREFIX):
            translation.activate(accepted_language(request.headers.get("Accept-Language", "")))
            request.LANGUAGE_CODE = translation.get_language()
            return
        if request.path.startswith("/r/") and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            super().process_request(request)
            return
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        try:
            language = translation.get_supported_language_variant(chosen)
        except LookupError:
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


def accepted_language(header: str) -> str:
    """The first language of an Accept-Language header (by quality) that we have, else
    the default; "*" means any, hence the default."""
    for code, _quality in parse_accept_lang_header(header):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE
