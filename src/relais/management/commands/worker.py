from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from relais.lib.stopping import StopRequest
from relais.worker import FailedRounds, run_forever, run_round


class Command(BaseCommand):
    help = "Run the background worker (transmissions, notifications, scheduled jobs)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one round and exit")
        parser.add_argument("--idle-seconds", type=float, default=1.0)

    def handle(self, *args, once, idle_seconds, **options):
        if once:
            self.stdout.write(f"{run_round()} item(s) handled")
            return
        stop = StopRequest()
        self.stdout.write("worker started")
        try:
            run_forever(idle_seconds, lambda: stop.requested, settings.WORKER_MAX_FAILED_ROUNDS)
        except FailedRounds as error:
            # Non-zero exit: the supervisor restarts a fresh process.
            raise CommandError(f"worker stopped: {error}") from None
        self.stdout.write("worker stopped")
