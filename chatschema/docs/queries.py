"""docs/queries.md: the query catalog and the data-access API, for app teams."""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

from .. import api, api_async, errors
from .. import queries as catalog
from .text import (
    GENERATED,
    WIDTH,
    annotation,
    attribute_docs,
    body,
    first,
    rest,
    round_trips,
    signature,
    split_raises,
)

__all__ = ["queries_markdown"]

_QUERIES_INTRO = """\
# Queries: the catalog and the data-access API

{generated}

For app teams: every SQL statement the chat application runs against `users`, `conversations` and
`messages`, by operation and variant, and the Python functions that run them. From a shell:

```bash
chatschema queries list                              # operation × variant, revision, round trips
chatschema queries show load_messages                # the SQL of every variant, with notes
chatschema queries show list_conversations.optimized
```
"""

_API_EXAMPLE = """\
```python
import psycopg
from chatschema import api

with psycopg.connect(dsn, autocommit=True) as conn:          # or pool.connection()
    page = api.list_conversations(conn, user_id, limit=20)
    while page.has_more:
        page = api.list_conversations(conn, user_id, limit=20, cursor=page.next_cursor)

    view = api.conversation_view(conn, user_id, conversation_id)     # + newest 20 messages
    older = api.load_messages(conn, user_id, conversation_id, limit=50, before=view.messages.next_cursor)
    sent = api.send_message(conn, user_id, conversation_id, "user", "Hello", message_id=client_id)  # retry-safe
    missed = api.catch_up(conn, user_id, conversation_id, after=view.messages.newest_cursor)  # on reconnect
    moved = api.changed_conversations(conn, user_id, since=last_refresh)  # the sidebar's refresh
    days = api.user_daily_counts(conn, user_id, since=date(2026, 4, 1), until=date(2026, 5, 1))
    totals = api.daily_totals(conn, since=date(2026, 4, 1), until=date(2026, 5, 1))
```

`chatschema.api_async` has the same functions, with the same arguments and results, for
`psycopg.AsyncConnection` (`await api_async.list_conversations(aconn, user_id)`)."""



def _api_pair(operation: str) -> tuple[Callable[..., Any], Callable[..., Any] | None] | None:
    sync = getattr(api, operation, None) if operation in api.__all__ else None
    if sync is None:
        return None
    return sync, getattr(api_async, operation, None) if operation in api_async.__all__ else None


def _operation(operation: str) -> list[str]:
    variants = catalog.by_name(operation)
    pair = _api_pair(operation)
    lines = [f"### `{operation}`", ""]
    if pair is None and any(q.cursor for q in variants):
        lines += ["Run by `chatschema.export.export_messages` (and `chatschema export`), and for asyncio by "
                  "`chatschema.export_async.export_messages` (`async for`), through a server-side cursor, a batch "
                  "per round trip, in one REPEATABLE READ READ ONLY transaction.", ""]
    elif pair is None:
        lines += ["Not in the data-access API: the catalog holds it for comparison only.", ""]
    else:
        sync, async_ = pair
        rest, documented = split_raises(sync)
        code = [f"# chatschema.api\n{signature(sync)}"]
        if async_ is not None:
            code.append(f"# chatschema.api_async\n{signature(async_, 'async def')}")
        lines += [first(sync), "", "```python", *"\n".join(code).splitlines(), "```", ""]
        for paragraph in rest:
            lines += [paragraph, ""]
        result = annotation(inspect.signature(sync).return_annotation)
        lines += [f"Returns `{result}` (see [Results](#results)).", ""]
        if documented:
            lines += ["Raises:", ""] + [f"- [`{name}`](#errors): {text}" for name, text in documented] + [""]
    summaries = list(dict.fromkeys(q.contract.summary for q in variants))
    if len(summaries) == 1 and summaries[0]:
        lines += [f"*What its plan must be, in every variant*: {summaries[0]}", ""]
    lines += ["| variant | schema revision | round trips | writes | parameters |", "|---|---|---|---|---|"]
    for q in variants:
        params = ", ".join(f"`{p}`" for p in q.all_params)
        lines.append(f"| [`{q.variant}`](#{q.operation}{q.variant}) | {q.revision} | {q.round_trips} | "
                     f"{'yes' if q.writes else 'no'} | {params} |")
    for q in variants:
        lines += ["", f"#### `{q.name}`", "", f"Schema revision {q.revision}, {round_trips(q.round_trips)}. {q.notes}",
                  ""]
        if len(summaries) > 1 and q.contract.summary:
            lines += [f"*What its plan must be*: {q.contract.summary}", ""]
        lines += [f"*Plan contract*: {q.contract.describe()}", "", "```sql", catalog.formatted_sql(q), "```"]
    return lines


