"""A limit on everything, in one place (TigerBeetle's constants.zig habit)."""

from __future__ import annotations

# Settlement: accounts per database transaction. Big enough to amortise commit cost, small enough
# that a payment waiting on a chunk's row locks waits well under a second.
settle_chunk_accounts_max = 50_000

# Settlement: accounts read and priced at a time inside a chunk's transaction. While one batch is
# written, the next is read and priced on a second connection (a reader), so the reads and the
# kernel run beside the writes; only a chunk's first batch is read while nothing is written.
settle_batch_accounts_max = 10_000

# Settlement: a chunk's first batch is this fraction (1/n) of a full batch: it is read while
# nothing is written, and each batch after it doubles until full (``settlement_reader``).
settle_first_batch_divisor = 4

# Settlement: attempts at one chunk when another run settled part of it meanwhile (a conflict).
settle_chunk_attempts_max = 3

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

# The night: missed days ``gridpay run`` may settle on its own (``Settings.catch_up_days_max``)
# can be set no higher than this. Beyond the setting an operator confirms the days with
# ``gridpay settle --from --to``: a long outage is usually settled on estimates, worth a look first.
night_catch_up_days_max = 31

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
# How far back the recent transfers look for a day's own charges (found by id, day by day);
# payments and other transfers of any age are found by their own index.
account_recent_charge_days_max = 40

# Ledger: the night creates the transfers' month partitions (PostgreSQL) this far ahead.
ledger_partitions_ahead_days = 62
# Archive: rows deleted per batch (and per transaction) when a month leaves SQLite's ledger.
archive_delete_rows_max = 200_000

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

# Delivery receipts from a provider (Alibaba Cloud SMS: QuerySendDetails). The first check a
# little after sending (most receipts arrive within seconds to a minute), then every few
# minutes; a message with no receipt after the wait is recorded undelivered (the operator
# reaches the household another way). The provider keeps send details for 30 days.
sms_receipt_first_check_s = 60.0
sms_receipt_check_every_s = 300.0
sms_receipt_wait_max_s = 48 * 3_600.0
# Messages whose receipt is asked for per worker pass (one provider request each).
sms_receipt_batch_max = 200
# Reports one SmsReport HTTP push may carry (the provider batches them), and its body's bytes.
sms_receipts_per_push_max = 1_000
sms_receipt_push_bytes_max = 1_000_000
# The provider's error code kept with an undelivered message (the column is 64 characters).
message_delivery_error_chars_max = 64

# --- the restoration promise (services/restoration.py) ----------------------------------------
# Reconnects looked at past their promise: those queued at most this many days before it ran
# out (a worker stopped longer than this leaves older ones to the staff's own review).
restore_promise_lookback_days = 7
# Overdue reconnects handled per pass, in one transaction.
restore_promise_batch_max = 500

# --- holiday calendar and cut windows (domain/calendar.py, adapters/holidays.py) -------------
# Days ahead searched for the next cut window. Long enough to cross the longest holiday with its
# weekends (Spring Festival, about 9 days) several times over; a year without a published schedule
# still ends the search with "no window" rather than a loop.
cut_window_horizon_days_default = 31
# Days one `gridpay calendar` listing may show (a year, leap day included).
calendar_days_max = 366
# Days ahead that `settle`, `credit run` and `run` look for a year without a holiday schedule:
# time for staff to load the State Council's notice before cuts start being held for it.
holiday_schedule_warning_days = 60

# --- enrolment (the smart-payment agreement) ---------------------------------------------------

# Days one enrolment progress report may cover (the drive is two months; a year is plenty).
enrolment_report_days_max = 366
# Lines of one payout batch (a bank-transfer file, or refunds listed as due): one transaction.
payout_lines_max = 50_000
# Days one hand-over file to monthly billing may cover.
handover_days_max = 366
# Rows of one enrolment drive file (each row is an enrolment of its own, in its own transaction).
enrolment_drive_rows_max = 100_000

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
# Passes the worker runs back to back while each sends a full batch (a burst queued at once goes
# out in one tick instead of one batch per interval).
command_dispatch_passes_per_tick_max = 20

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

# Rows `gridpay commands list` and `gridpay accounts list` show by default.
command_list_rows_default = 50
account_list_rows_default = 50

# A command's newest confirmations looked at before a late confirmation is taken.
command_confirmations_checked_max = 20

# --- imports and their reports ----------------------------------------------------------------

# Rows per insert statement batch inside an accounts import's one transaction: it only sets how
# often the progress bar moves (the whole file still commits or rolls back as one).
registry_insert_batch_rows = 25_000

