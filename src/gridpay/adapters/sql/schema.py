"""The database schema (SQLAlchemy Core). Changes go through Alembic migrations.

Conventions: money ``*_fen`` BIGINT, energy ``*_wh`` BIGINT, business dates ``DATE``, instants
``TIMESTAMP WITH TIME ZONE`` in UTC. Account and meter numbers are also their integer ids
(``id = int(account_no)``), so joins and bulk updates use integer keys. Customer ledger accounts
share their account's id; system ledger accounts live at ``SYSTEM_LEDGER_BASE`` and above, outside
the 10-digit account number space.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
    true,
)

metadata = MetaData()

# On SQLite only a column declared exactly INTEGER PRIMARY KEY is the table's rowid (64-bit); a
# BIGINT primary key would add a hidden rowid and a second index, doubling every lookup.
BigId = BigInteger().with_variant(Integer, "sqlite")

offices = Table(
    "offices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
)

tariffs = Table(
    "tariffs",
    metadata,
    Column("code", String(64), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("name", String(200), nullable=False),
    Column("spec_toml", Text, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("code", "effective_from"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=False),
    Column("account_no", String(10), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("phone", String(32)),
    Column("language", String(2), nullable=False, server_default="zh"),
    Column("supply_type", String(16), nullable=False),  # direct | non_direct
    Column("tariff_code", String(64), nullable=False),
    Column("office_id", Integer, ForeignKey("offices.id"), nullable=False),
    Column("billing_mode", String(16), nullable=False),  # prepaid | postpaid
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("supply_type in ('direct', 'non_direct')", name="ck_accounts_supply_type"),
    CheckConstraint("billing_mode in ('prepaid', 'postpaid')", name="ck_accounts_billing_mode"),
    CheckConstraint("language in ('zh', 'en')", name="ck_accounts_language"),
    # Only direct supply can be prepaid: for any other the meter is not the company's to read
    # or switch (migration 0005; every path in, import or enrolment, checks it first).
    CheckConstraint(
        "billing_mode = 'postpaid' OR supply_type = 'direct'", name="ck_accounts_prepaid_direct"
    ),
    # The settlement's list of prepaid accounts, read from this index alone and in id order
    # (550,000 accounts: 0.34 s scanning the table, 0.16 s here).
    Index("ix_accounts_billing_mode_id", "billing_mode", "id"),
)

meters = Table(
    "meters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=False),
    Column("meter_no", String(12), nullable=False, unique=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("has_tou", Boolean, nullable=False, server_default="0"),
    Column("has_switch", Boolean, nullable=False, server_default="1"),
    Column("breaker_a", Integer, nullable=False, server_default="60"),
    Column("installed_on", Date, nullable=False),
    Column("removed_on", Date),
    Column("initial_wh", BigInteger, nullable=False, server_default="0"),
    Column("final_wh", BigInteger),
    Index("ix_meters_account_id", "account_id"),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=False),
    Column("code", String(64), nullable=False, unique=True),
    Column(
        "kind", String(16), nullable=False
    ),  # customer | revenue | clearing | refunds | adjustments
    Column("account_id", BigInteger, ForeignKey("accounts.id")),
    # Cached sums of posted transfers, changed only by relative updates in the transfer's own
    # transaction; ``gridpay audit`` proves them equal to the transfers.
    Column("debits_posted_fen", BigInteger, nullable=False, server_default="0"),
    Column("credits_posted_fen", BigInteger, nullable=False, server_default="0"),
    # PostgreSQL: room on each page for the new row version, so the daily relative updates of
    # every balance are HOT updates that leave the indexes alone (measured 12-15 s -> 2.5 s for
    # 550,000 updates).
    postgresql_with={"fillfactor": 50},
)

# Transfers that are not a day's own charge or credit under a day-first id
# (``charge/YYYY-MM-DD/<account>``, a '-' at the 12th character): payments, refunds, true-ups...
# and charges posted under the older account-first ids (``charge/<account>/<day>``), which a
# per-account read cannot name by their day. The same text in a query lets SQLite use the
# partial index (it matches terms literally).
RARE_TRANSFERS = "(substr(id, 1, 7) NOT IN ('charge/', 'credit/') OR substr(id, 12, 1) <> '-')"
RARE_TRANSFERS_OF_TABLE = RARE_TRANSFERS.replace("(id,", "(transfers.id,")

transfers = Table(
    "transfers",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("id", String(96), nullable=False, unique=True),  # deterministic idempotency key
    Column("debit_account_id", BigInteger, nullable=False),
    Column("credit_account_id", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("account_id", BigInteger),  # the customer account concerned, if any
    Column("day", Date),  # business date (the settled day, the payment's date)
    Column("channel", String(16)),
    Column("ref", String(64)),
    Column("office_id", Integer),
    Column("reverses_id", String(96)),
    Column("note", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("amount_fen > 0", name="ck_transfers_amount_positive"),
    CheckConstraint("debit_account_id <> credit_account_id", name="ck_transfers_two_accounts"),
    # Per-account reads find the day-settled charges and credits by their deterministic ids
    # (``charge/<day>/<account>``: day first, so a night's inserts append to the id index) and
    # every other transfer (payments, refunds, true-ups...) in this small partial index. An
    # index leading with the account for every transfer would take each night's 550,000
    # charges beside each account's earlier ones: a scattered page per account, costlier with
    # every day of history.
    Index(
        "ix_transfers_rare_account_id_seq",
        "account_id",
        "seq",
        sqlite_where=text(RARE_TRANSFERS),
        postgresql_where=text(RARE_TRANSFERS),
    ),
)

readings = Table(
    "readings",
    metadata,
    Column("day", Date, nullable=False),
    Column("meter_id", BigInteger, nullable=False),
    Column("total_wh", BigInteger, nullable=False),
    Column("sharp_wh", BigInteger),
    Column("peak_wh", BigInteger),
    Column("flat_wh", BigInteger),
    Column("valley_wh", BigInteger),
    Column("source", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # One raw reading per meter and day, append-only. An identical duplicate is a no-op; a
    # different value for a stored (meter, day) goes to the quarantine as a conflict.
    PrimaryKeyConstraint("day", "meter_id"),
    sqlite_with_rowid=False,
)

reading_quarantine = Table(
    "reading_quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("meter_no", String(64)),
    Column("day", Date),
    Column("total_wh", BigInteger),
    Column("reason_code", String(32), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("source", String(200), nullable=False),
    Column("row_no", Integer),
    Column("raw", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_reading_quarantine_day", "day"),
)

daily_usage = Table(
    "daily_usage",
    metadata,
    Column("day", Date, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("meter_id", BigInteger, nullable=False),
    Column("tariff_code", String(64), nullable=False),
    Column("estimated", Boolean, nullable=False),
    # Register values at the end of the day (real, or estimated when ``estimated``).
    Column("reading_wh", BigInteger, nullable=False),
    Column("sharp_wh", BigInteger),
    Column("peak_wh", BigInteger),
    Column("flat_wh", BigInteger),
    Column("valley_wh", BigInteger),
    Column("last_real_day", Date),
    Column("last_real_wh", BigInteger, nullable=False),
    # What was billed for the day. Negative energy/charge only when a real reading corrects
    # estimates that ran ahead of it.
    Column("energy_wh", BigInteger, nullable=False),
    Column("charge_fen", BigInteger, nullable=False),
    # Year-to-date position after the day (cumulative rounding works on these).
    Column("ytd_wh", BigInteger, nullable=False),
    Column("ytd_cost_nyuan", BigInteger, nullable=False),
    Column("ytd_charged_fen", BigInteger, nullable=False),
    # Rolling window of the last ``usage_window_days`` days, for averages and estimates.
    Column("window_energy_wh", BigInteger, nullable=False),
    Column("window_charge_fen", BigInteger, nullable=False),
    Column("window_days", Integer, nullable=False),
    # True when the account has no row for the day before: its first settled day, or the first
    # after a gap (not prepaid, no meter). The account's rows run without a gap from each such
    # row to the next one, which is how its last settled day is found (``settlement_repo``).
    # Any row written without saying is taken to start one (harmless: a run may start anywhere).
    Column("starts_run", Boolean, nullable=False, server_default=true()),
    Column("run_id", BigInteger),
    # Appending a day touches only the end of the primary key. No index leads with the account:
    # each day's rows would land on a different page of it for every account (a year of
    # history: 550,000 scattered pages a day). Per-account reads seek the primary key day by
    # day instead, and find the account's runs in this small partial index.
    PrimaryKeyConstraint("day", "account_id"),
    Index(
        "ix_daily_usage_run_starts",
        "account_id",
        "day",
        sqlite_where=text("starts_run"),
        postgresql_where=text("starts_run"),
    ),
    sqlite_with_rowid=False,
)

settlement_runs = Table(
    "settlement_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False),
    Column("status", String(16), nullable=False),  # running | done | failed | died
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("accounts", BigInteger, nullable=False, server_default="0"),
    Column("energy_wh", BigInteger, nullable=False, server_default="0"),
    Column("charged_fen", BigInteger, nullable=False, server_default="0"),
    Column("credited_fen", BigInteger, nullable=False, server_default="0"),
    Column("estimated", BigInteger, nullable=False, server_default="0"),
    Column("quarantined", BigInteger, nullable=False, server_default="0"),
    Column("seconds", Float),
    # Where the run's process ran: a run still "running" whose process is gone has died.
    Column("host", String(255)),
    Column("pid", Integer),
    Index("ix_settlement_runs_day", "day"),
)

# A checked register that staff put in place of a meter's readings (``readings rebase``):
# who and why, and what it replaced; the readings it refuted went to the quarantine.
reading_rebases = Table(
    "reading_rebases",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("meter_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("day", Date, nullable=False),
    Column("total_wh", BigInteger, nullable=False),
    Column("replaced_wh", BigInteger),  # the raw reading of the day it replaced, if any
    Column("refuted_readings", Integer, nullable=False),
    Column("checked_by", String(100), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_reading_rebases_meter_id", "meter_id"),
)

pending_trueups = Table(
    "pending_trueups",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("day", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "day"),
)

# --- the smart-payment lifecycle (migration 0002) ------------------------------------------

enrolments = Table(
    "enrolments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("enrolled_on", Date, nullable=False),  # the drive's business day (local date)
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
    # office | online | import (registered as prepaid by an accounts file: the agreement
    # starts the day the file is imported)
    Column("channel", String(16), nullable=False),
    Column("office_id", Integer),  # the office that signed the agreement; null online
    Column("left_on", Date),
    Column("left_at", DateTime(timezone=True)),
    # The opening position taken from monthly billing: the register at the start of
    # ``enrolled_on`` (monthly billing's closing reading) and the kWh already billed in that
    # tier year. Null: not given (``position_source`` missing) or recorded before positions.
    Column("opening_wh", BigInteger),
    Column("opening_ytd_wh", BigInteger),
    # entered (at enrol) | accounts_file | drive_file | missing; null: before positions
    Column("position_source", String(16)),
    CheckConstraint("channel in ('office', 'online', 'import')", name="ck_enrolments_channel"),
    CheckConstraint(
        "(opening_wh IS NULL) = (opening_ytd_wh IS NULL) "
        "AND (opening_wh IS NULL OR (opening_wh >= 0 AND opening_ytd_wh >= 0))",
        name="ck_enrolments_opening",
    ),
    Index("ix_enrolments_account_id", "account_id"),
    Index("ix_enrolments_enrolled_on", "enrolled_on"),
    # At most one agreement in force per account; history of earlier ones is kept.
    Index(
        "ux_enrolments_open",
        "account_id",
        unique=True,
        sqlite_where=text("left_at IS NULL"),
        postgresql_where=text("left_at IS NULL"),
    ),
)

# An agreement that ended, until and after its close-out (migration 0009): the closing position
# handed to monthly billing. One row per agreement; ``closed_at`` unset while the leaving day
# waits for the night's settlement.
leavings = Table(
    "leavings",
    metadata,
    Column("enrolment_id", BigInteger, ForeignKey("enrolments.id"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("enrolled_on", Date, nullable=False),
    Column("left_on", Date, nullable=False),
    Column("asked_at", DateTime(timezone=True), nullable=False),
    Column("note", String(200)),
    Column("closed_at", DateTime(timezone=True)),
    Column("closing_wh", BigInteger),  # the register at the end of the leaving day
    Column("closing_estimated", Boolean),
    Column("ytd_wh", BigInteger),  # the tier year's consumption up to the leaving day
    Column("balance_fen", BigInteger),  # at close-out: > 0 refunded, < 0 handed over as owed
    Index("ix_leavings_account_id", "account_id"),
    Index("ix_leavings_left_on", "left_on"),
)

# A settle-up after an agreement's close-out (migration 0011): a late reading trued up one of
# its days, and what that moved was refunded or handed over again under a numbered id. The
# hand-over file lists each one beside the close-out, so monthly billing sees what changed.
leaving_settle_ups = Table(
    "leaving_settle_ups",
    metadata,
    Column("enrolment_id", BigInteger, ForeignKey("leavings.enrolment_id"), primary_key=True),
    Column("settle_up_no", Integer, primary_key=True),
    Column("transfer_id", String(96), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),  # > 0 refunded, < 0 handed over as owed
    Column("closing_wh", BigInteger, nullable=False),  # the leaving day's register, corrected
    Column("closing_estimated", Boolean, nullable=False),
    Column("ytd_wh", BigInteger, nullable=False),
    Column("posted_on", Date, nullable=False),  # the business day it was posted
    Column("posted_at", DateTime(timezone=True), nullable=False),
    Index("ix_leaving_settle_ups_posted_on", "posted_on"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("phone", String(32), nullable=False),
    Column("role", String(16), nullable=False),  # customer | trusted (family)
    Column("language", String(2), nullable=False),
    Column("name", String(200)),
    Column("added_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "phone"),
    CheckConstraint("role in ('customer', 'trusted')", name="ck_contacts_role"),
    CheckConstraint("language in ('zh', 'en')", name="ck_contacts_language"),
)

protections = Table(
    "protections",
    metadata,
    Column("account_id", BigId, primary_key=True, autoincrement=False),
    Column("reason", String(32), nullable=False),  # medical | elderly_alone
    Column("note", String(200)),
    Column("noted_at", DateTime(timezone=True), nullable=False),
)

credit_state = Table(
    "credit_state",
    metadata,
    Column("account_id", BigId, primary_key=True, autoincrement=False),
    # normal | warned | arrears | disconnecting | disconnected | reconnecting
    Column("state", String(16), nullable=False),
    # Increases each time the account is restored or climbs back above the warning line: the
    # messages of one cycle are never sent twice, the next cycle's are.
    Column("cycle", Integer, nullable=False, server_default="0"),
    Column("warned_at", DateTime(timezone=True)),
    Column("notice_at", DateTime(timezone=True)),  # the arrears notice (SMS 3) of this cycle
    Column("pay_by", Date),
    Column("second_notice_at", DateTime(timezone=True)),
    Column("supply", String(8), nullable=False, server_default="on"),  # as the meter confirmed
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_credit_state_state", "state"),
)

credit_decisions = Table(
    "credit_decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(128), nullable=False, unique=True),  # one decision per key, ever
    Column("account_id", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(24), nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("reason", String(300), nullable=False),
    Index("ix_credit_decisions_account_id_at", "account_id", "at"),
)

staff_tasks = Table(
    "staff_tasks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(128), nullable=False, unique=True),
    Column("account_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),  # protected_arrears | cut_failed | ...
    Column("reason", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    # Why a task closed itself: its cause went away (paid | balance_positive | trued_up |
    # agreement_ended), with the reason for people.
    Column("close_code", String(32)),
    Column("close_reason", String(300)),
    Index("ix_staff_tasks_account_id", "account_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(128), nullable=False, unique=True),
    Column("account_id", BigInteger),
    Column("phone", String(32), nullable=False),
    Column("language", String(2), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(12), nullable=False, server_default="pending"),  # pending|sent|failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("last_error", String(300)),
    # Template parameters (JSON) for providers that send registered templates only; the
    # provider's id of the sent message, and its delivery receipt: delivered | undelivered |
    # accepted (a gateway without receipts), null while waiting. While waiting,
    # ``next_attempt_at`` is when to ask the provider again.
    Column("params", Text),
    Column("provider_ref", String(64)),
    Column("receipt", String(12)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("delivery_error", String(64)),
    Index("ix_messages_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_messages_account_id", "account_id"),
    Index("ix_messages_provider_ref", "provider_ref"),  # a pushed receipt finds its message
)

meter_commands = Table(
    "meter_commands",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("correlation_id", String(96), nullable=False, unique=True),
    Column("account_id", BigInteger, nullable=False),
    Column("meter_id", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),  # disconnect | reconnect
    Column("priority", Integer, nullable=False),  # 0 first: reconnects before disconnects
    # queued | sent | acknowledged | failed | timed_out | cancelled
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("head_end", String(32)),
    Column("last_error", String(300)),
    CheckConstraint("action in ('disconnect', 'reconnect')", name="ck_meter_commands_action"),
    Index("ix_meter_commands_state_priority", "state", "priority", "next_attempt_at"),
    Index("ix_meter_commands_account_id", "account_id"),
)

# An account's tariff from a day on (a change at the counter): the row with the latest
# ``from_day`` on or before a day prices that day; before any row, ``accounts.tariff_code`` (the
# tariff the account was registered with). One change per account and day; who and why kept.
account_tariffs = Table(
    "account_tariffs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("tariff_code", String(64), nullable=False),
    Column("from_day", Date, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ux_account_tariffs_account_id_from_day", "account_id", "from_day", unique=True),
)

# A change of the customer's SMS phone, waiting for the code sent to the new number: only its
# hash is kept; it expires, is used once, and allows a few attempts. Until it is confirmed the
# messages keep going to the old number.
phone_changes = Table(
    "phone_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("old_phone", String(32)),
    Column("new_phone", String(32), nullable=False),
    Column("code_hash", String(128), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # pending | confirmed | superseded | locked (too many wrong codes)
    Column("status", String(12), nullable=False, server_default="pending"),
    Column("requested_by", String(64), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True)),
    CheckConstraint(
        "status in ('pending', 'confirmed', 'superseded', 'locked')",
        name="ck_phone_changes_status",
    ),
    Index("ix_phone_changes_account_id", "account_id"),
)

# A change of owner (过户): the old owner's agreement ends the day before ``from_day`` with a
# final statement (``final_balance_fen`` refunded by ``refund_transfer_id``), the new owner's
# starts on ``from_day``. The account, its meter and its tier year go on.
owner_changes = Table(
    "owner_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("from_day", Date, nullable=False),
    Column("old_enrolment_id", BigInteger, nullable=False),
    Column("new_enrolment_id", BigInteger, nullable=False),
    Column("old_name", String(200), nullable=False),
    Column("old_phone", String(32)),
    Column("new_name", String(200), nullable=False),
    Column("new_phone", String(32), nullable=False),
    Column("final_balance_fen", BigInteger, nullable=False),
    Column("refund_transfer_id", String(96)),
    Column("changed_by", String(64), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_owner_changes_account_id", "account_id"),
)

# --- the ledger at age (migration 0012) ----------------------------------------------------

# A closed month whose transfers left the hot database for a Parquet file (``gridpay archive
# month``): the file, its sha256 and the month's totals. The audit proves the books with these
# totals plus the hot transfers, and checks each file it finds against its checksum.
archived_months = Table(
    "archived_months",
    metadata,
    Column("month", Date, primary_key=True),  # the month's first day
    Column("last_day", Date, nullable=False),
    Column("path", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("transfers", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("archived_at", DateTime(timezone=True), nullable=False),
)

# Each ledger account's debits and credits in an archived month: what its archived transfers
# added to the cached balances.
archived_balances = Table(
    "archived_balances",
    metadata,
    Column("month", Date, nullable=False),
    Column("ledger_account_id", BigInteger, nullable=False),
    Column("debits_fen", BigInteger, nullable=False),
    Column("credits_fen", BigInteger, nullable=False),
    PrimaryKeyConstraint("month", "ledger_account_id"),
)

# --- staff, sessions, the audit log, shift closes (migration 0014) -------------------------

staff = Table(
    "staff",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False),  # argon2id, with its parameters
    Column("role", String(16), nullable=False),  # clerk | supervisor | finance | admin
    Column("office_id", Integer, ForeignKey("offices.id")),  # clerks and supervisors only
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("role in ('clerk', 'supervisor', 'finance', 'admin')", name="ck_staff_role"),
    CheckConstraint(
        "(role in ('clerk', 'supervisor')) = (office_id IS NOT NULL)", name="ck_staff_office"
    ),
)

# A console session: only the SHA-256 of its token is kept, so a copy of the database signs
# nobody in.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", BigInteger, ForeignKey("staff.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Index("ix_staff_sessions_staff_id", "staff_id"),
)

# Failed sign-ins, kept so that the rate limit survives a restart and holds across processes.
staff_signin_failures = Table(
    "staff_signin_failures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_staff_signin_failures_username_at", "username", "at"),
    Index("ix_staff_signin_failures_client_at", "client", "at"),
)

# Who made every write: appended in the write's own transaction, never updated or deleted
# (triggers refuse both on either engine, see migration 0014). ``detail`` is JSON without
# secrets and with phones masked.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_kind", String(16), nullable=False),  # staff | partner | household | cli | system
    Column("actor_id", String(64), nullable=False),
    Column("actor_role", String(16)),
    Column("actor_office_id", Integer),
    Column("action", String(48), nullable=False),  # e.g. payment.take, enrolment.enrol
    Column("account_id", BigInteger),
    Column("subject", String(128)),  # what was written: a transfer id, a username, ...
    Column("amount_fen", BigInteger),
    Column("reason", String(300)),
    Column("detail", Text),
    Index("ix_audit_log_account_id_id", "account_id", "id"),
    Index("ix_audit_log_actor_id_id", "actor_id", "id"),
    Index("ix_audit_log_action_id", "action", "id"),
)

# A clerk's shift closed: the cash counted beside what the ledger says they took since their
# last close (their payments and reversals up to ``last_audit_id``). A difference waits for a
# supervisor's note.
shift_closes = Table(
    "shift_closes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("staff_id", BigInteger, ForeignKey("staff.id"), nullable=False),
    Column("office_id", Integer, nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("last_audit_id", BigInteger, nullable=False),
    Column("payments", Integer, nullable=False),
    Column("ledger_fen", BigInteger, nullable=False),
    Column("counted_fen", BigInteger, nullable=False),
    Column("note", String(300)),
    Column("explained_by", String(32)),
    Column("explanation", String(300)),
    Column("explained_at", DateTime(timezone=True)),
    Index("ix_shift_closes_staff_id_id", "staff_id", "id"),
)

# Households signing in (``services.household_access``). A code sent by SMS to sign in: only its
# salted hash is kept, and the hash of the random challenge the browser holds while the code is
# typed; it expires, is used once, allows a few tries. The rows are also the rate limits' memory
# (codes per account, per phone, per client address in a window), so limits hold across
# restarts and processes. ``client_key`` is a hash of the address: no address is stored.
household_codes = Table(
    "household_codes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("challenge_hash", String(64), nullable=False, unique=True),
    Column("account_id", BigInteger, nullable=False),
    Column("phone", String(32), nullable=False),
    Column("role", String(8), nullable=False),  # owner | trusted
    Column("code_hash", String(128), nullable=False),
    Column("client_key", String(64), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # pending | used | superseded | locked (too many wrong codes)
    Column("status", String(12), nullable=False, server_default="pending"),
    Column("used_at", DateTime(timezone=True)),
    CheckConstraint("role in ('owner', 'trusted')", name="ck_household_codes_role"),
    CheckConstraint(
        "status in ('pending', 'used', 'superseded', 'locked')", name="ck_household_codes_status"
    ),
    Index("ix_household_codes_account_id_requested_at", "account_id", "requested_at"),
    Index("ix_household_codes_phone_requested_at", "phone", "requested_at"),
    Index("ix_household_codes_client_key_requested_at", "client_key", "requested_at"),
)

# A signed-in browser: the hash of the random token in its cookie (never the token), the
# account, who (owner or a trusted contact reading only), an absolute expiry and an idle one.
household_sessions = Table(
    "household_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("phone", String(32), nullable=False),
    Column("role", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    CheckConstraint("role in ('owner', 'trusted')", name="ck_household_sessions_role"),
    Index("ix_household_sessions_account_id", "account_id"),
)

# Read-only access the owner gave one of the account's trusted contacts (``contacts``).
household_access = Table(
    "household_access",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("phone", String(32), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "phone"),
)

# --- partners: banks, collection agents and wallets paying through the signed API ---------

# The HMAC secret is stored as it is (not encrypted): the app must read it back to verify each
# signature, so a key to decrypt it would have to sit in the app's configuration on the same
# server, protecting nothing against whoever can read both. The database is reachable only by
# the app's own user (docs/partner-api.md, "Secrets").
partners = Table(
    "partners",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(8), nullable=False),  # bank | agent | wallet
    Column("secret", String(64), nullable=False),
    Column("suspended", Boolean, nullable=False, server_default="0"),
    Column("payment_amount_fen_max", BigInteger, nullable=False),
    Column("day_amount_fen_max", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind in ('bank', 'agent', 'wallet')", name="ck_partners_kind"),
)

# Every nonce of a verified request, kept beyond the time window: a replay is refused even
# after a restart.
partner_nonces = Table(
    "partner_nonces",
    metadata,
    Column("partner_code", String(16), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("partner_code", "nonce"),
    Index("ix_partner_nonces_seen_at", "seen_at"),
)

# Each partner payment by the partner's reference: its first answer (for retries), its state
# (pending while being posted, posted, reversed) and the ledger transfer it became.
partner_payments = Table(
    "partner_payments",
    metadata,
    Column("partner_code", String(16), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("account_no", String(10), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("day", Date, nullable=False),
    Column("status", String(10), nullable=False),
    Column("transfer_id", String(96), nullable=False),
    Column("balance_fen", BigInteger),
    Column("reversal_id", String(96)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("partner_code", "reference"),
    CheckConstraint(
        "status in ('pending', 'posted', 'reversed')", name="ck_partner_payments_status"
    ),
    Index("ix_partner_payments_partner_code_day", "partner_code", "day"),
)

# A partner's running total for a business day, moved by relative updates only: the per-day
# limit is checked and taken in one conditional update.
partner_days = Table(
    "partner_days",
    metadata,
    Column("partner_code", String(16), nullable=False),
    Column("day", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("partner_code", "day"),
)

# The latest reconciliation of a partner's day, line by line (a re-run replaces it): what the
# statement said, what we have, the outcome, and who confirmed a line missing on our side.
reconciliation_lines = Table(
    "reconciliation_lines",
    metadata,
    Column("partner_code", String(16), nullable=False),
    Column("day", Date, nullable=False),
    Column("reference", String(64), nullable=False),
    Column("account_no", String(10), nullable=False),
    Column("amount_fen_ours", BigInteger),
    Column("amount_fen_theirs", BigInteger),
    Column("outcome", String(16), nullable=False),
    Column("confirmed_by", String(64)),
    Column("confirmed_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("partner_code", "day", "reference"),
)

# Orders made at the wallet for paying online: our id (the credit's reference), the account and
# the amount; ``trade_no`` is the wallet's own number once it has told us. An order moves
# created -> paid -> credited, or to closed (never paid) or failed (paid, refused by the account).
wallet_orders = Table(
    "wallet_orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("state", String(12), nullable=False),
    Column("trade_no", String(64)),
    Column("pay_url", String(300)),  # the wallet's page for this order, once it made one
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "state in ('created', 'paid', 'credited', 'closed', 'failed')",
        name="ck_wallet_orders_state",
    ),
    CheckConstraint("amount_fen > 0", name="ck_wallet_orders_amount_fen"),
    Index("ix_wallet_orders_state_created_at", "state", "created_at"),
    Index("ix_wallet_orders_account_id", "account_id"),
)

# Every callback the wallet (or anyone) sent to /wallet/notify, with what became of it: credited,
# a duplicate of a credit, or refused with its reason. Kept so a refused or replayed callback is
# visible to staff, not only in a log.
wallet_callbacks = Table(
    "wallet_callbacks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("notify_id", String(64)),
    Column("order_id", String(64)),
    Column("outcome", String(24), nullable=False),
    Column("detail", String(300), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_wallet_callbacks_notify_id", "notify_id"),
    Index("ix_wallet_callbacks_order_id", "order_id"),
)
