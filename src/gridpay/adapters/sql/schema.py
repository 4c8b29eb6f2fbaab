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
    Index("ix_transfers_account_id_seq", "account_id", "seq"),
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
    Index("ix_messages_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_messages_account_id", "account_id"),
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