# Problems and rejected rows printed after an import (all of them are in the report / quarantine).
import_problems_shown_max = 20
import_rejected_shown_max = 20

# A readings file smaller than this imports in well under a second: no progress bar.
import_progress_rows_min = 50_000

# Quarantined readings `gridpay readings quarantine` shows by default.
quarantine_rows_shown_default = 50

# Days `gridpay calendar` shows by default.
calendar_days_shown_default = 14

# --- the audit --------------------------------------------------------------------------------

# Offending accounts named per check; the rest are counted.
audit_accounts_named_max = 20
# Days with mismatched charges named in the repricing check's detail; the rest are counted.
audit_days_named_max = 10

# --- what a registered account or meter may hold ----------------------------------------------

# A household service breaker is 10-100 A; above this is a typo.
breaker_a_max = 1_000

# Text columns, as wide as their schema columns (``adapters/sql/schema.py``; a test compares).
account_name_chars_max = 200  # accounts.name
account_phone_chars_max = 32  # accounts.phone
transfer_note_chars_max = 200  # transfers.note
staff_task_reason_chars_max = 300  # staff_tasks.reason
command_error_chars_max = 300  # meter_commands.last_error
reading_source_chars_max = 200  # readings.source, reading_quarantine.source
quarantine_meter_no_chars_max = 64  # reading_quarantine.meter_no
quarantine_reason_chars_max = 300  # reading_quarantine.reason

# --- the SQL store ----------------------------------------------------------------------------

# SQLite's bound parameters per statement (its compile-time default since 3.32): every IN list
# that binds its ids stays well below.
sqlite_bound_parameters_max = 32_766

# How long a SQLite writer waits for the write lock before it gives up.
sqlite_busy_timeout_ms = 60_000
# A PostgreSQL server that drops packets would otherwise keep a command waiting for minutes.
pg_connect_timeout_s = 10

# WAL pages after which SQLite folds the log into the database on commit (about 40 MB): rarely,
# because the settlement folds each chunk's log on a thread of its own.
sqlite_wal_checkpoint_pages = 10_000

# How often a writer waiting for SQLite's write lock tries again (seconds): quickly at first,
# then every few milliseconds. SQLite's own busy handler backs off to 100 ms between tries, so a
# writer releasing the lock for a moment (a settlement between chunks) would have to pause that
# long for the waiters to notice; with this poll a pause of ``sqlite_writer_pause_s`` does.
sqlite_write_lock_poll_s = (0.0005, 0.001, 0.002, 0.003)

# Rows handed to one ``executemany`` as a list: ``DataFrame.rows()`` builds the tuples a third
# faster than the ``iter_rows()`` generator, and slices keep the list's memory small.
executemany_rows_max = 20_000

# Null patterns a frame is split into at most for ``bulk_insert`` on SQLite.
bulk_insert_null_patterns_max = 8

# Fewer rows than this go in one statement each instead of through a staging table; they are
# read out of their frame as Python tuples, with no Polars operation (each costs ~0.2 ms, more
# than inserting the row: one payment's outcome is a row per table).
bulk_keyed_stage_rows_min = 50

# Ids per IN (...) list, by repository.
settlement_in_list_ids_max = 10_000
credit_in_list_ids_max = 5_000
readings_in_list_ids_max = 1_000
registry_in_list_ids_max = 1_000

# Readings: a day with at least this many rows in a file is read whole rather than by IN lists,
# and so is a day (or table) holding fewer than this many rows per id asked about: reading a few
# rows more beats building, parsing and probing IN lists (5,000 meters of the demo's city).
readings_whole_day_ids_min = 20_000
readings_whole_rows_per_id_max = 4

# Registry: ids are read as one primary-key range when the range holds at most this many ids per
# id looked for (a dense block); otherwise by IN lists.
registry_range_span_per_id_max = 4

# Credit: up to this many accounts are read row by row rather than as frames.
credit_row_by_row_accounts_max = 20

# PostgreSQL checks a foreign key row by row: a trigger per inserted row looks up and locks the
# row it refers to, which was more than half of a 550,000-account import (~16 us per account for
# its three keys). A big registration drops the foreign keys of the tables it fills and adds them
# back before commit instead: one set-based check per key, but over the whole tables (~2 us per
# account already there). So: from this many new accounts on (below it the exclusive locks are
# not worth it), and only while the new accounts are at least this share of those registered.
bulk_registration_accounts_min = 50_000
bulk_registration_share_min = 0.25

