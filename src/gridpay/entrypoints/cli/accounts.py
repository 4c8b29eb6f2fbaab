"""CLI: accounts commands."""

from __future__ import annotations
