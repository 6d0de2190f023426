import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device

from relais.crypto.fields import EncryptedTextField
from relais.directory.checks import CHECK_NAMES
from relais.lib import queue


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("users need an e-mail address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


# (The type ignore: mypy cannot see the reverse manager of an untyped django-otp Device.)
class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]
    """A professional: pharmacy staff, or a platform administrator (is_staff)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("e-mail"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150)
    rpps = models.CharField(_("RPPS number"), max_length=11, blank=True)
    # When Pro Santé Connect last proved `rpps` belongs to this person (null: never, and the
    # account cannot sign in with Pro Santé Connect).
    rpps_verified_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="platform administrator")
    is_auditor = models.BooleanField(default=False, help_text="read-only access to the audit log")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    def __str__(self):
        return self.full_name or self.email


class Pharmacy(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending approval")
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        REFUSED = "refused", _("refused")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=200)
    finess = models.CharField(_("FINESS number"), max_length=9, unique=True)
    address = models.CharField(_("address"), max_length=300)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "pharmacies"

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("owner")
        PHARMACIST = "pharmacist", _("pharmacist")
        ASSISTANT = "assistant", _("assistant")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "pharmacy"], name="one_membership_per_pharmacy")
        ]

    def __str__(self):
        return f"{self.user} @ {self.pharmacy} ({self.role})"


class Invitation(models.Model):
    """An owner's invitation of an e-mail address to join a pharmacy.

    An address that opens no account yet gets an account created with the invitation and
    an activation link (`with_activation`): activating the account accepts it. An existing
    account is never added without its holder's consent: they accept or decline after
    logging in. Until accepted the pharmacy sees only the address and "invitation sent",
    whatever the address holds (no name, no last login)."""

    class State(models.TextChoices):
        PENDING = "pending", _("invitation sent")
        ACCEPTED = "accepted", _("accepted")
        DECLINED = "declined", _("declined")
        CANCELLED = "cancelled", _("cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    with_activation = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pharmacy", "user"],
                condition=models.Q(state="pending"),
                name="one_pending_invitation_per_person",
            )
        ]

    def __str__(self):
        return f"Invitation {self.pk}"

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()


class LoginThrottle(models.Model):
    """Failed-login counter for one account or one source address (stored hashed).

    Kept in the database so every web process sees the same counts.
    """

    key = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    first_failure_at = models.DateTimeField(null=True)
    locked_until = models.DateTimeField(null=True)

    def __str__(self):
        return f"LoginThrottle {self.pk}"


class ProSanteConnectDevice(Device):
    """The second factor of a sign-in through Pro Santé Connect (the CPS card or the e-CPS
    app, checked by PSC). One per account whose RPPS PSC has proven; it takes no code: a
    session is verified with it only by relais.accounts.psc's round trip."""

    def verify_token(self, token):
        return False

    def __str__(self):
        return f"ProSanteConnectDevice {self.pk}"


class OwnerProof(models.TextChoices):
    PSC = "psc", _("Pro Santé Connect")
    LETTER = "letter", _("letter to the directory address")