# Other transactions touch the registry's tables in different orders (a payment reads offices
# then accounts, an account query accounts then offices, the audit the ledger then accounts), so
# waiting for exclusive locks on all of them while holding some could deadlock. Each attempt waits
# at most this long (under PostgreSQL's deadlock_timeout, so the import is always the one that
# backs off); after this many seconds of attempts the import goes row by row instead.
bulk_registration_lock_timeout_ms = 100
bulk_registration_lock_wait_s = 10.0
bulk_registration_lock_retry_pause_s = 0.2
postgresql_deadlock_timeout_ms = 1_000  # PostgreSQL's default ``deadlock_timeout``

# --- how the limits relate (checked at import: a change that breaks one fails at once) --------

# Settlement: a batch fits in its chunk, the first batch holds an account, and the pipeline moves.
assert settle_batch_accounts_max <= settle_chunk_accounts_max
assert settle_first_batch_divisor >= 1
assert settle_batch_accounts_max // settle_first_batch_divisor >= 1
assert settle_batches_ahead >= 1
assert settle_chunk_attempts_max >= 1
# A waiting payment polls at least once during the settlement's pause between chunks.
assert max(sqlite_write_lock_poll_s) < sqlite_writer_pause_s
assert sqlite_busy_timeout_ms > 0
# Retries: at least one attempt, and a back-off that starts below its cap.
assert message_send_attempts_max >= 1
assert message_retry_base_s <= message_retry_cap_s
assert command_attempts_max >= 1
assert command_retry_base_s <= command_retry_cap_s
assert command_burst_per_head_end >= 1
# Batches of work are not empty.
assert message_send_batch_max >= 1
assert sms_receipt_batch_max >= 1
assert sms_receipt_first_check_s <= sms_receipt_wait_max_s
assert command_dispatch_batch_max >= 1
assert message_marks_per_transaction >= 1
assert executemany_rows_max >= 1
assert registry_insert_batch_rows >= 1
assert credit_outcome_python_rows_max <= credit_chunk_accounts_max
# Listings by default show no more than a page.
assert command_list_rows_default <= page_rows_max
assert account_list_rows_default <= page_rows_max
assert quarantine_rows_shown_default <= page_rows_max
assert explain_decisions_max <= page_rows_max
# IN lists bind within SQLite's limit.
assert settlement_in_list_ids_max <= sqlite_bound_parameters_max
assert credit_in_list_ids_max <= sqlite_bound_parameters_max
assert readings_in_list_ids_max <= sqlite_bound_parameters_max
assert registry_in_list_ids_max <= sqlite_bound_parameters_max
# A bulk registration's lock attempts back off before PostgreSQL looks for deadlocks.
assert bulk_registration_lock_timeout_ms < postgresql_deadlock_timeout_ms
assert bulk_registration_lock_retry_pause_s < bulk_registration_lock_wait_s
assert 0 < bulk_registration_share_min <= 1
# A cut window is searched over a horizon a calendar listing can show.
assert cut_window_horizon_days_default <= calendar_days_max
assert calendar_days_shown_default <= calendar_days_max

# --- account changes at the counter (services.account_changes) ---
account_change_by_chars_max = 64  # account_tariffs.changed_by, phone_changes.requested_by
account_change_reason_chars_max = 300  # account_tariffs.reason, phone_changes.reason
phone_code_digits = 6  # the code sent to a new phone
phone_code_valid_s = 15 * 60  # how long that code may be used
phone_code_attempts_max = 5  # wrong codes before the change is locked (ask again)
# PBKDF2 rounds for a stored phone code: a six-digit code is 10^6 guesses, so each must cost.
phone_code_hash_rounds = 100_000
assert restore_promise_lookback_days >= 1
assert restore_promise_batch_max >= 1

# --- the DL/T 645 head-end (adapters.dlt645) ---
dlt645_data_bytes_max = 200  # L of one frame: the standard's largest read reply
dlt645_requests_in_flight_max = 256  # requests one head-end has open at once (all meters)
dlt645_connections_max = 8  # TCP connections to one gateway, shared by those requests
dlt645_reply_timeout_s = 2.0  # a meter not answering by then is asked again
dlt645_attempts_max = 3  # requests to one meter before it is listed as failed
dlt645_control_expiry_s = 300  # a trip or close the meter has not acted on by then lapses
dlt645_time_sync_every_s = 3_600.0  # broadcast time sync of the gateway's meters
dlt645_failed_meters_listed_max = 1_000  # failed meters a collection report names
dlt645_addresses_cached_max = 1_000_000  # meter addresses the codec keeps encoded (a city's)
assert dlt645_requests_in_flight_max >= dlt645_connections_max >= 1
assert dlt645_attempts_max >= 1

# --- staff, the audit log, the office console ---------------------------------------------

