"""Housekeeping on both engines, with the clock moved: dead sign-in codes, sessions, sign-in
failures and partner nonces are deleted in bounded batches; nothing still usable is, the audit
log is untouched, and a second pass deletes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from gridpay import limits
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings
from gridpay.domain.actors import cli_actor
from gridpay.errors import NotSignedIn
from gridpay.services import household_access, housekeeping, staff
from gridpay.services.credit import Policy
from gridpay.services.workers import Workers
from gridpay.simulation.head_end import SimulatedHeadEnd
from tests.fakes import FakeClock, FakeSmsGateway
from tests.helpers_accounts import add_accounts, scalar
from tests.http.household_helpers import newest_code

PASSWORD = "correct horse battery"
TABLES = (
    "household_codes",
    "household_sessions",
    "staff_sessions",
    "staff_signin_failures",
    "partner_nonces",
)


@pytest.fixture
def settings(store: SqlStore) -> Settings:
    return replace(Settings(), database_url=store.url, environment="test")


def counts(store: SqlStore) -> dict[str, int]:
    return {t: int(scalar(store, f"SELECT count(*) FROM {t}")) for t in (*TABLES, "audit_log")}


def sweep(store: SqlStore, clock: FakeClock, settings: Settings) -> dict[str, int]:
    return housekeeping.sweep(store, clock, settings).deleted


def household_sign_in(store: SqlStore, clock: FakeClock, settings: Settings) -> str:
    sent = household_access.request_code(
        store, clock, settings, "0000000001", contact_phone=None, client_address="10.0.0.1"
    )
    return household_access.sign_in(
        store, clock, settings, sent.challenge, newest_code(store)
    ).token


def spend_nonce(store: SqlStore, nonce: str, at: dt.datetime) -> None:
    with store.unit_of_work() as uow:
        assert uow.partners.spend_nonce("ICBC", nonce, at)
        uow.commit()


def test_only_what_can_never_be_used_again_is_deleted_as_the_clock_moves(
    store: SqlStore, clock: FakeClock, settings: Settings
) -> None:
    add_accounts(store, [1])
    staff.add_staff(
        store, clock, username="li", display_name="Li", password=PASSWORD, role="clerk",
        office_id=1, actor=cli_actor("root"),
    )  # fmt: skip
    t0 = clock.now()
    household = household_sign_in(store, clock, settings)  # a used code, a live session
    ended = household_access.current_session(
        store, clock, settings, household_sign_in(store, clock, settings)
    )
    household_access.sign_out(store, clock, ended, everywhere=False)
    household_access.request_code(
        store, clock, settings, "0000000001", contact_phone=None, client_address="10.0.0.1"
    )  # a pending code, never used
    clerk = staff.sign_in(store, clock, "li", PASSWORD, "10.0.0.2").token
    staff.sign_out(store, clock, staff.sign_in(store, clock, "li", PASSWORD, "10.0.0.2").token)
    with pytest.raises(NotSignedIn):
        staff.sign_in(store, clock, "li", "not the password", "10.0.0.2")
    spend_nonce(store, "n-at-t0-000000000", t0)
    audit_rows = counts(store)["audit_log"]
    assert counts(store) == {
        "household_codes": 3,
        "household_sessions": 2,
        "staff_sessions": 2,
        "staff_signin_failures": 1,
        "partner_nonces": 1,
        "audit_log": audit_rows,
    }

    # Now: only the sessions signed out are dead.
    assert sweep(store, clock, settings) == dict.fromkeys(TABLES, 0) | {
        "household_sessions": 1,
        "staff_sessions": 1,
    }
    # Past the codes' ten minutes but inside their rate window, the nonce's two windows and the
    # failure's window: all kept (the rate limits still count them).
    clock.set(t0 + dt.timedelta(seconds=limits.sign_in_code_valid_s + 1))
    assert sweep(store, clock, settings) == dict.fromkeys(TABLES, 0)
    # Out of every window: the codes, the failure and the nonce go; the sessions stay live.
    clock.set(t0 + dt.timedelta(seconds=limits.sign_in_rate_window_s + 1))
    assert sweep(store, clock, settings) == dict.fromkeys(TABLES, 0) | {
        "household_codes": 3,
        "staff_signin_failures": 1,
        "partner_nonces": 1,
    }
    assert household_access.current_session(store, clock, settings, household).account_id == 1
    assert staff.signed_in(store, clock, clerk) is not None
    # The household's session is seen (touched) now: idle only from here.
    touched = clock.now()
    idle = dt.timedelta(minutes=settings.household_session_idle_minutes)
    clock.set(touched + idle - dt.timedelta(seconds=1))
    assert sweep(store, clock, settings) == dict.fromkeys(TABLES, 0)
    assert household_access.current_session(store, clock, settings, household).account_id == 1
    clock.set(clock.now() + idle)  # idle past the limit: dead
    with pytest.raises(NotSignedIn):
        household_access.current_session(store, clock, settings, household)
    assert sweep(store, clock, settings)["household_sessions"] == 1
    # The clerk's working day is over: the session expires, and only then is deleted.
    clock.set(t0 + dt.timedelta(seconds=limits.staff_session_s - 1))
    assert sweep(store, clock, settings)["staff_sessions"] == 0
    assert staff.signed_in(store, clock, clerk) is not None
    clock.set(t0 + dt.timedelta(seconds=limits.staff_session_s))
    assert staff.signed_in(store, clock, clerk) is None
    assert sweep(store, clock, settings)["staff_sessions"] == 1

    assert counts(store) == dict.fromkeys(TABLES, 0) | {"audit_log": audit_rows}
    assert sweep(store, clock, settings) == dict.fromkeys(TABLES, 0)  # idempotent


def test_a_backlog_goes_in_bounded_batches_over_passes(
    store: SqlStore, clock: FakeClock, settings: Settings
) -> None:
    t0 = clock.now()
    for i in range(10):
        spend_nonce(store, f"old-nonce-{i:08d}", t0)
    clock.set(t0 + dt.timedelta(seconds=2 * settings.partner_signature_window_s + 2))
    spend_nonce(store, "fresh-nonce-000000", clock.now())
    first = housekeeping.sweep(store, clock, settings, batch_rows_max=3, batches_max=2)
    assert (first.deleted["partner_nonces"], first.unfinished) == (6, ("partner_nonces",))
    second = housekeeping.sweep(store, clock, settings, batch_rows_max=3, batches_max=2)
    assert (second.deleted["partner_nonces"], second.unfinished) == (4, ())
    assert housekeeping.sweep(store, clock, settings).deleted_total == 0
    assert scalar(store, "SELECT nonce FROM partner_nonces") == "fresh-nonce-000000"


class _Only:
    def __init__(self, job: str) -> None:
        self.job = job

    def due(self, job: str, now: dt.datetime) -> bool:
        return job == self.job


def test_gridpay_runs_workers_do_the_housekeeping_and_count_it(
    store: SqlStore, clock: FakeClock, credit: Policy
) -> None:
    spend_nonce(store, "old-nonce-00000000", clock.now())
    clock.advance(hours=1)
    workers = Workers(
        store,
        clock,
        credit,
        SimulatedHeadEnd(seed=3, latency_s=(1.0, 2.0)),
        FakeSmsGateway(),
        timing=_Only("housekeeping"),
    )
    report = workers.tick()
    assert report.ran == ["housekeeping"]
    assert report.housekeeping is not None
    assert report.housekeeping.deleted["partner_nonces"] == 1
    assert report.housekeeping_deleted == 1
    assert workers.tick().housekeeping_deleted == 0
