"""The ``gridpay`` command line (Typer + Rich).

Each feature has its own module registering its commands on ``app``; this module wires them.
"""

from __future__ import annotations

import sys

from gridpay.entrypoints.cli import (  # noqa: F401  (importing registers the commands)
    account_changes,
    accounts,
    admin,
    archive,
    bench,
    bench_credit,
    bench_partner,
    bench_wallet,
    bench_web,
    calendar,
    commands,
    credit,
    demo,
    enrolment,
    headend,
    leaving,
    messages,
    partners,
    payments,
    queries,
    readings,
    run,
    serve,
    settle,
    staff,
    wallet,
    wallet_sim,
)
from gridpay.entrypoints.cli._common import app, run_app


def main() -> None:
    sys.exit(run_app())


__all__ = ["app", "main"]
