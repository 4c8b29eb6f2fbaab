"""CLI: queries commands."""

from __future__ import annotations
