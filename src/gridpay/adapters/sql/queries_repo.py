"""Read-only per-account views in SQL, each on an index.

- ``daily_usage`` by ``day IN (each day of the range) AND account_id = :a``: one seek of the
  primary key (day, account_id) per day (a range on ``day`` would read everyone's rows); the
  newest settled day through ``last_settled_days`` (a few seeks).
- ``transfers``, in two parts that never overlap: a day's own charge and credit by their
  deterministic ids (``charge/<day>/<account>``, one seek of the unique id index per id, for the
  days from the range's first to the account's last settled day at most), and every other
  transfer by the small partial index ix_transfers_rare_account_id_seq. No index on transfers
  leads with the account for every row: see ``schema.transfers``.
- a balance on a day (a statement's opening and closing) from the cached balance, the account's
  few non-charge transfers and two usage rows' ``ytd_charged_fen`` per calendar year
  (``net_before``): the same few seeks for last month's statement as for one of years ago.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, bindparam, case, func, or_, select, text

from gridpay import limits
from gridpay.adapters.sql import schema
from gridpay.adapters.sql.archive_repo import SqlArchiveRepo, read_archived_transfers
from gridpay.adapters.sql.db import as_date
from gridpay.adapters.sql.settlement_repo import (
    days_between,
    last_settled_days,
    newest_settled_day,
)
from gridpay.domain.ledger import TransferKind, charge_id, credit_id
from gridpay.errors import NotFound
from gridpay.ports.archive import ArchivedMonth

USAGE_SCHEMA: dict[str, Any] = {
    "day": pl.Date,
    "energy_wh": pl.Int64,
    "charge_fen": pl.Int64,
    "ytd_wh": pl.Int64,
    "ytd_charged_fen": pl.Int64,
    "estimated": pl.Boolean,
    "tariff_code": pl.String,
}

TRANSFER_LINE_SCHEMA: dict[str, Any] = {
    "seq": pl.Int64,
    "id": pl.String,
    "kind": pl.String,
    "day": pl.Date,
    "amount_fen": pl.Int64,
    "channel": pl.String,
    "ref": pl.String,
    "office_id": pl.Int64,
    "reverses_id": pl.String,
    "note": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}


class SqlQueriesRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._last_settled: dict[int, dt.date | None] = {}
        self._archived: list[ArchivedMonth] | None = None
        self._newest: dt.date | None | object = _UNREAD  # the newest settled day of anyone
        self._ytd_rows: dict[tuple[int, dt.date], tuple[dt.date, int, int] | None] = {}

    def usage_between(self, account_id: int, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        u = schema.daily_usage
        stmt = self._usage_select(account_id, first_day, last_day).order_by(u.c.day)
        return self._frame(stmt, USAGE_SCHEMA)

    def latest_usage(self, account_id: int, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        newest = self._last_row_day(account_id, last_day + dt.timedelta(days=1))
        if newest is None or newest < first_day:
            return pl.DataFrame(schema=USAGE_SCHEMA)
        return self._frame(self._usage_select(account_id, newest, newest), USAGE_SCHEMA)

    def recent_transfers(
        self, account_id: int, limit: int, *, own_charges: bool = True
    ) -> pl.DataFrame:
        t = schema.transfers
        found = self._rows(self._rare_select(account_id).order_by(t.c.seq.desc()).limit(limit))
        newest = self._last_settled_day(account_id) if own_charges else None
        if newest is not None:
            found += self._newest_charges(account_id, newest, limit)
        found.sort(key=lambda r: r[_SEQ], reverse=True)
        return _lines_frame(found[:limit])

    def _newest_charges(
        self, account_id: int, newest: dt.date, limit: int
    ) -> list[tuple[Any, ...]]:
        """The account's ``limit`` newest own charges and credits, looking back at most
        ``account_recent_charge_days_max`` days from ``newest``.

        A day's own charge is posted when the day is settled and an account's days are settled
        in order (corrections are true-ups, found with the rare transfers), so its newest
        charges by ``seq`` are its newest days': the days are looked up newest first, only as
        many as could still hold a missing charge. A household that uses power every day needs
        one lookup of ``limit`` days instead of the whole look-back: each day's charge is
        another page of the ledger, a read from disk once the ledger outgrows memory."""
        oldest = newest - dt.timedelta(days=limits.account_recent_charge_days_max - 1)
        found: list[tuple[Any, ...]] = []
        last = newest
        while last >= oldest and len(found) < limit:
            first = max(oldest, last - dt.timedelta(days=limit - len(found) - 1))
            found += self._rows(self._charges_select(account_id, first, last))
            last = first - dt.timedelta(days=1)
        return found

    def transfers_between(
        self, account_id: int, first_day: dt.date, last_day: dt.date
    ) -> pl.DataFrame:
        t = schema.transfers
        found = self._rows(
            self._rare_select(account_id).where(t.c.day >= first_day, t.c.day <= last_day)
        )
        newest = self._last_settled_day(account_id)
        if newest is not None and newest >= first_day:
            found += self._rows(self._charges_select(account_id, first_day, min(last_day, newest)))
        found.sort(key=lambda r: (r[_DAY], r[_SEQ]))
        frame = _lines_frame(found)
        archived = [
            _archived_lines(month.path, account_id).filter(
                pl.col("day").is_between(first_day, last_day)
            )
            for month in self._archived_overlapping(first_day, last_day)
        ]
        if not archived:
            return frame
        return pl.concat([frame, *archived]).sort("day", "seq")

    def net_before(self, account_id: int, day: dt.date) -> int:
        """The cached balance less what the transfers dated ``day`` or later moved, in a few
        seeks whatever the ledger's age (``gridpay audit`` proves every identity used):

        - the cached balance equals the sum of every transfer;
        - a settled day's charge-kind transfers (its own charge or credit and any true-ups) net
          to its usage row's ``charge_fen`` (``usage_rows_match_charges``), and each usage row's
          ``ytd_charged_fen`` is the previous row's of the same year plus its ``charge_fen``
          (``ytd_charged_is_cumulative``): so the days' charges from ``day`` on are two rows'
          difference per calendar year, never a walk over the days;
        - every other transfer (payments, refunds, reversals...) is in the small partial index.
        """
        t = schema.transfers
        la = schema.ledger_accounts
        # One round trip: the cached balance and the later non-charge movements.
        balance = (
            select(la.c.credits_posted_fen - la.c.debits_posted_fen)
            .where(la.c.id == account_id)
            .scalar_subquery()
        )
        rare = (
            select(func.coalesce(func.sum(_signed_amount(account_id)), 0))
            .where(
                *_touches(account_id),
                text(schema.RARE_TRANSFERS_OF_TABLE),
                t.c.day >= day,
                t.c.kind.not_in(_CHARGE_KINDS),
            )
            .scalar_subquery()
        )
        balance_fen, rare_fen = (
            int(v) for v in self.conn.execute(select(func.coalesce(balance, 0), rare)).one()
        )
        later_fen = rare_fen
        newest = self._last_settled_day(account_id)
        archived = self._archived_overlapping(day, dt.date.max)
        if newest is not None and newest >= day:
            for first, last in _hot_ranges(day, newest, archived):
                later_fen -= self._charged_between(account_id, first, last)
        for month in archived:
            if month.month >= day:
                later_fen += self._archived_net(month.month, account_id)
            else:
                lines = _archived_lines(month.path, account_id)
                later_fen += int(lines.filter(pl.col("day") >= day)["amount_fen"].sum())
        return balance_fen - later_fen

    def _charged_between(self, account_id: int, first_day: dt.date, last_day: dt.date) -> int:
        """The sum of ``charge_fen`` of the account's usage rows from ``first_day`` to
        ``last_day``: per calendar year, the last row's ``ytd_charged_fen`` less the first
        row's, plus the first row's own ``charge_fen`` (a few seeks, not one per day)."""
        total_fen = 0
        for year in range(first_day.year, last_day.year + 1):
            first = max(first_day, dt.date(year, 1, 1))
            last = min(last_day, dt.date(year, 12, 31))
            opening = self._first_row_from(account_id, first, last)
            if opening is None:
                continue
            closing = self._last_row_to(account_id, last)
            assert closing is not None and closing[0] >= opening[0], (opening, closing)
            total_fen += closing[1] - opening[1] + opening[2]
        return total_fen

    def _first_row_from(
        self, account_id: int, first: dt.date, last: dt.date
    ) -> tuple[dt.date, int, int] | None:
        """(day, ytd_charged_fen, charge_fen) of the account's first row in [first, last]."""
        row = self._ytd_row(account_id, first)
        if row is not None:
            return row
        # No row on ``first``: the next one starts a run (rows run without a gap from each
        # run's start), found in the small partial index of run starts.
        u = schema.daily_usage
        start = self.conn.execute(
            select(func.min(u.c.day)).where(
                u.c.starts_run, u.c.account_id == account_id, u.c.day > first, u.c.day <= last
            )
        ).scalar()
        start_day = as_date(start)
        return None if start_day is None else self._ytd_row(account_id, start_day)

    def _last_row_to(self, account_id: int, last: dt.date) -> tuple[dt.date, int, int] | None:
        """(day, ytd_charged_fen, charge_fen) of the account's last row on or before ``last``."""
        day = self._last_row_day(account_id, last + dt.timedelta(days=1))
        return None if day is None else self._ytd_row(account_id, day)

    def _ytd_row(self, account_id: int, day: dt.date) -> tuple[dt.date, int, int] | None:
        # A statement asks for the newest row twice (opening and closing): read once.
        key = (account_id, day)
        if key not in self._ytd_rows:
            row = self.conn.execute(_YTD_ROW, {"a": account_id, "d": day}).first()
            self._ytd_rows[key] = None if row is None else (day, int(row[0]), int(row[1]))
        return self._ytd_rows[key]

    # --- plumbing --------------------------------------------------------------------------

    def _usage_select(self, account_id: int, first_day: dt.date, last_day: dt.date) -> Select:
        u = schema.daily_usage
        return select(
            u.c.day,
            u.c.energy_wh,
            u.c.charge_fen,
            u.c.ytd_wh,
            u.c.ytd_charged_fen,
            u.c.estimated,
            u.c.tariff_code,
        ).where(u.c.day.in_(days_between(first_day, last_day)), u.c.account_id == account_id)

    def _archived_overlapping(self, first_day: dt.date, last_day: dt.date) -> list[ArchivedMonth]:
        if self._archived is None:
            self._archived = SqlArchiveRepo(self.conn).archived_months()
        return [m for m in self._archived if m.month <= last_day and m.last_day >= first_day]

    def _archived_net(self, month: dt.date, account_id: int) -> int:
        row = self.conn.execute(
            text(
                "SELECT credits_fen - debits_fen FROM archived_balances "
                "WHERE month = :m AND ledger_account_id = :a"
            ),
            {"m": month, "a": account_id},
        ).first()
        return int(row[0]) if row else 0

    def _last_settled_day(self, account_id: int) -> dt.date | None:
        # Asked by several reads of one view: found once per unit of work (one transaction).
        if account_id not in self._last_settled:
            self._last_settled[account_id] = self._last_row_day(account_id, None)
        return self._last_settled[account_id]

    def _last_row_day(self, account_id: int, before: dt.date | None) -> dt.date | None:
        """The account's last settled day before ``before`` (default: ever). An account is
        nearly always settled on the newest day: one seek there before the binary search."""
        if self._newest is _UNREAD:
            self._newest = newest_settled_day(self.conn)
        newest = self._newest
        if not isinstance(newest, dt.date):
            return None
        if before is not None:
            newest = min(newest, before - dt.timedelta(days=1))
        if self._ytd_row(account_id, newest) is not None:
            return newest
        return last_settled_days(self.conn, [account_id], newest + dt.timedelta(days=1)).get(
            account_id
        )

    def _transfer_select(self, account_id: int) -> Select:
        t = schema.transfers
        return select(
            t.c.seq,
            t.c.id,
            t.c.kind,
            t.c.day,
            _signed_amount(account_id).label("amount_fen"),
            t.c.channel,
            t.c.ref,
            t.c.office_id,
            t.c.reverses_id,
            t.c.note,
            t.c.created_at,
        )

    def _rare_select(self, account_id: int) -> Select:
        """The account's transfers other than a day's own charge or credit (partial index)."""
        return self._transfer_select(account_id).where(
            *_touches(account_id), text(schema.RARE_TRANSFERS_OF_TABLE)
        )

    def _charges_select(self, account_id: int, first_day: dt.date, last_day: dt.date) -> Select:
        """The account's own charges and credits of the days, by their ids (day first)."""
        t = schema.transfers
        # The day bound adds nothing to the ids but lets PostgreSQL skip other months' partitions.
        return self._transfer_select(account_id).where(
            t.c.id.in_(_day_ids(account_id, first_day, last_day)),
            t.c.day >= first_day,
            t.c.day <= last_day,
        )

    def _rows(self, stmt: Select) -> list[tuple[Any, ...]]:
        return [_utc_row(tuple(r)) for r in self.conn.execute(stmt).all()]

    def _frame(self, stmt: Select, frame_schema: dict[str, Any]) -> pl.DataFrame:
        rows = self.conn.execute(stmt).all()
        data = [_utc_row(tuple(r)) for r in rows]
        return pl.DataFrame(data, schema=frame_schema, orient="row")


