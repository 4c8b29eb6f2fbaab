"""The enrolment drive's bulk file: many agreements signed at the offices, with each household's
opening position from monthly billing, entered in one go.

Each row is an enrolment of its own (``services.enrolment.enrol``, in its own transaction), so a
bad row is named with its reason and never holds back the good ones, and importing the same file
again changes nothing (an enrolled account is "already recorded").
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from gridpay import limits
from gridpay.config import Settings
from gridpay.domain.actors import SYSTEM, Actor
from gridpay.domain.enrolment import Enrol
from gridpay.errors import GridpayError, InvalidInput
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store
from gridpay.services.enrolment import enrol

REQUIRED_COLUMNS = ("account_no", "office", "opening_kwh", "opening_ytd_kwh")
OPTIONAL_COLUMNS = ("phone", "language")
ONLINE = "online"  # in the office column: signed online


@dataclass(frozen=True)
class DriveProblem:
    row_no: int  # as a spreadsheet shows it: the header is row 1
    account_no: str
    problem: str


@dataclass(frozen=True)
class DriveReport:
    source: str
    rows: int
    enrolled: int
    already_enrolled: int
    without_position: int  # enrolled but flagged: a staff task asks for the position
    problems: tuple[DriveProblem, ...]


def enrol_drive_file(
    store: Store,
    clock: Clock,
    settings: Settings,
    rows: pl.DataFrame,
    source: str,
    *,
    actor: Actor = SYSTEM,
) -> DriveReport:
    """Enrol every row of a drive file (text columns + ``row_no``); good rows land, bad rows
    are named. A blank position is allowed (flagged and tasked, as at the counter)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise InvalidInput(
            f"{source} lacks column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})"
        )
    if rows.height > limits.enrolment_drive_rows_max:
        raise InvalidInput(
            f"{source} has {rows.height} rows; at most {limits.enrolment_drive_rows_max} a file "
            f"(split it by office)"
        )
    enrolled = already = without = 0
    problems: list[DriveProblem] = []
    for row in rows.iter_rows(named=True):  # one enrolment each: a clerk's work, row by row
        account_no = (row["account_no"] or "").strip()
        try:
            receipt = enrol(store, clock, settings, _command(row), actor=actor)
        except GridpayError as exc:
            problems.append(DriveProblem(int(row["row_no"]), account_no, str(exc)))
            continue
        if receipt.already_recorded:
            already += 1
            continue
        enrolled += 1
        without += receipt.position_missing
    return DriveReport(source, rows.height, enrolled, already, without, tuple(problems))


def _command(row: dict[str, str | None]) -> Enrol:
    def text(column: str) -> str | None:
        value = row.get(column)
        return value.strip() if value is not None and value.strip() else None

    office = text("office")
    online = office is not None and office.lower() == ONLINE
    office_id: int | None = None
    if office is not None and not online:
        if not office.isdigit() or len(office) > 9:
            raise InvalidInput(f"office {office!r} is not an office number or 'online'")
        office_id = int(office)
    return Enrol(
        account_no=text("account_no") or "",
        office_id=office_id,
        online=online,
        phone=text("phone"),
        language=text("language"),
        opening_kwh=text("opening_kwh"),
        opening_ytd_kwh=text("opening_ytd_kwh"),
        drive_file=True,
    )
