"""CLI: settle commands."""

from __future__ import annotations
