"""Filters of the whole interface: `{% load relais_format %}`."""

from django import template

from relais.phone import national_format

register = template.Library()


@register.filter
def phone(value: str) -> str:
    """A stored (E.164) phone number as people write it: `{{ patient.phone|phone }}`."""
    return national_format(value or "")
