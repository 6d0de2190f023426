"""One-time form tokens: a form posted twice (a double click, a page sent again from the
browser's history) saves once.

Each form that creates or changes a patient or a test carries a token issued when the
page was built (random, signed with its time, valid `LIFETIME`). The POST that saves
something stores the token's digest for that user with its outcome (the address of
what it saved), in the transaction that saves it; the same token posted again by the
same user is sent to that outcome instead of saving again. A concurrent second POST's
insert waits for the first transaction (the unique index on PostgreSQL, the write lock
on SQLite) and then finds its outcome. A POST that saved nothing (the form had errors)
releases its token, so the corrected form can be sent with it.
"""

import datetime
import secrets
from collections.abc import Callable, Mapping

from django.core import signing
from django.db import IntegrityError, transaction
from django.http import HttpResponse

from relais.lib.clock import database_now
from relais.lib.tokens import token_digest
from relais.screening.models import FormToken

FIELD = "form_token"
SALT = "relais.screening.form-token"
# Long enough for a form left open at the counter; the stored outcomes are forgotten after.
LIFETIME = datetime.timedelta(hours=12)


def issue() -> str:
    return signing.TimestampSigner(salt=SALT).sign(secrets.token_urlsafe(24))


def read(data: Mapping[str, str]) -> str | None:
    """The posted token if Relais issued it less than LIFETIME ago, else None."""
    try:
        return signing.TimestampSigner(salt=SALT).unsign(data.get(FIELD) or "", max_age=LIFETIME)
    except signing.BadSignature:  # SignatureExpired included
        return None


def once(
    user, token: str, save: Callable[[], tuple[HttpResponse, str]]
) -> tuple[HttpResponse | None, str]:
    """Runs `save() -> (response, outcome)` unless `user` already saved something with
    `token`: then (None, the first outcome). `outcome` is the address of what was saved,
    or "" when nothing was."""
    now = database_now()
    digest = token_digest(token)
    # No savepoint in the form's own transaction (screening.views.post_in_one_transaction):
    # an error here fails the whole request, nothing is caught above it.
    with transaction.atomic(savepoint=False):
        FormToken.objects.filter(user=user, created_at__lt=now - LIFETIME).delete()
        try:
            with transaction.atomic():
                row = FormToken.objects.create(user=user, digest=digest, created_at=now)
        except IntegrityError:
            return None, FormToken.objects.get(user=user, digest=digest).outcome
        response, outcome = save()
        if outcome:
            row.outcome = outcome
            row.save(update_fields=["outcome"])
        else:
            row.delete()
        return response, outcome
