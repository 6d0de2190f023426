"""Hidden fields of the forms that save patients and tests."""

from django import template
from django.utils.html import format_html

from relais.screening import form_tokens

register = template.Library()


@register.simple_tag
def one_time_token():
    """A fresh one-time token (see screening.form_tokens) for the form being rendered."""
    return format_html(
        '<input type="hidden" name="{}" value="{}">', form_tokens.FIELD, form_tokens.issue()
    )
