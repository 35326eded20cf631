"""Findings: what a rule reports, in words a DBA can act on, with the plan node it is about."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding", "count", "rows_text"]


@dataclass(frozen=True)
class Finding:
    """One broken promise of a plan.

    ``query`` is the catalog name ('list_conversations.today'), ``case`` the parameters it ran with
    ('heaviest user, first page'), ``mode`` how it was planned ('custom', 'generic' or 'probe').
    ``statement`` and ``node`` locate the offending part of the plan (statement index, node path);
    ``index`` names the index the finding is about, when there is one.
    """

    rule: str
    query: str
    message: str
    hint: str
    case: str = ""
    mode: str = ""
    statement: int | None = None
    node: tuple[int, ...] | None = None
    index: str | None = None
    severity: str = "error"

    @property
    def where(self) -> str:
        """'heaviest user, first page · generic plan' (empty for query-level findings)."""
        parts = [p for p in (self.case, _MODES.get(self.mode, self.mode)) if p]
        return " · ".join(parts)


_MODES = {"custom": "", "generic": "generic plan", "probe": "capability probe"}


def count(n: float | int | None) -> str:
    """1,234 / 18k / 1.2M: numbers for sentences."""
    if n is None:
        return "?"
    n = float(n)
    if n < 10_000:
        return f"{n:,.0f}"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def rows_text(n: float | int | None, noun: str = "row") -> str:
    if n is None:
        return f"? {noun}s"
    return f"{count(n)} {noun}{'' if round(float(n)) == 1 else 's'}"
