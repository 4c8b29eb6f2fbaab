"""A limit on everything, in one place (TigerBeetle's constants.zig habit)."""

from __future__ import annotations

# Settlement: accounts per database transaction. Big enough to amortise commit cost, small enough
# that a payment waiting on a chunk's row locks waits well under a second.
settle_chunk_accounts_max = 50_000

# Settlement: accounts read and priced at a time inside a chunk's transaction. While one batch is
# written, the next is read and priced on a second connection (a reader), so the reads and the
# kernel run beside the writes; only a chunk's first batch is read while nothing is written.
settle_batch_accounts_max = 10_000

# SQLite has one writer, and a writer waiting in its busy handler re-polls only every ~100 ms, so a
# settlement that re-takes the lock at once starves payments for the whole run. Pausing this long
# between chunks lets every waiting payment in: payments wait at most one chunk.
sqlite_writer_pause_s = 0.1

# Bulk imports: rows read from a file per batch.
import_batch_rows_max = 200_000

# Readings: days of history kept in the rolling window used for the average daily use.
usage_window_days = 30

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
