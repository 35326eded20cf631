"""Every default a policy or gate option's help names is the one ``Settings`` holds: the help is read
back through the option's own parser and compared with the dataclass, so changing a default in one
place and not the other fails here."""

from __future__ import annotations

import re

import click

from chatschema.cli import main
from chatschema.settings import _POLICY, Settings

DEFAULT = re.compile(r"\(default (\S+?)[ ,:;)]|\(e\.g\. \S+; default (\S+?)[ ,]")


def stale_defaults(command: click.Command) -> list[str]:
    """The options of ``command`` whose help names a default other than Settings' (or none at all)."""
    found = []
    for param in command.params:
        name = param.name or ""
        if name not in _POLICY or not isinstance(param, click.Option):
            continue
        field, _, parse = _POLICY[name]
        match = DEFAULT.search(param.help or "")
        if not match:
            found.append(f"--{name}: no default in its help")
            continue
        shown = match.group(1) or match.group(2)
        if parse(shown) != getattr(Settings(), field):
            found.append(f"--{name}: help says {shown}, Settings has {getattr(Settings(), field)}")
    return found


def test_the_helps_of_upgrade_and_downgrade_name_the_settings_defaults():
    for command in ("upgrade", "downgrade"):
        checked = [p for p in main.commands[command].params if p.name in _POLICY]
        assert len(checked) == 14  # every policy and gate option of a migrating command
        assert stale_defaults(main.commands[command]) == []


def test_a_help_that_spells_another_default_is_found():
    """The twin: a copy of upgrade whose --max-replica-lag help says 5s (Settings says 10s)."""
    upgrade = main.commands["upgrade"]
    params = []
    for p in upgrade.params:
        if p.name == "max_replica_lag":
            p = click.Option(["--max-replica-lag"], help="Before each batch (default 5s, or $X; 0 = off).")
        params.append(p)
    stale = click.Command("upgrade", params=params)
    assert stale_defaults(stale) == ["--max_replica_lag: help says 5s, Settings has 10000"]
