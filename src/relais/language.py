"""The interface language: French unless the user chose another one."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class ChosenLanguageMiddleware(LocaleMiddleware):
    """Like Django's LocaleMiddleware, but ignores the browser's Accept-Language.

    Pharmacy computers often run an English-language browser; the interface stays in
    French until someone picks English with the language switch (a cookie). Patients'
    pages (/r/) follow the patient's own browser until they use the switch.
    """

    def process_request(self, request):
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
