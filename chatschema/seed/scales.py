"""How much data to make, and how skewed: the scales, and the parameters of the plan they give.

The shape (see ``Scale``): user 1 is a whale owning a fixed share of all conversations, users 2-4
are heavy, the last 5% of users own nothing, everybody else a few dozen. Conversation 1 holds a
fixed share of all messages and conversations 2-5 a smaller one; 6% of the others are empty; the
rest hold a handful. ``sql/plan_fill.sql`` draws the plan (one row per conversation) from these
parameters; every generated row follows from the plan and the seed.

The arguments of ``seed_database`` are checked here, before anything connects: a bad one is a
``ConfigError`` naming the command-line option it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError

__all__ = [
    "Scale",
    "SCALES",
    "HEAVY_USERS",
    "BIG_CONVERSATIONS",
    "IDLE_USER_SHARE",
    "MIN_MESSAGES",
    "MAX_SEED",
    "resolve_scale",
    "PLAN_MIN_MESSAGES",
    "check_plan_scale",
    "check_seed",
    "plan_params",
]

HEAVY_USERS = 3  # users 2..4
BIG_CONVERSATIONS = 4  # conversations 2..5, after the longest (conversation 1)
IDLE_USER_SHARE = 0.05  # the last users, who own no conversation
MIN_MESSAGES = 100
MAX_MESSAGES = 100_000_000  # ten times the largest scale: beyond it a seed runs for hours
MAX_SEED = 2**40  # the seed is scaled into hashint8extended's bigint salt


@dataclass(frozen=True)
class Scale:
    """How much to generate, and how skewed."""

    name: str
    users: int
    conversations: int
    messages: int
    whale_share: float  # of all conversations, owned by user 1
    heavy_share: float  # of all conversations, owned by users 2..4 together
    longest_share: float  # of all messages, in conversation 1
    big_share: float  # of all messages, in each of conversations 2..5

    def resized(self, messages: int) -> "Scale":
        """The same shape with ``messages`` messages; users and conversations scale in proportion."""
        factor = messages / self.messages
        return replace(
            self,
            users=max(20, round(self.users * factor)),
            conversations=max(40, round(self.conversations * factor)),
            messages=messages,
        )


# Most users own a few dozen conversations and most conversations hold a handful of messages; the
# shares make the outliers. The research's plans only look like production with a whale of >= 10k
# conversations and a conversation of >= 50k messages: 'ci' has 12,000 and 54,000.
SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale("tiny", users=40, conversations=400, messages=5_000, whale_share=0.30, heavy_share=0.06,
              longest_share=0.20, big_share=0.03),
        Scale("ci", users=600, conversations=30_000, messages=200_000, whale_share=0.40, heavy_share=0.06,
              longest_share=0.27, big_share=0.02),
        Scale("bench", users=6_000, conversations=300_000, messages=2_000_000, whale_share=0.10,
              heavy_share=0.03, longest_share=0.10, big_share=0.02),
        Scale("large", users=30_000, conversations=1_500_000, messages=10_000_000, whale_share=0.03,
              heavy_share=0.02, longest_share=0.04, big_share=0.01),
    )
}


def resolve_scale(scale: str, messages: int | None) -> Scale:
    """``SCALES[scale]``, resized to ``messages`` messages if given."""
    if scale not in SCALES:
        raise ConfigError(f"--scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    chosen = SCALES[scale]
    if messages is None:
        return chosen
    if isinstance(messages, bool) or not isinstance(messages, int) or not MIN_MESSAGES <= messages <= MAX_MESSAGES:
        raise ConfigError(f"--messages: expected a whole number from {MIN_MESSAGES} to {MAX_MESSAGES}, got {messages!r}")
    return chosen.resized(messages)


PLAN_MIN_MESSAGES = 10_000
"""The fewest messages a database seeded to verify plans may hold. Below it every table is a few pages
and the planner rightly reads the whale's conversations with a bitmap or a sequential scan, a plan
production never gets: measured with the tiny shape, list_conversations.optimized reads 54-65 rows
against 44 at 5,000 and 6,000 messages and passes from 7,500; 10,000 leaves a margin."""


def check_plan_scale(scale: str, messages: int | None, *, command: str, divisor: int = 1,
                     options: str = "--") -> Scale:
    """The scale ``command`` seeds, refused before anything runs when a database it seeds (the main one,
    and for ``divisor`` > 1 the growth database holding 1/divisor of it) would have fewer than
    PLAN_MIN_MESSAGES messages: such a run would fail contracts that hold in production, or pass by chance.
    ``options`` is how the message spells the options (``--chatschema-`` for the pytest plugin)."""
    chosen = resolve_scale(scale, messages)
    needed = PLAN_MIN_MESSAGES * divisor
    if chosen.messages >= needed:
        return chosen
    given = (f"{options}messages {messages} is" if messages is not None
             else f"{options}scale {scale} seeds {chosen.messages:,} messages,")
    growth = f" ({PLAN_MIN_MESSAGES:,} in the growth database, which holds 1/{divisor})" if divisor > 1 else ""
    raise ConfigError(
        f"{given} too few for {command}: it needs at least {needed:,} messages{growth}; below "
        f"{PLAN_MIN_MESSAGES:,} the tables are a few pages and the planner rightly picks scans production never "
        f"gets. Use {options}scale ci, or {options}messages {needed} or more"
    )


def check_seed(seed: int) -> None:
    """Refuse a seed that is not a whole number in [0, MAX_SEED)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise ConfigError(f"--seed: expected a whole number from 0 to {MAX_SEED - 1}, got {seed!r}")


def plan_params(scale: Scale, seed: int) -> dict[str, Any]:
    """The parameters of ``sql/plan_fill.sql`` (and ``seed``, ``users`` for the other SELECTs)."""
    longest = round(scale.messages * scale.longest_share)
    big = round(scale.messages * scale.big_share)
    rest = scale.messages - longest - BIG_CONVERSATIONS * big
    if rest < scale.conversations:
        # Every conversation that is not empty gets at least one message.
        raise ConfigError(
            f"--messages: {scale.messages:,} messages are too few to give each of the "
            f"{scale.conversations:,} conversations of scale {scale.name!r} one"
        )
    idle_users = max(1, round(scale.users * IDLE_USER_SHARE))
    return {
        "seed": seed,
        "users": scale.users,
        "conversations": scale.conversations,
        "longest": longest,
        "big": big,
        "big_count": BIG_CONVERSATIONS,
        "rest": rest,
        "whale_share": scale.whale_share,
        "heavy_share": scale.heavy_share,
        "heavy_users": HEAVY_USERS,
        "normal_users": scale.users - 1 - HEAVY_USERS - idle_users,
    }
