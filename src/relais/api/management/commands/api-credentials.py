"""`relais api-credentials create|list|read-scope|revoke`: the operator's side of API
credentials."""

from django.core.management.base import BaseCommand, CommandError

from relais.accounts.models import Pharmacy
from relais.api import credentials
from relais.api.models import ApiCredential
from relais.audit.events import record


class Command(BaseCommand):
    help = "Create, list or revoke a pharmacy's API credentials."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a credential; prints it once")
        create.add_argument("--pharmacy", required=True, metavar="FINESS")
        create.add_argument("--name", required=True, metavar="LABEL")
        create.add_argument(
            "--read-all",
            action="store_true",
            help="let it read every test of the pharmacy, not only those it records",
        )
        listing = actions.add_parser("list", help="list credentials (never their secrets)")
        listing.add_argument("--pharmacy", metavar="FINESS")
        scope = actions.add_parser(
            "read-scope", help="what a credential reads: `own` tests (default) or `all`"
        )
        scope.add_argument("prefix", help="the 8 characters after rl_")
        scope.add_argument("scope", choices=("own", "all"))
        revoke = actions.add_parser("revoke", help="revoke a credential by its prefix")
        revoke.add_argument("prefix", help="the 8 characters after rl_")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action.replace('-', '_')}")(**options)

    def handle_create(self, pharmacy, name, read_all=False, **options):
        found = Pharmacy.objects.filter(finess=pharmacy).first()
        if found is None:
            raise CommandError(f"No pharmacy with FINESS {pharmacy}.")
        name = " ".join(name.split())
        if not name or len(name) > 100:
            raise CommandError("The name must have 1 to 100 characters.")
        credential, token = credentials.create_credential(found, name, read_all=read_all)
        record(
            "api_credential.create",
            pharmacy=found,
            target=credential,
            details={"by": "cli", "read_all": read_all},
        )
        self.stderr.write(
            f"Credential {credential.prefix} created for {found.name}. It is shown only now:"
        )
        self.stdout.write(token)

    def handle_list(self, pharmacy=None, **options):
        rows = ApiCredential.objects.select_related("pharmacy").order_by("pharmacy__finess")
        if pharmacy:
            rows = rows.filter(pharmacy__finess=pharmacy)
        for row in rows:
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            reads = "reads all" if row.read_all else "reads own"
            line = (
                f"{row.prefix}  {row.pharmacy.finess}  {state:<24}  {reads}  last used {used:<16}"
            )
            self.stdout.write(f"{line}  {row.name}")

    def handle_read_scope(self, prefix, scope, **options):
        credential = ApiCredential.objects.filter(prefix=prefix).first()
        if credential is None:
            raise CommandError(f"No credential {prefix}.")
        if credential.is_revoked:
            raise CommandError(f"Credential {prefix} is revoked.")
        read_all = scope == "all"
        if credentials.set_read_all(credential, read_all):
            record(
                "api_credential.read_scope",
                pharmacy=credential.pharmacy,
                target=credential,
                details={"by": "cli", "read_all": read_all},
            )
        what = "every test of its pharmacy" if read_all else "only the tests it recorded"
        self.stdout.write(f"Credential {prefix} reads {what}.")

    def handle_revoke(self, prefix, **options):
        credential = ApiCredential.objects.filter(prefix=prefix).first()
        if credential is None:
            raise CommandError(f"No credential {prefix}.")
        if not credentials.revoke(credential):
            raise CommandError(f"Credential {prefix} was already revoked.")
        record(
            "api_credential.revoke",
            pharmacy=credential.pharmacy,
            target=credential,
            details={"by": "cli"},
        )
        self.stdout.write(f"Credential {prefix} revoked.")
