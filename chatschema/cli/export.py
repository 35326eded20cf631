"""chatschema export: a conversation's or a user's history as NDJSON on stdout."""

from __future__ import annotations

import json
import os
import sys

import click

from .. import server
from ..export import EXPORT_BATCH
from ..settings import Settings
from . import connection_options, err, main, progress_bar


@main.command("export")
@click.option("--user", "user_id", metavar="ID", help="Export every conversation of this user.")
@click.option("--conversation", "conversation_id", metavar="ID", help="Export this conversation.")
@click.option("--batch", type=int, default=EXPORT_BATCH, show_default=True,
              help="Messages fetched per round trip: the most the export holds in memory at once.")
@connection_options
def export_(user_id: str | None, conversation_id: str | None, batch: int, settings: Settings) -> None:
    """Write messages to stdout as NDJSON, one object a line, with a progress bar on stderr.

    A conversation's messages come oldest first; a user's conversations most recent activity
    first. Read through a server-side cursor a batch at a time, so memory stays flat whatever
    the history's length, in one REPEATABLE READ READ ONLY transaction: one snapshot, nothing
    written. Ctrl-C or a closed pipe ends the transaction.

    \b
    Example:
        chatschema export --conversation 3f1c... --dsn "$REPLICA_URL" > conversation.ndjson
        chatschema export --user 9a2b... | gzip > user.ndjson.gz
    """
    from ..export import export_messages

    info = server.conninfo(settings)
    written = 0
    with server.connect(info, autocommit=True) as conn, \
            export_messages(conn, user_id=user_id, conversation_id=conversation_id, batch=batch) as export:
        bar = progress_bar()
        task = bar.add_task("export", total=export.total)
        bar.start()
        try:
            for message in export:
                sys.stdout.write(json.dumps(message.as_json(), ensure_ascii=False) + "\n")
                written += 1
                if written % batch == 0:
                    bar.update(task, completed=written)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away (| head): stop quietly, and keep Python from failing on the final flush.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        finally:
            bar.stop()
    err.print(f"exported {written:,} messages of {export.conversations:,} conversation(s)", markup=False)
