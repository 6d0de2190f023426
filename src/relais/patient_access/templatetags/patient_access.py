"""The pharmacist's view of patient links: a panel on the test page, a flag in lists."""

from django import template

from relais.accounts.permissions import role_allows
from relais.patient_access.links import channels_for, may_print
from relais.patient_access.models import Notification, ResultLink

register = template.Library()


@register.inclusion_tag("patient_access/includes/test_panel.html", takes_context=True)
def patient_link_panel(context, test):
    link = ResultLink.objects.filter(test=test).order_by("-created_at").first()
    membership = context.get("membership")
    reachable = bool(channels_for(test))
    return {
        "test": test,
        "link": link,
        "closed_reason": link.closed_reason() if link else "",
        "notifications": list(link.notifications.all()) if link else [],
        "can_resend": bool(
            membership
            and role_allows(membership.role, "test.record")
            and test.cancelled_at is None
            and reachable
        ),
        "reachable": reachable,
        "can_print": bool(
            membership and role_allows(membership.role, "patient.view") and may_print(test)
        ),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def failed_notifications(tests) -> set:
    """The ids of the listed tests whose message to the patient, for their current link,
    could not be sent: one query for the whole list."""
    return set(
        Notification.objects.filter(
            link__test__in=[test.pk for test in tests],
            link__revoked_at__isnull=True,
            state=Notification.State.FAILED,
        ).values_list("link__test_id", flat=True)
    )
