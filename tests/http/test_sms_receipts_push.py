"""Alibaba Cloud SMS delivery receipts pushed over HTTP (SmsReport), on both engines: they land
as polled ones do, once, and a receipt for no message of ours writes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridpay import bootstrap
from gridpay.adapters.sms_aliyun import AliyunSmsGateway
from gridpay.entrypoints.http.app import create_app
from gridpay.services.messaging import list_messages, poll_receipts, send_due
from tests.fakes import FakeClock
from tests.integration import test_sms_aliyun as aliyun
from tests.integration.test_sms_aliyun import StandIn, _add_with_params

# The provider's stand-in and the gateway pointed at it, as the polling tests use them.
clock, gateway, stand_in = aliyun.clock, aliyun.gateway, aliyun.stand_in

TOKEN = "t" * 40
URL = f"/sms/aliyun/receipts/{TOKEN}"


@pytest.fixture
def push(built: bootstrap.App) -> Iterator[TestClient]:
    settings = dataclasses.replace(built.settings, sms_receipt_push_token=TOKEN)
    with TestClient(create_app(dataclasses.replace(built, settings=settings))) as c:
        yield c


def report(biz_id: str, success: bool = True, **fields: Any) -> dict[str, Any]:
    """One report as the documentation shows it."""
    return {
        "phone_number": "13900000001",
        "send_time": "2026-12-01 09:00:00",
        "report_time": "2026-12-01 09:00:30",
        "success": success,
        "err_code": "DELIVERED" if success else "MOBILE_NOT_ON_SERVICE",
        "err_msg": "用户接收成功",
        "sms_size": "1",
        "biz_id": biz_id,
        **fields,
    }


def receipts(built: bootstrap.App) -> dict[str | None, tuple[Any, ...]]:
    views = list_messages(built.store, None, None, None)
    return {v.account_no: (v.receipt, v.delivered_at, v.delivery_error) for v in views}


def sent(built: bootstrap.App, clock: FakeClock, gateway: AliyunSmsGateway) -> None:
    _add_with_params(built.store, [1, 2])  # sent as biz ids 1^0 and 2^0 by the stand-in
    assert send_due(built.store, clock, gateway).sent == 2


def test_pushed_receipts_land_as_polled_ones(push, built, clock, gateway) -> None:
    sent(built, clock, gateway)
    answer = push.post(URL, json=[report("1^0"), report("2^0", success=False)])
    assert answer.status_code == 200
    assert answer.json()["code"] == 0  # the provider checks only that code is a number
    assert receipts(built) == {
        "0000000001": ("delivered", dt.datetime(2026, 12, 1, 1, 0, 30, tzinfo=dt.UTC), None),
        "0000000002": ("undelivered", None, "MOBILE_NOT_ON_SERVICE"),
    }
    clock.advance(minutes=5)
    assert poll_receipts(built.store, clock, gateway).asked == 0  # nothing left to poll


def test_a_receipt_pushed_again_or_after_polling_changes_nothing(
    push, built, clock, gateway, stand_in: StandIn
) -> None:
    sent(built, clock, gateway)
    stand_in.status["1^0"] = (3, "DELIVERED", "2026-12-01 09:00:10")
    clock.advance(minutes=2)
    assert poll_receipts(built.store, clock, gateway).delivered == 1
    before = receipts(built)
    # the provider pushes again until answered; a late failure report changes nothing either
    for _ in range(2):
        assert push.post(URL, json=[report("1^0", success=False)]).status_code == 200
    assert receipts(built) == before


def test_a_receipt_for_no_message_of_ours_is_logged_and_writes_nothing(
    push, built, clock, gateway, caplog
) -> None:
    sent(built, clock, gateway)
    before = receipts(built)
    with caplog.at_level(logging.WARNING):
        answer = push.post(URL, json=[report("999^0"), report("1^0", out_id="someone-else's-key")])
    assert answer.status_code == 200
    assert (answer.json()["recorded"], answer.json()["unknown"]) == (0, 2)
    assert receipts(built) == before
    assert "999^0" in caplog.text


@pytest.mark.parametrize("path", [f"/sms/aliyun/receipts/{'x' * 40}", "/sms/aliyun/receipts/t"])
def test_a_wrong_token_is_not_found_and_writes_nothing(push, built, clock, gateway, path) -> None:
    sent(built, clock, gateway)
    before = receipts(built)
    assert push.post(path, json=[report("1^0")]).status_code == 404
    assert receipts(built) == before


def test_without_a_configured_token_there_is_no_such_url(client: TestClient) -> None:
    assert client.post(URL, json=[report("1^0")]).status_code == 404


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"biz_id": "1^0"}', b'[{"success": true}]', b'[{"biz_id": "1^0"}]'],
)
def test_a_body_that_is_no_report_array_is_refused_whole(push, built, clock, gateway, body) -> None:
    sent(built, clock, gateway)
    before = receipts(built)
    answer = push.post(URL, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert receipts(built) == before
