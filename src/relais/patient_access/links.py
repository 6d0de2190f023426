"""Issuing result links and checking a date of birth against one.

A token is 256 random bits from `secrets`; the database keeps only its SHA-256, so a
copy of the database opens nothing. The date check does the same work whether the token
exists or not, so neither the answer nor its timing tells a guesser which tokens exist.
"""

import dataclasses
import datetime
import functools
import hmac
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from relais.bulk_insert import insert_all
from relais.lib.clock import database_now
from relais.lib.queries import unique_row
from relais.lib.tokens import token_digest
from relais.patient_access import codes
from relais.patient_access.models import Notification, ResultLink, closed_reason, tries_left
from relais.screening.models import Patient, ScreeningTest, reachable_channels

# A fixed stranger whose encrypted birth date is decrypted when the token is unknown.
DUMMY_PATIENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000000")
DUMMY_BIRTH_DATE = datetime.date(1970, 1, 1)


def channels_for(test: ScreeningTest) -> list[str]:
    """The channels the patient chose that we have an address for."""
    return reachable_channels(test.notify_by, test.patient)


Purpose = ResultLink.Purpose


@transaction.atomic(savepoint=False)
def issue_links(
    tests_channels: list[tuple[ScreeningTest, list[str]]],
    purpose: str = Purpose.RESULT,
    code_digest: str | None = None,
) -> list[tuple[ResultLink, str]]:
    """A new link for each test (its older links stop working, and keep why: `purpose`)
    and a message on each of its channels: one update, two inserts. Returns each (link,
    token). `code_digest`, for one test only, is its slip's short code (issue_slip_link)."""
    if not tests_channels:
        return []
    if code_digest is not None and len(tests_channels) != 1:
        raise ValueError("a short code belongs to one link")
    now = timezone.now()
    ResultLink.objects.filter(
        test__in=[test.pk for test, _ in tests_channels], revoked_at__isnull=True
    ).update(revoked_at=now, revoked_for=purpose)
    issued, notifications = [], []
    due = database_now()  # the clock workers go by, not this host's
    for test, channels in tests_channels:
        token = secrets.token_urlsafe(32)
        link = ResultLink(
            test=test,
            token_hash=token_digest(token),
            code_digest=code_digest,
            issued_for=purpose,
            created_at=now,
            expires_at=now + datetime.timedelta(days=settings.PATIENT_LINK_DAYS),
        )
        issued.append((link, token))
        notifications += [
            Notification(link=link, channel=channel, token=token, next_attempt_at=due)
            for channel in channels
        ]
    insert_all([link for link, _ in issued])
    insert_all(notifications)
    return issued


def may_print(test: ScreeningTest) -> bool:
    """A result slip only for a validated result that still stands."""
    return test.validated_at is not None and test.cancelled_at is None


def issue_slip_link(test: ScreeningTest) -> tuple[ResultLink, str, str]:
    """The link a printed result slip carries, with its short code (normalised): the
    test's older links close, as on any new link. Returns (link, token, code)."""
    code = codes.new_code()
    link, token = issue_links([(test, [])], Purpose.SLIP, codes.digest(code))[0]
    return link, token, code


def notify_on_validation(sender, tests: list[ScreeningTest], **kwargs) -> None:
    """Receiver of screening.signals.tests_validated (inside the tests' transaction): a
    link and its messages for each test whose patient chose a channel we can reach."""
    issue_links([(test, channels) for test in tests if (channels := channels_for(test))])


def notify_on_correction(sender, test: ScreeningTest, fields=(), **kwargs) -> None:
    """Receiver of screening.signals.test_corrected: a changed result (or a newly chosen
    channel) gets a fresh link and message, which say the result was corrected; the old
    link closes and, when its page is opened, says it was replaced by a corrected result."""
    changed = set(fields)
    if {"result", "other_results", "notify_by"} & changed:
        channels = channels_for(test)
        if channels:
            corrected = bool({"result", "other_results"} & changed)
            issue_links([(test, channels)], Purpose.CORRECTION if corrected else Purpose.RESEND)


def forget_purged_patients(sender, patient_ids, **kwargs) -> None:
    """Past retention a patient's result links and pending messages go too: a link would
    otherwise still open a result, and a message still holds its token."""
    ResultLink.objects.filter(test__patient_id__in=patient_ids).delete()


def find_link(token: str) -> ResultLink | None:
    return unique_row(
        ResultLink.objects.select_related(
            "test__patient", "test__pharmacy", "test__performed_by"
        ).filter(token_hash=token_digest(token))
    )


@dataclass(frozen=True)
class PharmacyContact:
    """What a patient page shows of the pharmacy (and the audit event names: its pk)."""

    pk: uuid.UUID
    name: str
    address: str
    phone: str


@dataclass(frozen=True)
class LinkState:
    """What the link page and the date check read of a link, from one row: its state, the
    test it opens and the pharmacy to contact; for the date check, the patient's birth
    date still encrypted. No model instances: these pages are the most requested ones."""

    pk: uuid.UUID
    test_id: uuid.UUID
    failures: int
    locked_at: datetime.datetime | None
    revoked_at: datetime.datetime | None
    revoked_for: str
    expires_at: datetime.datetime
    test_cancelled_at: datetime.datetime | None
    pharmacy: PharmacyContact
    patient_id: uuid.UUID | None = None
    birth_date_ciphertext: bytes | None = None

    @property
    def tries_left(self) -> int:
        return tries_left(self.failures)

    def closed_reason(self, now=None) -> str:
        return closed_reason(
            self.test_cancelled_at,
            self.revoked_at,
            self.revoked_for,
            self.locked_at,
            self.expires_at,
            now,
        )

    def audit_target(self) -> ScreeningTest:
        """The test, as the audit event names it (by its pk)."""
        return ScreeningTest(pk=self.test_id)


