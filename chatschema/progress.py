"""How long-running library work reports to its caller, which decides how (if at all) to show it.

Nothing below the CLI prints: functions take these callbacks instead, and call them from the
calling thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Progress", "Warn", "Event"]

Progress = Callable[[str, int, int], None]
"""``progress(task, done, total)``: ``task`` names the work (a backfill, a seed phase), ``done`` of ``total``."""

Warn = Callable[[str], None]
"""``warn(message)``: something the user should know that does not stop the work."""

Event = Callable[[str, Any], None]
"""``on_event(kind, payload)``: a stage of a long story; each kind has one payload type, documented where it is sent."""
