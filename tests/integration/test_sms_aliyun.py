"""Alibaba Cloud SMS through its official SDK, against a local stand-in of the provider.

The stand-in checks each request the way the provider documents it, independently of the SDK
and of gridpay: the RPC parameters (``SendSms``: PhoneNumbers, SignName, TemplateCode,
TemplateParam as JSON, OutId; ``QuerySendDetails``: PhoneNumber, BizId, SendDate, PageSize,
CurrentPage), the action and version headers, and the ACS3-HMAC-SHA256 signature recomputed
from the canonical request with the access key secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gridpay.adapters.sms import sms_gateway_from_settings, sms_templates
from gridpay.adapters.sms_aliyun import AliyunSmsGateway, masked_phone
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings, load_settings
from gridpay.domain.messages import MessageKind, template_params
from gridpay.errors import ConfigError, DeliveryFailed
from gridpay.services.messaging import list_messages, poll_receipts, send_due
from tests.fakes import FakeClock
from tests.integration.test_outbox_repo import T0, add, outbox_rows

KEY_ID, SECRET = "LTAI-test-key-id", "test-secret-never-shown"
SIGN = "国网河南电力"
TEMPLATES = {k.value: f"SMS_{100 + i}" for i, k in enumerate(MessageKind)}
PHONE = "13900000001"


def acs3_signature_ok(request: Request, secret: str) -> bool:
    """The provider's ACS3-HMAC-SHA256 check, written from its documentation."""
    authorization = request.headers["Authorization"]
    algorithm, _, rest = authorization.partition(" ")
    assert algorithm == "ACS3-HMAC-SHA256"
    parts = dict(p.split("=", 1) for p in rest.split(","))
    assert parts["Credential"] == KEY_ID
    signed = parts["SignedHeaders"].split(";")
    assert {"host", "x-acs-action", "x-acs-version", "x-acs-date"} <= set(signed)
    body = request.get_data()
    payload_hash = hashlib.sha256(body).hexdigest()
    assert request.headers["x-acs-content-sha256"] == payload_hash

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    pairs = parse_qsl(request.query_string.decode(), keep_blank_values=True)
    query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(pairs))
    headers = "".join(f"{h}:{request.headers[h].strip()}\n" for h in signed)
    canonical = "\n".join(
        [request.method, request.path, query, headers, parts["SignedHeaders"], payload_hash]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["Signature"])


