"""Helpers for the households' pages: accounts with a phone and settled days, the code from the
SMS outbox, the forms' anti-forgery token, signing in through the pages."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.store import SqlStore
from tests.helpers_accounts import add_accounts, settle_day_by_hand

OWNER = 1
OTHER = 2
FAMILY_PHONE = "13700000077"
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def city(
    store: SqlStore,
    today: dt.date,
    *,
    days: int = 40,
    daily_wh: int = 6_000,
    ytd_start_wh: int = 1_800_000,
) -> None:
    """Two prepaid accounts (phones 13900000001 and ...02) with ``days`` settled days each."""
    add_accounts(store, [OWNER, OTHER])
    ytd = ytd_start_wh
    for i in range(days, 0, -1):
        day = today - dt.timedelta(days=i)
        ytd += daily_wh
        for account_id in (OWNER, OTHER):
            settle_day_by_hand(
                store,
                account_id,
                day,
                energy_wh=daily_wh,
                charge_fen=336,
                ytd_wh=ytd,
                ytd_charged_fen=ytd * 56 // 1000,
            )


def add_family(store: SqlStore, account_id: int = OWNER, phone: str = FAMILY_PHONE) -> None:
    with store.unit_of_work() as uow:
        uow.enrolment.add_contact(
            account_id, phone, "trusted", "en", "Daughter", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        )
        uow.commit()


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no csrf field on the page"
    return found.group(1)


def newest_code(store: SqlStore, phone: str | None = None) -> str:
    m = schema.messages
    stmt = select(m.c.body).where(m.c.kind == "sign_in_code").order_by(m.c.id.desc()).limit(1)
    if phone is not None:
        stmt = stmt.where(m.c.phone == phone)
    with store.engine.connect() as conn:
        body = conn.execute(stmt).scalar_one()
    found = _CODE.search(body.replace(f"{OWNER:010d}", "").replace(f"{OTHER:010d}", ""))
    assert found is not None, body
    return found.group(1)


def count(store: SqlStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(schema.metadata.tables[table])
            ).scalar_one()
        )


def ask_code(client: TestClient, account_no: str, contact_phone: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get("/signin")
    form = {"csrf": csrf_of(page.text), "account_no": account_no}
    if contact_phone:
        form["contact_phone"] = contact_phone
    return client.post("/signin", data=form)


def enter_code(client: TestClient, code: str):  # type: ignore[no-untyped-def]
    page = client.get("/signin/code")
    return client.post("/signin/code", data={"csrf": csrf_of(page.text), "code": code})


def sign_in(
    client: TestClient, store: SqlStore, account_id: int = OWNER, contact_phone: str | None = None
) -> None:
    sent = ask_code(client, f"{account_id:010d}", contact_phone)
    assert sent.status_code == 200, sent.text
    done = enter_code(client, newest_code(store, contact_phone))
    assert done.status_code == 200 and done.url.path == "/home", done.text