def _result_class(cls: type) -> list[str]:
    lines = ["@dataclass(frozen=True)", f"class {cls.__name__}:"]
    doc = " ".join((inspect.getdoc(cls) or "").split())
    if doc and not doc.startswith(f"{cls.__name__}("):  # dataclass's generated doc says nothing
        lines += textwrap.wrap(f'"""{doc.replace("``", "")}"""', WIDTH - 4, initial_indent="    ",
                               subsequent_indent="    ")
    return lines + [f"    {f.name}: {annotation(f.type)}" for f in dataclasses.fields(cls)]


def queries_markdown() -> str:
    """docs/queries.md: the catalog, the API, and every operation with all its variants."""
    sources = "chatschema/queries/, chatschema/_api_common.py, chatschema/api.py and chatschema/api_async.py"
    lines = [_QUERIES_INTRO.format(generated=GENERATED.format(sources=sources)).rstrip("\n"), ""]
    lines += ["Contents: [the catalog](#the-catalog), [the API](#the-api), the operations: "
              + ", ".join(f"[`{op}`](#{op})" for op in catalog.OPERATIONS) + ".", ""]
    lines += ["## The catalog", "", body(catalog), "",
              "| operation | what it does | " + " | ".join(f"`{v}`" for v in catalog.VARIANTS) + " |",
              "|---|---|" + "---|" * len(catalog.VARIANTS)]
    for op in catalog.OPERATIONS:
        pair = _api_pair(op)
        cells = []
        for variant in catalog.VARIANTS:
            try:
                q = catalog.get(op, variant)
            except errors.UnknownQuery:
                cells.append("–")
                continue
            cells.append(f"[{q.revision}, {round_trips(q.round_trips)}](#{op}{variant})")
        lines.append(f"| [`{op}`](#{op}) | {first(pair[0]) if pair else ''} | " + " | ".join(cells) + " |")
    query_doc = first(catalog.Query)
    query_doc = f"A `Query` (a frozen dataclass) is {query_doc[:1].lower()}{query_doc[1:]} {rest(catalog.Query)}"
    lines += ["", query_doc, "", "Looking queries up:", ""]
    for name in catalog.__all__:
        obj = getattr(catalog, name)
        if inspect.isfunction(obj):
            lines.append(f"- `catalog.{signature(obj, '', wrap=False)}`: {first(obj)}")
    lines += ["", "## The API", "", body(api), "", _API_EXAMPLE, "", "### Constants", ""]
    documented = attribute_docs(api)
    for name in api.__all__:
        value = getattr(api, name)
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            lines.append(f"- `api.{name} = {value!r}`: {documented.get(name, '')}")
    raised = dict.fromkeys(name for op in catalog.OPERATIONS if (pair := _api_pair(op))
                           for name, _ in split_raises(pair[0])[1])
    lines += ["", "### Errors", ""]
    for name in raised:
        cls = getattr(errors, name)
        bases = [f"`{b.__name__}`" for b in cls.__mro__[1:] if b not in (Exception, BaseException, object)]
        lines.append(f"- `chatschema.errors.{name}` (a {' and a '.join(bases)}): {first(cls)}")
    lines += ["", "### Results", "", "```python"]
    classes = [getattr(api, n) for n in api.__all__ if inspect.isclass(getattr(api, n))]
    for i, cls in enumerate(classes):
        lines += ([""] if i else []) + _result_class(cls)
    lines += ["```", "", "## Operations", ""]
    for op in catalog.OPERATIONS:
        lines += _operation(op) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"