# Who acts: a username, partner code, account number or OS user, as the audit log keeps it.
actor_id_chars_max = 64
staff_username_chars_max = 32
staff_display_name_chars_max = 100
# A staff password: long enough that the rate limit below makes guessing hopeless.
staff_password_chars_min = 10
staff_password_chars_max = 200
# Failed sign-ins per username (and per client address) within the window before further
# attempts are refused without checking the password; kept in the database, so a restart or a
# second server process does not reset them.
staff_signin_failures_max = 5
staff_signin_window_s = 15 * 60
# A console session lasts one working day at most.
staff_session_s = 10 * 60 * 60
# The audit log: characters of a reason and of the JSON detail; rows one search returns.
audit_reason_chars_max = 300
audit_detail_chars_max = 2_000
audit_search_rows_max = 10_000
audit_search_rows_default = 200
# The console's lists (search results, queues) show at most this many rows.
console_rows_max = 100
console_latency_rows_max = 10_000  # restoration latency: the latest acknowledged reconnects
# A statement uploaded in the console (about 50 bytes a line: some 600,000 payments); a larger
# one is imported with `gridpay reconcile PARTNER FILE`. The upload form's fields, at most.
console_statement_bytes_max = 32 * 2**20
console_form_fields_max = 8

# --- households signing in (services.household_access) ---
sign_in_code_digits = 6
sign_in_code_valid_s = 10 * 60  # how long a sign-in code may be used
sign_in_code_attempts_max = 5  # wrong codes before that code is locked (ask for another)
# Codes sent per rate-limit window, by key: an account or a phone gets a few (each is an SMS to
# a real person); one address more, for a family or a shared network signing in several accounts.
sign_in_rate_window_s = 60 * 60
sign_in_codes_per_account_max = 5
sign_in_codes_per_phone_max = 5
sign_in_codes_per_client_max = 20
household_chart_days = (30, 90, 365)  # the chart's choices; the first is the default
household_messages_shown_max = 20
household_statement_months_max = 12
tariff_versions_cached_max = 64  # parsed tariff versions kept by their text (adapters.sql)

# Housekeeping (``services.housekeeping``): dead sign-in codes, sessions and nonces deleted in
# batches of this many rows (one short transaction each), at most this many batches of a kind
# per pass; what is left waits for the next pass.
housekeeping_batch_rows_max = 5_000
housekeeping_batches_max = 20

# --- partners: the signed partner API and reconciliation (services.partners) ---
partner_name_chars_max = 100  # partners.name
# A partner's own reference: the ledger ref is CODE-REFERENCE, within payment_ref_chars_max.
partner_code_chars_max = 16
partner_reference_chars_max = payment_ref_chars_max - partner_code_chars_max - 1
# The default of ``Settings.partner_signature_window_s``: how far X-Timestamp may be from now.
partner_signature_window_s_default = 300
# Nonces are kept twice the window (``services.housekeeping.cutoffs``): an older nonce can never
# be accepted again (its timestamp is stale), so older rows are deleted by the housekeeping job
# and by one request in this many.
partner_nonce_prune_every = 1_000
# Default limits of a new partner (``gridpay partners add``), in fen.
partner_payment_amount_fen_max_default = 500_000  # 5,000.00 yuan
partner_day_amount_fen_max_default = 100_000_000  # 1,000,000.00 yuan
# How long a server process answers from its copy of a partner (secret, suspension, limits)
# before reading it again: a suspension, a new secret or new limits set from another process
# (`gridpay partners suspend`) take effect within this; in the same process at once.
partner_cache_s = 1.0
# Partner payments one server process joins into one transaction at most (group commit): a
# batch runs about a millisecond of CPU per payment while the next one queues, so this bounds
# the wait a payment can add to the ones behind it.
partner_batch_payments_max = 32
# A partner's request body (a payment is a few hundred bytes).
partner_body_bytes_max = 4_096
# A reconciliation statement: rows in one file; who confirms a line.
statement_rows_max = 2_000_000
reconcile_by_chars_max = 64
assert partner_reference_chars_max >= 16

# Paying online: orders the query fallback asks the wallet about per pass (the rest wait for the
# next pass), the longest text kept of a refused callback, the most form fields a callback may
# carry (a wallet sends about twenty).
wallet_query_orders_max = 200
wallet_callback_detail_chars_max = 300  # wallet_callbacks.detail
# Wallet callbacks one server process joins into one transaction at most (group commit).
wallet_batch_callbacks_max = 32
# `gridpay wallet callbacks`: rows listed by default, and at most.
wallet_callbacks_listed_default = 50
wallet_callbacks_listed_max = 10_000
wallet_callback_fields_max = 64
wallet_pay_url_chars_max = 300  # wallet_orders.pay_url
