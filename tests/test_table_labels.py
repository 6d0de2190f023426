"""Tables stay readable on a phone: below 40rem relais.css shows each row as a card and each
cell's label from its data-label (the column headers are hidden). So every data cell of
every template has a data-label, or is a row's buttons (class table__actions, no label).
tests/e2e/test_counter_pages.py checks the labels in a browser at 375 px."""

import re
from pathlib import Path

import relais

TEMPLATES = Path(relais.__file__).parent / "templates"
CELL = re.compile(r"<td\b[^>]*>")


def test_every_table_cell_of_every_template_has_a_label():
    unlabelled = []
    cells = 0
    for template in sorted(TEMPLATES.rglob("*.html")):
        for cell in CELL.findall(template.read_text()):
            cells += 1
            if "data-label=" not in cell and "table__actions" not in cell:
                unlabelled.append(f"{template.relative_to(TEMPLATES)}: {cell}")
    assert cells > 40
    assert unlabelled == []
