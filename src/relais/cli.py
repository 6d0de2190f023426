"""The `relais` command line: Django's management commands plus the project's own."""

import argparse
import os
import sys
from pathlib import Path


def init_keyset(argv: list[str]) -> None:
    """`relais keys init`: runs before settings load, since settings require a keyset."""
    from relais.crypto.keyset import new_keys, write_keys

    parser = argparse.ArgumentParser(prog="relais keys init")
    parser.add_argument("--out", required=True, help="path of the keyset file to create")
    parser.add_argument(
        "--wrapping-key-file", help="Tink JSON AEAD keyset that encrypts the keyset at rest"
    )
    args = parser.parse_args(argv)
    try:
        write_keys(Path(args.out), new_keys(), args.wrapping_key_file)
    except FileExistsError:
        sys.exit(f"{args.out} already exists; refusing to overwrite keys.")
    print(f"Keyset written to {args.out} (mode 0600).")


def main() -> None:
    if sys.argv[1:3] == ["keys", "init"]:
        init_keyset(sys.argv[3:])
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    argv[0] = "relais"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
