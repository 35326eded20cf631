"""Every index chatschema's schema has at head, and the query that needs it.

This is the one place an index is described. The models build their ``sa.Index`` objects from it,
``check`` compares the database against it (INCLUDE and WHERE included), and the docs list it.
The migrations spell their DDL out literally: a migration is frozen in time, this file is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["IndexSpec", "INDEXES", "index_by_name"]


@dataclass(frozen=True)
class IndexSpec:
    name: str
    table: str
    columns: tuple[str, ...]
    serves: str
    include: tuple[str, ...] = ()
    where: str | None = None
    unique: bool = False
    why: str = field(default="", compare=False)


INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec(
        name="ix_messages_conversation_recent",
        table="messages",
        columns=("conversation_id", "created_at DESC", "id DESC"),
        include=("role",),
        serves="load messages, conversation view, summary backfill, analytics refresh",
        why=(
            "Equality on conversation_id, then the keyset (created_at, id) in one direction, so a row-value "
            "cursor is an Index Cond and a page costs O(page). messages is append-mostly, so the visibility map "
            "stays set and INCLUDE (role) lets the per-conversation counts and the analytics refresh run as "
            "index-only scans. Never INCLUDE content: B-tree tuples are capped near 2.7 kB."
        ),
    ),
    IndexSpec(
        name="ix_conversations_user_activity",
        table="conversations",
        columns=("user_id", "last_activity_at DESC", "id DESC"),
        serves="list conversations (first page and every next page)",
        why=(
            "Equality on user_id, then the keyset (last_activity_at, id). No INCLUDE: conversations rows are "
            "updated on every send, so their visibility-map bits are cleared constantly and an index-only scan "
            "would fetch the heap anyway. Also serves the users -> conversations foreign key."
        ),
    ),
)


def index_by_name(name: str) -> IndexSpec:
    for spec in INDEXES:
        if spec.name == name:
            return spec
    raise KeyError(name)
