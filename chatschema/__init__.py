"""chatschema: PostgreSQL schema, safe migrations and plan-verified queries for a chat backend."""

from __future__ import annotations

__version__ = "0.1.0"