_UNREAD = object()
_CHARGE_KINDS = (TransferKind.CHARGE.value, TransferKind.CREDIT.value)
_U = schema.daily_usage
_YTD_ROW = select(_U.c.ytd_charged_fen, _U.c.charge_fen).where(
    _U.c.day == bindparam("d"), _U.c.account_id == bindparam("a")
)
_SEQ = list(TRANSFER_LINE_SCHEMA).index("seq")
_DAY = list(TRANSFER_LINE_SCHEMA).index("day")


def _lines_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=TRANSFER_LINE_SCHEMA, orient="row")


def _archived_lines(path: str, account_id: int) -> pl.DataFrame:
    """The account's transfers in an archived month's file, as ``TRANSFER_LINE_SCHEMA``."""
    if not Path(path).is_file():
        raise NotFound(f"the archive file {path} is missing: restore it to read this month")
    rows = read_archived_transfers(path, account_id)
    signed = (
        pl.when(pl.col("credit_account_id") == account_id)
        .then(pl.col("amount_fen"))
        .otherwise(-pl.col("amount_fen"))
    )
    created = [_instant(v) for v in rows["created_at"].to_list()]
    return rows.with_columns(
        signed.alias("amount_fen"),
        pl.Series("created_at", created, dtype=pl.Datetime("us", "UTC")),
    ).select([pl.col(c).cast(t) for c, t in TRANSFER_LINE_SCHEMA.items()])