class StandIn:
    """The provider: records requests, answers SendSms with a BizId and QuerySendDetails with
    the status set for the BizId (1 waiting, 2 failed, 3 delivered)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.send_code = "OK"
        self.status: dict[str, tuple[int, str, str]] = {}  # biz id -> (status, err, receive)

    def handle(self, request: Request) -> Response:
        assert acs3_signature_ok(request, SECRET), "bad signature"
        assert request.headers["x-acs-version"] == "2017-05-25"
        action = request.headers["x-acs-action"]
        params = dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))
        self.requests.append((action, params))
        if action == "SendSms":
            if self.send_code != "OK":
                return _json({"Code": self.send_code, "Message": "limit", "RequestId": "r"})
            biz_id = f"{len(self.requests)}^0"
            return _json({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": "r"})
        assert action == "QuerySendDetails"
        status, err, received = self.status.get(params["BizId"], (1, "", ""))
        detail = {
            "PhoneNum": params["PhoneNumber"],
            "SendStatus": status,
            "ErrCode": err,
            "ReceiveDate": received,
            "SendDate": "2026-12-01 09:00:00",
            "TemplateCode": "SMS_101",
            "Content": "...",
        }
        return _json(
            {
                "Code": "OK",
                "Message": "OK",
                "RequestId": "r",
                "TotalCount": 1,
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": [detail]},
            }
        )


def _json(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data), status=200, content_type="application/json")


@pytest.fixture
def stand_in(httpserver: HTTPServer) -> StandIn:
    provider = StandIn()
    httpserver.expect_request("/").respond_with_handler(provider.handle)
    return provider


@pytest.fixture
def gateway(httpserver: HTTPServer, stand_in: StandIn) -> Iterator[AliyunSmsGateway]:
    yield AliyunSmsGateway(
        endpoint=f"http://127.0.0.1:{httpserver.port}",
        sign_name=SIGN,
        templates=TEMPLATES,
        access_key_id=KEY_ID,
        access_key_secret=SECRET,
        timeout_s=5,
    )


def test_send_sms_carries_the_documented_parameters_and_a_valid_signature(
    gateway: AliyunSmsGateway, stand_in: StandIn
) -> None:
    params = {"account_no": "0000000001", "balance": "-1.20", "pay_by": "2026-12-04"}
    biz_id = gateway.submit(PHONE, "arrears", params, "arrears/0000000001/0/13900000001")
    assert biz_id == "1^0"
    ((action, sent),) = stand_in.requests
    assert action == "SendSms"
    assert sent == {
        "PhoneNumbers": PHONE,
        "SignName": SIGN,
        "TemplateCode": TEMPLATES["arrears"],
        "TemplateParam": sent["TemplateParam"],
        "OutId": "arrears/0000000001/0/13900000001",
    }
    assert json.loads(sent["TemplateParam"]) == params


def test_template_params_with_spaces_and_chinese_are_signed_right(
    gateway: AliyunSmsGateway, stand_in: StandIn
) -> None:
    params = json.loads(
        template_params(
            MessageKind.CUT_SOON,
            account_no="0000000001",
            balance_fen=-120,
            cut_at=dt.datetime(2026, 12, 5, 9, 30),
        )
    )
    assert params == {"account_no": "0000000001", "balance": "-1.20", "cut_at": "2026-12-05 09:30"}
    gateway.submit(PHONE, "cut_soon", params, "k")
    assert json.loads(stand_in.requests[0][1]["TemplateParam"]) == params


def test_a_refusal_is_a_failed_delivery_naming_no_phone_and_no_secret(
    gateway: AliyunSmsGateway, stand_in: StandIn
) -> None:
    stand_in.send_code = "isv.BUSINESS_LIMIT_CONTROL"
    with pytest.raises(DeliveryFailed) as caught:
        gateway.submit(PHONE, "warning", {"account_no": "1"}, "k")
    assert "isv.BUSINESS_LIMIT_CONTROL" in caught.value.message
    assert PHONE not in caught.value.message and SECRET not in caught.value.message
    assert masked_phone(PHONE) in caught.value.message


def test_an_unreachable_provider_is_a_failed_delivery_naming_no_phone() -> None:
    gateway = AliyunSmsGateway(
        endpoint="http://127.0.0.1:9",
        sign_name=SIGN,
        templates=TEMPLATES,
        access_key_id=KEY_ID,
        access_key_secret=SECRET,
        timeout_s=0.5,
    )
    with pytest.raises(DeliveryFailed) as caught:
        gateway.submit(PHONE, "warning", {"account_no": "1"}, "k")
    assert PHONE not in caught.value.message and SECRET not in caught.value.message


@pytest.mark.parametrize(
    ("status", "expected"),
    [(1, None), (2, (False, "DELIVRD_FAIL")), (3, (True, None))],
)
def test_query_send_details_reports_waiting_failed_or_delivered(
    gateway: AliyunSmsGateway,
    stand_in: StandIn,
    status: int,
    expected: tuple[bool, str | None] | None,
) -> None:
    stand_in.status["7^0"] = (
        status,
        "DELIVRD_FAIL" if status == 2 else "DELIVERED",
        "2026-12-01 09:00:05",
    )
    # sent at 01:00 UTC on 1 Dec = 09:00 in China: the send date asked is China's
    report = gateway.receipt(PHONE, "7^0", dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC))
    ((action, asked),) = stand_in.requests
    assert action == "QuerySendDetails"
    assert asked == {
        "PhoneNumber": PHONE,
        "BizId": "7^0",
        "SendDate": "20261201",
        "PageSize": "10",
        "CurrentPage": "1",
    }
    if expected is None:
        assert report is None
        return
    assert report is not None
    assert (report.delivered, report.error_code) == expected
    assert report.at == dt.datetime(2026, 12, 1, 1, 0, 5, tzinfo=dt.UTC)


# --- through the outbox worker, on both engines ------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def _add_with_params(store: SqlStore, account_ids: list[int]) -> None:
    rows = outbox_rows(account_ids).with_columns(
        pl.Series(
            "params",
            [
                template_params(
                    MessageKind.WARNING, account_no="x", as_of=dt.date(2026, 12, 1), balance_fen=500
                )
            ]
            * len(account_ids),
        )
    )
    add(store, rows)


def test_the_worker_sends_templates_and_records_receipts(
    store: SqlStore, clock: FakeClock, gateway: AliyunSmsGateway, stand_in: StandIn
) -> None:
    _add_with_params(store, [1, 2])
    assert send_due(store, clock, gateway).sent == 2
    sent = {m.account_no: m for m in list_messages(store, None, "sent", None)}
    assert {m.receipt for m in sent.values()} == {None}  # waiting for the receipts
    assert poll_receipts(store, clock, gateway).asked == 0  # not asked before the first check
    first, second = [r[1] for r in stand_in.requests]
    assert json.loads(first["TemplateParam"])["balance"] == "5.00"
    stand_in.status["1^0"] = (3, "DELIVERED", "2026-12-01 09:00:30")
    stand_in.status["2^0"] = (2, "MOBILE_NOT_ON_SERVICE", "2026-12-01 09:00:40")
    clock.advance(minutes=2)
    report = poll_receipts(store, clock, gateway)
    assert (report.asked, report.delivered, report.undelivered) == (2, 1, 1)
    views = {m.account_no: m for m in list_messages(store, None, "sent", None)}
    one, two = views["0000000001"], views["0000000002"]
    assert (one.receipt, one.delivered_at) == (
        "delivered",
        dt.datetime(2026, 12, 1, 1, 0, 30, tzinfo=dt.UTC),
    )
    assert (two.receipt, two.delivered_at, two.delivery_error) == (
        "undelivered",
        None,
        "MOBILE_NOT_ON_SERVICE",
    )
    clock.advance(hours=1)
    assert poll_receipts(store, clock, gateway).asked == 0  # receipts are final


def test_a_message_without_a_receipt_is_asked_again_then_undelivered(
    store: SqlStore, clock: FakeClock, gateway: AliyunSmsGateway, stand_in: StandIn
) -> None:
    _add_with_params(store, [1])
    send_due(store, clock, gateway)
    clock.advance(minutes=2)
    assert poll_receipts(store, clock, gateway).waiting == 1
    assert poll_receipts(store, clock, gateway).asked == 0  # the next check is minutes away
    clock.advance(days=3)
    report = poll_receipts(store, clock, gateway)
    assert report.undelivered == 1
    (view,) = list_messages(store, None, None, None)
    assert view.receipt == "undelivered" and view.delivery_error == "no receipt in 48 h"


def test_a_message_stored_without_template_parameters_fails_its_attempt(
    store: SqlStore, clock: FakeClock, gateway: AliyunSmsGateway, stand_in: StandIn
) -> None:
    add(store, outbox_rows([1]))
    report = send_due(store, clock, gateway)
    assert report.failed_attempts == 1 and stand_in.requests == []


def test_a_gateway_without_receipts_counts_acceptance_as_delivery(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    add(store, outbox_rows([1]))
    gateway = sms_gateway_from_settings(Settings(sms_file=str(tmp_path / "sms.jsonl")), clock)
    send_due(store, clock, gateway)
    (view,) = list_messages(store, None, None, None)
    assert (view.status, view.receipt, view.delivered_at) == ("sent", "accepted", T0)
    assert poll_receipts(store, clock, gateway).asked == 0


# --- settings ----------------------------------------------------------------------------------


def _config(tmp_path: Path, text: str) -> Callable[[], Settings]:
    path = tmp_path / "gridpay.toml"
    path.write_text(text, encoding="utf-8")
    return lambda: load_settings(config_path=str(path))


def _templates_toml(templates: dict[str, str]) -> str:
    return "[sms_templates]\n" + "".join(f'{k} = "{v}"\n' for k, v in templates.items())


def test_the_aliyun_gateway_is_built_from_settings_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    settings = _config(
        tmp_path,
        'sms_gateway = "aliyun"\nsms_sign_name = "国网河南电力"\n'
        'sms_aliyun_endpoint = "http://127.0.0.1:8080"\n' + _templates_toml(TEMPLATES),
    )()
    assert dict(settings.sms_templates) == TEMPLATES
    gateway = sms_gateway_from_settings(settings)
    assert isinstance(gateway, AliyunSmsGateway)
    assert gateway.endpoint == "http://127.0.0.1:8080"


def test_the_access_key_must_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", raising=False)
    settings = Settings(
        sms_gateway="aliyun", sms_sign_name=SIGN, sms_templates=tuple(TEMPLATES.items())
    )
    with pytest.raises(ConfigError, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
        sms_gateway_from_settings(settings)


def test_every_message_kind_needs_a_known_template_code(tmp_path: Path) -> None:
    missing = {k: v for k, v in TEMPLATES.items() if k != "arrears"}
    with pytest.raises(ConfigError, match="needs a registered template code for arrears"):
        sms_templates(_config(tmp_path, _templates_toml(missing))())
    unknown = {**TEMPLATES, "arears": "SMS_9"}
    with pytest.raises(ConfigError, match="unknown message kinds"):
        sms_templates(_config(tmp_path, _templates_toml(unknown))())
    with pytest.raises(ConfigError, match="sms_templates"):
        _config(tmp_path, "[sms_templates]\narrears = 5\n")()


def test_an_endpoint_with_a_path_or_credentials_is_refused() -> None:
    for endpoint in ("http://127.0.0.1:8080/sms", "https://u:p@dysmsapi.aliyuncs.com", "ftp://x"):
        with pytest.raises(ConfigError, match="sms_aliyun_endpoint"):
            AliyunSmsGateway(
                endpoint=endpoint,
                sign_name=SIGN,
                templates=TEMPLATES,
                access_key_id=KEY_ID,
                access_key_secret=SECRET,
                timeout_s=1,
            )


def test_masked_phone_keeps_the_first_three_and_the_last_four_digits() -> None:
    assert masked_phone("13900000001") == "139****0001"
    assert masked_phone("12345") == "*****"
