"""The import-linter contracts that keep the web layer on top (pyproject.toml, checked by
`make lint`) name views and URL modules one by one: a new one left out of the lists would
escape them, so this test compares the lists with the files."""

import re
import tomllib
from pathlib import Path

import relais

SRC = Path(relais.__file__).parent
PYPROJECT = SRC.parent.parent / "pyproject.toml"


def contract(contract_id: str) -> dict:
    contracts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"][
        "contracts"
    ]
    return next(c for c in contracts if c["id"] == contract_id)


def modules_named(pattern: str) -> set[str]:
    return {
        ".".join(("relais", *path.relative_to(SRC).with_suffix("").parts))
        for path in SRC.rglob("*.py")
        if re.fullmatch(pattern, path.stem)
    }


def test_every_views_module_is_protected_by_the_contracts():
    views = modules_named(r"views(_\w+)?")
    assert views, "no views module found: the pattern is wrong"
    assert set(contract("views-from-urls-only")["protected_modules"]) == views
    assert set(contract("urls-own-views")["forbidden_modules"]) == views


def test_every_url_module_is_bound_to_its_own_app():
    urls = modules_named(r"(\w+_)?urls(_\w+)?") - {"relais.urls"}  # the root mounts by name
    assert set(contract("views-from-urls-only")["allowed_importers"]) == urls
    assert set(contract("urls-own-views")["source_modules"]) == urls
    for allowed in contract("urls-own-views")["ignore_imports"]:
        importer, imported = allowed.split(" -> ")
        assert importer.split(".")[1] == imported.split(".")[1], allowed  # same app
