"""CLI: payments commands."""

from __future__ import annotations