def _instant(value: str) -> dt.datetime:
    """A stored instant as text (SQLite: naive UTC; PostgreSQL: with its offset)."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _hot_ranges(
    first_day: dt.date, last_day: dt.date, archived: list[ArchivedMonth]
) -> list[tuple[dt.date, dt.date]]:
    """[first_day, last_day] less the archived months (whose totals are kept instead)."""
    ranges = [(first_day, last_day)]
    for month in archived:
        kept = []
        for first, last in ranges:
            if month.last_day < first or month.month > last:
                kept.append((first, last))
                continue
            if first < month.month:
                kept.append((first, month.month - dt.timedelta(days=1)))
            if month.last_day < last:
                kept.append((month.last_day + dt.timedelta(days=1), last))
        ranges = kept
    return ranges


def _day_ids(account_id: int, first_day: dt.date, last_day: dt.date) -> list[str]:
    """Every id a day's own charge or credit of the account can have, for each day."""
    days = days_between(first_day, last_day)
    return [charge_id(account_id, d) for d in days] + [credit_id(account_id, d) for d in days]


def _touches(account_id: int) -> tuple[Any, ...]:
    """The account's transfers: found by account_id, kept only if they move it."""
    t = schema.transfers
    return (
        t.c.account_id == account_id,
        or_(t.c.debit_account_id == account_id, t.c.credit_account_id == account_id),
    )


def _signed_amount(account_id: int) -> Any:
    """+amount when the transfer credits the customer (pays in), -amount when it debits."""
    t = schema.transfers
    return case((t.c.credit_account_id == account_id, t.c.amount_fen), else_=-t.c.amount_fen)


def _utc_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """SQLite hands back naive datetimes (stored as UTC); make every instant aware."""
    return tuple(
        v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) and v.tzinfo is None else v
        for v in row
    )
