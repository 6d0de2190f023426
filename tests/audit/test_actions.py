"""Audit actions are a closed list: every code the source passes to the audit functions is
registered with a label (French too), and any other code is refused before it is stored."""

import ast
from pathlib import Path

import pytest
from django.utils import translation

from relais.accounts import views_platform
from relais.audit import actions
from relais.audit.events import event, record
from relais.audit.models import AuditEvent

SRC = Path(__file__).resolve().parents[2] / "src" / "relais"
AUDIT_FUNCTIONS = {"record": 0, "event": 0}  # imported from relais.audit.events
# Call sites whose code is computed; each gives the codes it can pass, read from the code.
DYNAMIC_SITES = {
    "accounts/views_platform.py": lambda: [t[2] for t in views_platform.TRANSITIONS.values()],
}


def action_argument(call: ast.Call, position: int) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "action":
            return keyword.value
    return call.args[position] if len(call.args) > position else None


def called_name(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) else None


def audit_functions(tree: ast.Module) -> dict[str, int]:
    """Names that write an audit event in this module, with the position of the action:
    record/event imported from relais.audit.events, and the module's own functions that
    pass their `action` parameter on to one of those (api/v1.py's audit, for one)."""
    known = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "relais.audit.events":
            for alias in node.names:
                if alias.name in AUDIT_FUNCTIONS:
                    known[alias.asname or alias.name] = AUDIT_FUNCTIONS[alias.name]
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    while True:
        found = {}
        for function in functions:
            parameters = [argument.arg for argument in function.args.args]
            if function.name in known or "action" not in parameters:
                continue
            for call in ast.walk(function):
                if isinstance(call, ast.Call) and called_name(call) in known:
                    argument = action_argument(call, known[called_name(call)])
                    if isinstance(argument, ast.Name) and argument.id == "action":
                        found[function.name] = parameters.index("action")
        if not found:
            return known
        known.update(found)


def module_constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def actions_in_source() -> tuple[dict[str, list[str]], list[str]]:
    """({code: [where it is used]}, [call sites whose code the test cannot read])."""
    used, unreadable = {}, []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        known = audit_functions(tree)
        constants = module_constants(tree)
        relative = str(path.relative_to(SRC))
        forwarders = {
            node: node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name in known
        }
        forwarded = {
            id(call)
            for function in forwarders
            for call in ast.walk(function)
            if isinstance(call, ast.Call)
        }
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or called_name(call) not in known:
                continue
            argument = action_argument(call, known[called_name(call)])
            where = f"{relative}:{call.lineno}"
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                used.setdefault(argument.value, []).append(where)
            elif isinstance(argument, ast.Name) and argument.id in constants:
                used.setdefault(constants[argument.id], []).append(where)
            elif (
                isinstance(argument, ast.Name) and argument.id == "action" and id(call) in forwarded
            ):
                continue  # a forwarding function: its own callers are read
            elif relative in DYNAMIC_SITES:
                for code in DYNAMIC_SITES[relative]():
                    used.setdefault(code, []).append(where)
            else:
                unreadable.append(where)
    return used, unreadable


def test_every_action_used_in_the_source_is_registered():
    used, unreadable = actions_in_source()
    assert not unreadable, f"pass a literal code, or add the site to DYNAMIC_SITES: {unreadable}"
    missing = {code: where for code, where in used.items() if code not in actions.ACTIONS}
    assert not missing, f"add these to relais.audit.actions.ACTIONS: {missing}"
    # The reading itself works: it finds codes of each kind of call site.
    assert {"test.list", "retention.purge", "pharmacy.suspended", "patient_result.pdf"} <= set(used)


def test_every_label_is_translated_into_french():
    def labels(language):
        with translation.override(language):
            return {code: str(label) for code, label in actions.ACTIONS.items()}

    english, french = labels("en"), labels("fr")
    assert [code for code in actions.ACTIONS if english[code] == french[code]] == []


@pytest.mark.parametrize("code", ["", "test.View", "test.view ", "patient.delete", "x" * 64])
def test_an_unknown_action_is_refused_and_nothing_is_stored(db, code):
    with pytest.raises(ValueError, match="unknown audit action"):
        record(code)
    with pytest.raises(ValueError, match="unknown audit action"):
        event(code)
    assert not AuditEvent.objects.exists()


def test_the_label_of_a_code_no_longer_listed_is_the_code():
    assert actions.label("retired.action") == "retired.action"
    with translation.override("fr"):
        assert actions.label("patient.view") != "Patient record viewed"
