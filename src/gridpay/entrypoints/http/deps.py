"""What every router takes from the app, in a module of its own: ``app.py`` imports the routers,
so a router importing ``app.py`` back would be circular."""

from __future__ import annotations

from fastapi import Request

from gridpay import bootstrap


def gridpay_of(request: Request) -> bootstrap.App:
    """The built gridpay behind the app (settings, store, clock, credit policy)."""
    built: bootstrap.App = request.app.state.gridpay
    return built
