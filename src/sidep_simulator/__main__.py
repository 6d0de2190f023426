"""python -m sidep_simulator serve | dump | count (see --help)."""

import argparse
import json
import logging
import random
import sys
from pathlib import Path

from sidep_simulator.server import (
    INJECTABLE_STATUSES,
    TLS_FAULTS,
    Faults,
    SimulatorServer,
    tls_context,
)
from sidep_simulator.store import Store


def rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a rate is between 0 and 1")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="sidep_simulator", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTPS server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--cert", required=True, help="server certificate (PEM)")
    serve.add_argument("--key", required=True, help="server private key (PEM)")
    serve.add_argument("--client-ca", required=True, help="CA that signs client certificates")
    serve.add_argument("--db", required=True, type=Path, help="SQLite file of accepted messages")
    serve.add_argument("--max-batch", type=int, default=100, help="larger batches get 413")
    serve.add_argument("--error-rate", type=rate, default=0.0, help="share of messages given AE")
    serve.add_argument("--5xx-rate", dest="server_error_rate", type=rate, default=0.0,
                       help="share of requests answered 503")  # fmt: skip
    serve.add_argument("--latency", type=seconds, default=0.0, help="seconds before answering")
    serve.add_argument("--drop-rate", type=rate, default=0.0,
                       help="share of requests closed without an answer")  # fmt: skip
    serve.add_argument("--reject-nir", action="append", default=[], help="answer AE for this NIR")
    serve.add_argument("--reject-birth-name", action="append", default=[],
                       help="answer AE for patients with this birth name")  # fmt: skip
    serve.add_argument("--application-reject-count", type=int, default=0,
                       help="answer AR (cannot process now) to the first N new "
                       "messages")  # fmt: skip
    serve.add_argument("--application-reject-rate", type=rate, default=0.0,
                       help="share of new messages answered AR (of the first N with "
                       "a count)")  # fmt: skip
    serve.add_argument("--http-error", type=int, choices=INJECTABLE_STATUSES, action="append",
                       default=[], help="answer this status instead of the acknowledgements "
                       "(repeat it: the statuses are answered in turn)")  # fmt: skip
    serve.add_argument("--http-error-count", type=int,
                       help="only to the first N requests (default: all of them)")  # fmt: skip
    serve.add_argument("--http-error-rate", type=rate, default=1.0,
                       help="share of requests given --http-error (default 1)")  # fmt: skip
    serve.add_argument("--retry-after", default="",
                       help="Retry-After with --http-error: seconds or an HTTP date")  # fmt: skip
    serve.add_argument("--store-then-error", action="store_true",
                       help="store the batch, then answer --http-error (a gateway)")  # fmt: skip
    serve.add_argument("--tls-fault", choices=TLS_FAULTS, default="",
                       help="refuse-client-certificate: trust no client certificate")  # fmt: skip
    serve.add_argument("--seed", type=int, help="random seed for reproducible fault injection")
    serve.add_argument("--fast-validation", action="store_true",
                       help="skip hl7apy's check (volume runs); profile checks stay")  # fmt: skip
    for name in ["dump", "count"]:
        command = commands.add_parser(name, help=f"{name} the accepted messages")
        command.add_argument("--db", required=True, type=Path)
    return main


def application_rejects(args) -> dict:
    """--application-reject-count N alone: the first N; with a rate: that share of the
    first N (of all of them when no count is given)."""
    if args.application_reject_rate and not args.application_reject_count:
        return {"application_reject_count": None,
                "application_reject_rate": args.application_reject_rate}  # fmt: skip
    return {"application_reject_count": args.application_reject_count,
            "application_reject_rate": args.application_reject_rate or 1.0}  # fmt: skip


def serve(args) -> None:
    faults = Faults(
        error_rate=args.error_rate,
        server_error_rate=args.server_error_rate,
        latency=args.latency,
        drop_rate=args.drop_rate,
        reject_nirs=set(args.reject_nir),
        reject_birth_names={name.strip().upper() for name in args.reject_birth_name},
        **application_rejects(args),
        http_errors=tuple(args.http_error),
        http_error_count=args.http_error_count,
        http_error_rate=args.http_error_rate,
        retry_after=args.retry_after,
        store_then_error=args.store_then_error,
    )
    if args.store_then_error and not args.http_error:
        sys.exit("--store-then-error needs --http-error")
    store = Store(args.db)
    server = SimulatorServer(
        (args.host, args.port),
        tls_context(args.cert, args.key, args.client_ca, args.tls_fault),
        store,
        faults,
        args.max_batch,
        random.Random(args.seed),  # noqa: S311 (fault injection, not security)
    )
    server.strict_validation = not args.fast_validation
    logging.getLogger("sidep_simulator").info(
        "SI-DEP simulator listening on https://%s:%s/hl7/v2/batch", args.host, args.port
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()


def dump(args) -> None:
    with Store(args.db) as store:
        accepted = store.messages()
    for message_id, received_at, body in accepted:
        print(f"# {message_id} received {received_at}")
        print(body.replace("\r", "\n").rstrip("\n"))
        print()


def count(args) -> None:
    with Store(args.db) as store:
        print(json.dumps(store.counts()))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parser().parse_args(argv)
    if args.command in {"dump", "count"} and not args.db.exists():
        sys.exit(f"{args.db} does not exist")
    {"serve": serve, "dump": dump, "count": count}[args.command](args)


if __name__ == "__main__":
    main()
