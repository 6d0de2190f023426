"""No module imports from a conftest.py: pytest loads each conftest itself, so an import
of one runs it a second time under another name (its hooks, its module state) and hides
a helper where nothing else can find it. Shared helpers live in tests/support."""

import ast
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def is_conftest(module: str) -> bool:
    return "conftest" in module.split(".")


def conftest_modules_imported(source: str) -> list[str]:
    """The conftest modules an import statement of `source` names, in order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if is_conftest(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if is_conftest(base.lstrip(".")):
                found.append(base)
                continue
            separator = "" if base.endswith(".") else "."
            names = [f"{base}{separator}{alias.name}" for alias in node.names]
            found += [name for name in names if is_conftest(name.lstrip("."))]
    return found


def conftest_imports(root: Path, folders=("tests", "bench")) -> list[str]:
    """`path: module` for every import of a conftest module under `folders` of `root`."""
    return [
        f"{path.relative_to(root)}: {module}"
        for folder in folders
        for path in sorted((root / folder).rglob("*.py"))
        for module in conftest_modules_imported(path.read_text(encoding="utf-8"))
    ]


def test_no_module_under_tests_or_bench_imports_from_a_conftest():
    assert conftest_imports(PROJECT_DIR) == []


def test_the_check_finds_every_form_of_such_an_import(tmp_path):
    (tmp_path / "tests" / "api").mkdir(parents=True)
    (tmp_path / "bench").mkdir()
    (tmp_path / "tests" / "api" / "test_a.py").write_text(
        "from tests.conftest import make_test\n"
        "import tests.api.conftest\n"
        "from . import conftest\n"
        "from .conftest import submission\n"
        "from tests.support.factories import make_pharmacy  # fine\n"
    )
    (tmp_path / "bench" / "x.py").write_text(
        "def f():\n    from tests import conftest as c\n    return c\n"
    )
    found = conftest_imports(tmp_path)
    assert found == [
        "tests/api/test_a.py: tests.conftest",
        "tests/api/test_a.py: tests.api.conftest",
        "tests/api/test_a.py: .conftest",
        "tests/api/test_a.py: .conftest",
        "bench/x.py: tests.conftest",
    ], found
