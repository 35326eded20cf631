"""Migrating and seeding from an installed wheel, not from the source tree: Alembic's package-resource
script_location has no upstream tests, and the seed reads its SQL files as package data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatschema import migrate

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, chatschema
from chatschema import migrate
from chatschema.settings import Settings
assert chatschema.__file__.startswith(sys.argv[1]), chatschema.__file__
from chatschema.seed import seed_database
applied = migrate.upgrade(Settings(dsn=sys.argv[2]))
print(",".join(r.revision for r in applied))
print(seed_database(sys.argv[2], scale="tiny").messages)
"""


@pytest.mark.slow
def test_installed_wheel_migrates_to_head_and_seeds(tmp_path, new_database):
    settings = new_database("wheel")
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = wheels.glob("chatschema-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(target), settings.dsn],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    )
    assert done.stdout.split() == [",".join(r.revision for r in migrate.history()), "5000"]