class PharmacyApplication(models.Model):
    """A pharmacy owner's request to join, with the directory checks run on submission.

    When every check passed, an administrator approves it (after a confirmation page).
    When one failed, an administrator may record why it should be approved all the same
    (PENDING_OVERRIDE), and a second, different administrator confirms: only then is it
    approved.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending review")
        PENDING_OVERRIDE = "override", _("awaiting a second administrator")
        APPROVED = "approved", _("approved")
        REFUSED = "refused", _("refused")

    UNDECIDED = (Status.PENDING, Status.PENDING_OVERRIDE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.CASCADE, related_name="applications")
    pharmacy_name = models.CharField(_("pharmacy name"), max_length=200)
    finess = models.CharField(_("FINESS number"), max_length=9)
    owner_name = models.CharField(_("your full name"), max_length=150)
    owner_rpps = models.CharField(_("your RPPS number"), max_length=11)
    owner_email = models.EmailField(_("your e-mail"))
    # {check name: passed?}, see relais.directory.checks.CHECK_NAMES
    checks = models.JSONField(default=dict)
    # Each check's reason and what the directories held at submission (checks.py).
    evidence = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    submitted_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True)
    decided_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    refusal_reason = models.TextField(blank=True)
    # The owner's proof, at activation, by a channel the applicant does not control: Pro
    # Santé Connect returning the owner's RPPS, or the code of a letter posted to the
    # pharmacy's address in the establishment directory.
    owner_proven_at = models.DateTimeField(null=True, blank=True)
    owner_proof = models.CharField(max_length=16, choices=OwnerProof.choices, blank=True)
    override_reason = models.TextField(blank=True)
    override_requested_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    override_requested_at = models.DateTimeField(null=True)

    def __str__(self):
        return f"Application {self.pk}"

    @property
    def is_undecided(self) -> bool:
        return self.status in self.UNDECIDED

    @property
    def failed_checks(self) -> list[str]:
        """The checks that failed, or were not run (an application from before a check
        existed has not passed it)."""
        return [name for name in CHECK_NAMES if not self.checks.get(name)]

    @property
    def all_checks_passed(self) -> bool:
        return not self.failed_checks


class ActivationLetter(models.Model):
    """A one-time code printed by a platform administrator and posted to the pharmacy's
    address in the establishment directory (FINESS). Only an HMAC of the code is stored;
    it expires, and locks after a few wrong tries. A new letter voids the earlier ones."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    application = models.ForeignKey(
        PharmacyApplication, on_delete=models.CASCADE, related_name="letters"
    )
    code_hash = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    expires_at = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"ActivationLetter {self.pk}"


class AccountToken(models.Model):
    """A single-use, expiring link sent by e-mail (activation, invitation, password reset).

    Only the SHA-256 of the 256-bit token is stored: the database alone cannot open links.
    """

    class Purpose(models.TextChoices):
        ACTIVATION = "activation", _("activation")
        RESET = "reset", _("password reset")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)

    def __str__(self):
        return f"AccountToken {self.pk}"


class UserSession(models.Model):
    """Index of a user's sessions, so removing a member ends them at once."""

    session_key = models.CharField(max_length=40, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="session_index")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"UserSession of {self.user_id}"


class QueuedEmail(queue.QueuedRow):
    """An account e-mail (activation, invitation, password reset, decision) waiting for
    the worker, written in the transaction of the change it reports.

    The recipient and the text are encrypted (the text carries activation and reset
    links) and erased once the e-mail is sent or given up on. A row without a recipient
    is sent to nobody: the password reset writes one for an unknown address, so both
    answers cost the same work."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting to be sent")
        SENDING = "sending", _("being sent")
        SENT = "sent", _("sent")
        DEAD = "dead", _("failed permanently")
        DISCARDED = "discarded", _("discarded (no recipient)")

    class Error(models.TextChoices):
        """Why the last attempt failed (last_error), worded when shown."""

        MAIL_SERVER = "mail_server", _("The mail server could not be reached or refused it")
        LEASE_LOST = queue.LEASE_LOST, queue.LEASE_LOST_TEXT

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    recipient = EncryptedTextField(blank=True)
    subject = EncryptedTextField(blank=True)
    body = EncryptedTextField(blank=True)
    # attempts, next_attempt_at, the lease and last_error come from queue.QueuedRow.
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="queued_email_due")]

    def __str__(self):
        return f"QueuedEmail {self.pk}"


class FormDraft(models.Model):
    """A staff form posted after its session ended, kept for its user to log in again and
    find it filled in (relais.accounts.drafts). The fields are encrypted, bound to the
    row, its user and its path; the row is deleted once restored, at expiry, or when its
    user logs out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    # The pharmacy the user acted for when they typed it (removal from it deletes it).
    pharmacy = models.ForeignKey(Pharmacy, null=True, on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=255)
    content = models.BinaryField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"FormDraft {self.pk}"
