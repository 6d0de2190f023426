from django.conf import settings


def pharmacy(request):
    membership = getattr(request, "membership", None)
    return {
        "membership": membership if membership else None,
        # For relais.js, which warns a minute before an idle session ends.
        "session_seconds": settings.SESSION_COOKIE_AGE,
    }
