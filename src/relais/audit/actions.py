"""The closed list of audit actions: the codes stored in AuditEvent.action, each with the
label the audit log page shows. `event()` refuses a code that is not here, so a typo
never reaches the log and every stored code has a readable name.

The codes are stored: never rename one, and keep a code the code no longer writes, so
that old events keep their label. A new action is added here, with its label and the
label's French translation (tests/audit/test_actions.py reads the source for codes in
use that are missing).
"""

from django.utils.translation import gettext_lazy as _

ACTIONS = {
    # Sessions and accounts
    "login.succeeded": _("Logged in"),
    "login.failed": _("Login failed"),
    "login.refused_locked": _("Login refused: locked after failures"),
    "logout": _("Logged out"),
    "password.reset_requested": _("Password reset requested"),
    "password.reset": _("Password reset"),
    "account.activated": _("Account activated"),
    "platform_admin.created": _("Platform administrator created"),
    "form_draft.kept": _("Form posted after the session ended kept for its user"),
    "form_draft.restored": _("Form kept at the session's end given back after login"),
    "psc.refused": _("Pro Santé Connect answer refused"),
    "psc.login_refused": _("Pro Santé Connect sign-in refused: no account linked to this RPPS"),
    "psc.linked": _("Account linked to its Pro Santé Connect identity"),
    "psc.link_refused": _("Pro Santé Connect link refused"),
    "activation.proven": _("Owner proved the application at activation"),
    "activation.proof_refused": _("Owner's proof at activation refused"),
    "activation_letter.issued": _("Activation letter printed for the directory address"),
    # Pharmacies and their staff
    "application.submitted": _("Pharmacy application submitted"),
    "application.duplicate": _("Application for an already registered pharmacy"),
    "application.list": _("Pharmacy applications listed"),
    "application.view": _("Pharmacy application viewed"),
    "application.approved": _("Pharmacy application approved"),
    "application.override_requested": _(
        "Approval despite failed directory checks asked for (awaiting a second administrator)"
    ),
    "application.override_confirmed": _(
        "Approval despite failed directory checks confirmed by a second administrator"
    ),
    "application.refused": _("Pharmacy application refused"),
    "pharmacy.list": _("Pharmacies listed"),
    "pharmacy.suspended": _("Pharmacy suspended"),
    "pharmacy.reactivated": _("Pharmacy reactivated"),
    "staff.list": _("Staff listed"),
    "staff.invited": _("Staff member invited"),
    "staff.removed": _("Staff member removed"),
    "staff.invitation_accepted": _("Invitation accepted"),
    "staff.invitation_declined": _("Invitation declined"),
    "staff.invitation_cancelled": _("Invitation withdrawn"),
    "staff.role_changed": _("Staff member's role changed"),
    "staff.second_factor_reset": _("Staff member's second factor reset"),
    "second_factor.enrolled": _("New authenticator set up after a reset"),
    "pharmacy.chosen": _("Pharmacy chosen to act for"),
    "api_credential.create": _("API credential created"),
    "api_credential.revoke": _("API credential revoked"),
    "api_credential.read_scope": _("API credential read scope changed"),
    "api_credential.webhook_set": _("API credential webhook address set"),
    "api_credential.webhook_clear": _("API credential webhook removed"),
    "api_credential.webhook_rotate": _("API credential webhook secret renewed"),
    # Patients and results
    "patient.search": _("Patients searched"),
    "patient.view": _("Patient record viewed"),
    "patient.create": _("Patient registered"),
    "patient.update": _("Patient record changed"),
    "test.list": _("Day's tests listed"),
    "test.view": _("Test result viewed"),
    "test.api_list": _("Test result listed through the API"),
    "test.create": _("Test result recorded"),
    "test.correct": _("Test result corrected"),
    "test.validate": _("Test result entered (test in progress)"),
    "test.cancel": _("Test result cancelled"),
    "test.resend": _("Test result sent to SI-DEP again"),
    "test.print": _("Result slip printed (new result link and code)"),
    "import.upload": _("CSV file uploaded (queued for its check)"),
    "import.check": _("CSV file checked"),
    "import.refuse": _("CSV file refused"),
    "import.view_errors": _("CSV import errors viewed"),
    "import.view_rows": _("CSV import rows to be imported viewed"),
    "import.download_errors": _("CSV import error report downloaded"),
    "import.request": _("CSV file import confirmed (queued)"),
    "import.confirm": _("CSV file imported"),
    "import.discard": _("CSV file discarded"),
    "transmission.retry": _("Transmission queued again"),
    # The patient's own access
    "patient_link.view": _("Result link opened"),
    "patient_link.opened": _("Result link: date of birth confirmed"),
    "patient_link.refused": _("Result link refused"),
    "patient_link.resend": _("Result link sent again"),
    "patient_result.view": _("Result read by the patient"),
    "patient_result.pdf": _("Result PDF downloaded by the patient"),
    "patient_result.close": _("Result closed by the patient"),
    # Operations
    "retention.purge": _("Retention purge run"),
    "retention.patients_erased": _("Patients erased at the end of retention"),
    "retention.unsent_kept": _("Results kept past retention: not yet acknowledged"),
    "audit.view": _("Audit log read"),
    "audit.pharmacy_view": _("Pharmacy's patient-data access log read"),
    "audit.checkpoint": _("Audit checkpoint signed"),
    "audit.chain_rekeyed": _("Audit chain re-keyed (keyed hashes start here)"),
    "backup.create": _("Backup written"),
    "backup.restore": _("Backup restored"),
    "keys.rotate": _("Encryption keys rotated"),
    "keys.drop_old": _("Old encryption keys removed"),
}


def require_known(action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to relais.audit.actions")


def label(action: str) -> str:
    """The translated label of a stored code (a code no longer listed shows as is)."""
    return str(ACTIONS.get(action, action))
