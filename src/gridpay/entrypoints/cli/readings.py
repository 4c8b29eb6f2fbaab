"""CLI: readings commands."""

from __future__ import annotations
