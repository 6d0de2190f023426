"""`relais check --deploy`: settings the onboarding needs in production."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def base_url_check(app_configs, **kwargs):
    if settings.BASE_URL.startswith("https://"):
        return []
    return [
        Error(
            "RELAIS_BASE_URL must be the https:// address users reach Relais at "
            "(activation and password-reset links in e-mails start with it).",
            id="relais.E101",
        )
    ]