# LinkState's fields and where each comes from (the link's own columns, or through it).
LINK_STATE_COLUMNS = {
    "pk": "id",
    "test_id": "test_id",
    "failures": "failures",
    "locked_at": "locked_at",
    "revoked_at": "revoked_at",
    "revoked_for": "revoked_for",
    "expires_at": "expires_at",
    "test_cancelled_at": "test__cancelled_at",
}
PHARMACY_COLUMNS = {
    "pk": "test__pharmacy_id",
    "name": "test__pharmacy__name",
    "address": "test__pharmacy__address",
    "phone": "test__pharmacy__phone",
}
BIRTH_DATE_COLUMNS = {
    "patient_id": "test__patient_id",
    "birth_date_ciphertext": "test__patient__birth_date",
}


def link_state(links: QuerySet, with_birth_date: bool = False) -> LinkState | None:
    """The LinkState of the one link `links` selects by a unique key, or None."""
    columns = {**LINK_STATE_COLUMNS, **(BIRTH_DATE_COLUMNS if with_birth_date else {})}
    paths = [*columns.values(), *PHARMACY_COLUMNS.values()]
    row = unique_row(links.values_list(*paths))
    if row is None:
        return None
    own, pharmacy = row[: len(columns)], row[len(columns) :]
    return LinkState(
        **dict(zip(columns, own, strict=True)),
        pharmacy=PharmacyContact(**dict(zip(PHARMACY_COLUMNS, pharmacy, strict=True))),
    )


def find_link_by_hash(token_hash: str) -> LinkState | None:
    """The link whose token has this digest (what the link page keeps in the session)."""
    return link_state(ResultLink.objects.filter(token_hash=token_hash))


@functools.cache
def dummy_birth_date_ciphertext() -> bytes:
    field = Patient._meta.get_field("birth_date")
    return field.encrypt(Patient(pk=DUMMY_PATIENT_ID), DUMMY_BIRTH_DATE)


def birth_date_of(link: LinkState | None) -> datetime.date | None:
    """The date to compare with: for an unknown token the dummy's (the same decryption
    work as a patient's), else the patient's; None, which matches no date, when the
    row has none (or was read without it)."""
    field = Patient._meta.get_field("birth_date")
    if link is None:
        return field.decrypt(Patient(pk=DUMMY_PATIENT_ID), dummy_birth_date_ciphertext())
    if link.birth_date_ciphertext is None:
        return None
    return field.decrypt(Patient(pk=link.patient_id), link.birth_date_ciphertext)


@dataclass(frozen=True)
class DateCheck:
    link: LinkState | None
    opened: bool
    reason: str  # "" when opened; else unknown, wrong_date, locked, expired, revoked, corrected
    tries_left: int
    date_matched: bool = False  # the date was right (the link may still be closed)


def check_birth_date(token_hash: str, typed: datetime.date) -> DateCheck:
    """Compare `typed` with the birth date behind the token of digest `token_hash`,
    counting failures."""
    return _check_date({"token_hash": token_hash}, typed)


def check_code(code: str, typed: datetime.date) -> DateCheck:
    """The same check for the link behind a slip's short code (normalised)."""
    return _check_date({"code_digest__in": codes.digest_candidates(code)}, typed)


def _check_date(lookup: dict, typed: datetime.date) -> DateCheck:
    with transaction.atomic():
        links = ResultLink.objects.select_for_update(of=("self",)).filter(**lookup)
        link = link_state(links, with_birth_date=True)
        expected = birth_date_of(link)
        matches = expected is not None and hmac.compare_digest(
            expected.isoformat(), typed.isoformat()
        )
        reason = "unknown" if link is None else link.closed_reason()
        if link is not None and not reason and matches:
            return DateCheck(link, True, "", link.tries_left, True)
        if reason in ("", "unknown"):
            # The same statement whether the row exists or not (it then touches nothing).
            ResultLink.objects.filter(**lookup).update(failures=F("failures") + 1)
        if link is None:
            return DateCheck(None, False, reason, 0)
        if reason:
            return DateCheck(link, False, reason, link.tries_left, matches)
        link = dataclasses.replace(link, failures=link.failures + 1)
        if link.failures >= settings.PATIENT_LINK_MAX_TRIES:
            locked_at = timezone.now()
            ResultLink.objects.filter(pk=link.pk).update(locked_at=locked_at)
            return DateCheck(dataclasses.replace(link, locked_at=locked_at), False, "locked", 0)
        return DateCheck(link, False, "wrong_date", link.tries_left)


def open_link_for_session(link_id) -> ResultLink | None:
    """The link a result session was opened with, if it still opens."""
    link = unique_row(
        ResultLink.objects.select_related(
            "test__patient", "test__pharmacy", "test__performed_by"
        ).filter(pk=link_id)
    )
    if link is None or link.closed_reason():
        return None
    return link
