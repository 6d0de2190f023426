"""Keeps the per-user session index used to end a removed member's sessions."""

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from relais.accounts.models import UserSession


@receiver(user_logged_in, dispatch_uid="relais.accounts.index_session")
def index_session(sender, request, user, **kwargs):
    key = request.session.session_key
    if key:
        UserSession.objects.update_or_create(session_key=key, defaults={"user": user})


@receiver(user_logged_out, dispatch_uid="relais.accounts.unindex_session")
def unindex_session(sender, request, user, **kwargs):
    if request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()
