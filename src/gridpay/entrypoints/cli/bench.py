"""CLI: bench commands."""

from __future__ import annotations
