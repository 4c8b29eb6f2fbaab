"""A limit on everything, in one place (TigerBeetle's constants.zig habit)."""

from __future__ import annotations

# Settlement: accounts per database transaction. Big enough to amortise commit cost, small enough
# that a payment waiting on a chunk's row locks waits well under a second.
settle_chunk_accounts_max = 50_000

# Settlement: accounts read and priced at a time inside a chunk's transaction. While one batch is
# written, the next is read and priced on a second connection (a reader), so the reads and the
# kernel run beside the writes; only a chunk's first batch is read while nothing is written.
settle_batch_accounts_max = 10_000

# Settlement: batches the reader may be ahead of the writer (read and priced, not yet written).
settle_batches_ahead = 2

# Settlement: a day with at least this many prepaid accounts is read and priced in a process of
# its own instead of a thread (``services.settlement``). Starting it costs about a second of the
# other core, which a small day (the demo's 5,000 accounts, every night) would not win back.
settle_reader_process_accounts_min = 100_000

# SQLite has one writer, so a settlement that re-takes the lock at once would starve payments for
# the whole run. A waiting writer tries again every few milliseconds (``adapters.sql.db``), so
# pausing this long between chunks lets the waiting payments in: they wait about one chunk.
sqlite_writer_pause_s = 0.015

# Bulk imports: rows read from a file per batch.
import_batch_rows_max = 200_000

# Readings: days of history kept in the rolling window used for the average daily use.
usage_window_days = 30

# Readings: days either side of a staff-checked reading whose readings it may refute (a year).
rebase_refutes_days_max = 366
# Readings: a meter whose readings are quarantined for more than this many days raises a staff
# task (the default of the ``readings_quarantine_task_days`` setting); quarantined readings are
# looked for this far back.
readings_quarantine_task_days_default = 3
readings_quarantine_lookback_days_max = 60

# Tariffs: surcharge bands (tiers) a tariff may have.
tariff_bands_max = 4

# Payments: the default largest single payment, in fen (configurable per deployment).
payment_amount_fen_max_default = 5_000_000  # 50,000.00 yuan

# Queries: rows shown by default.
account_history_days_max = 30
account_recent_transfers_max = 20

# Statement and query limits.
page_rows_max = 1_000

# A channel reference (bank transaction number etc.).
payment_ref_chars_max = 64

# Errors reported per file before the rest are only counted.
import_errors_reported_max = 1_000

# --- customer messages (the SMS outbox) -------------------------------------------------------

# Attempts to send one message before it is given up (status failed, shown to staff).
message_send_attempts_max = 6

# Back-off between attempts: base x 2^(attempt - 1), never longer than the cap
# (1, 2, 4, 8, 16 minutes with these values).
message_retry_base_s = 60.0
message_retry_cap_s = 3_600.0

# Messages sent per worker pass; each one's state change is its own short transaction.
message_send_batch_max = 500

# Rows per INSERT batch when services add messages to the outbox.
outbox_insert_rows_max = 5_000

# A gateway's error kept with the message (the column is 300 characters).
message_error_chars_max = 300

# --- holiday calendar and cut windows (domain/calendar.py, adapters/holidays.py) -------------
# Days ahead searched for the next cut window. Long enough to cross the longest holiday with its
# weekends (Spring Festival, about 9 days) several times over; a year without a published schedule
# still ends the search with "no window" rather than a loop.
cut_window_horizon_days_default = 31
# Days one `gridpay calendar` listing may show (a year, leap day included).
calendar_days_max = 366

# --- enrolment (the smart-payment agreement) ---------------------------------------------------

# Days one enrolment progress report may cover (the drive is two months; a year is plenty).
enrolment_report_days_max = 366

# --- remote meter commands (disconnect / reconnect) -------------------------------------------

# Sends of one command before it is given up (a cut that cannot be made is escalated to staff).
command_attempts_max = 5

# Back-off between attempts: base x 2^(attempt - 1), never longer than the cap.
command_retry_base_s = 30.0
command_retry_cap_s = 1_800.0  # 30 minutes

# A command sent this long ago with no answer from the head-end has timed out (and is retried).
command_timeout_s = 300.0

# Commands per second one head-end is sent, with a burst allowance: a mass reconnection after a
# holiday queues here instead of flooding the head-end.
command_rate_per_head_end_per_s = 50.0
command_burst_per_head_end = 100

# Commands sent, results handled and timeouts checked per dispatch pass (one transaction each).
command_dispatch_batch_max = 1_000

# Sent messages recorded per transaction: at most this many are sent again after a crash.
message_marks_per_transaction = 20

# --- the credit policy ------------------------------------------------------------------------

# Accounts judged per transaction after the screen (the few near a threshold, usually).
credit_chunk_accounts_max = 20_000

# Decisions of one judgement counted in Python up to this many (a payment's: one), by Polars
# beyond: a Polars group_by costs ~0.15 ms whatever its size, a Counter ~2 us for one row.
credit_outcome_python_rows_max = 50

# Decisions `gridpay explain` shows by default.
explain_decisions_max = 20
