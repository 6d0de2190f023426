"""The table of attacks tried on the live server: attempts and successes per attack."""

from dataclasses import dataclass, field


@dataclass
class Row:
    attempts: int = 0
    successes: int = 0
    details: list[str] = field(default_factory=list)


class AttackTable:
    """attack name -> attempts and successes, in the order attacks were first tried."""

    def __init__(self):
        self.rows: dict[str, Row] = {}
        self.known: dict[str, str] = {}  # attack -> the reported weakness it finds (xfail)

    def attempt(self, attack: str, succeeded: bool, detail: str = "") -> bool:
        row = self.rows.setdefault(attack, Row())
        row.attempts += 1
        if succeeded:
            row.successes += 1
            row.details.append(detail)
        return succeeded

    def assert_none(self, attack: str) -> None:
        row = self.rows.get(attack)
        assert row is not None and row.attempts > 0, f"{attack}: nothing was tried"
        assert row.successes == 0, f"{attack}: {row.successes} success(es): {row.details[:10]}"

    def render(self) -> list[str]:
        width = max([len("attack"), *(len(name) for name in self.rows)])
        lines = [f"{'attack':<{width}} | attempts | successes", "-" * (width + 23)]
        for name, row in self.rows.items():
            known = "  (known weakness, reported: xfail)" if name in self.known else ""
            lines.append(f"{name:<{width}} | {row.attempts:>8} | {row.successes:>9}{known}")
        return lines

    def summary(self) -> str:
        total = sum(row.successes for row in self.rows.values())
        known = sum(row.successes for name, row in self.rows.items() if name in self.known)
        return f"total successes: {total} ({known} in known weaknesses reported as xfail)"
