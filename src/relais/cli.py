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
    except OSError as error:  # nothing is left under the name (written atomically)
        sys.exit(f"cannot write {args.out}: {error.strerror}")
    print(f"Keyset written to {args.out} (mode 0600).")


def init_single_keyset(kind: str, argv: list[str]) -> None:
    """`relais keys init-backup` / `init-wrapping`: a one-purpose Tink keyset file."""
    from relais.crypto.keyset import new_backup_keyset_json, new_wrapping_keyset_json
    from relais.env import write_private_file

    parser = argparse.ArgumentParser(prog=f"relais keys init-{kind}")
    parser.add_argument("--out", required=True, help="path of the key file to create")
    args = parser.parse_args(argv)
    make = new_backup_keyset_json if kind == "backup" else new_wrapping_keyset_json
    try:
        write_private_file(Path(args.out), make())
    except FileExistsError:
        sys.exit(f"{args.out} already exists; refusing to overwrite keys.")
    except OSError as error:
        sys.exit(f"cannot write {args.out}: {error.strerror}")
    print(f"{kind.capitalize()} key written to {args.out} (mode 0600). Keep a copy off this host.")


def main() -> None:
    if sys.argv[1:3] == ["keys", "init"]:
        init_keyset(sys.argv[3:])
        return
    if sys.argv[1:3] in (["keys", "init-backup"], ["keys", "init-wrapping"]):
        init_single_keyset(sys.argv[2].removeprefix("init-"), sys.argv[3:])
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        _ = settings.INSTALLED_APPS  # loads the settings: a refusal to start is one line
    except ImproperlyConfigured as error:
        sys.exit(f"relais: cannot start: {error}")

    argv = list(sys.argv)
    argv[0] = "relais"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
