"""SMS gateways: the JSON-lines file, the console, and HTTP against a local test server."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gridpay.adapters.sms import (
    ConsoleSmsGateway,
    FileSmsGateway,
    HttpSmsGateway,
    sms_gateway_from_settings,
)
from gridpay.config import Settings
from gridpay.errors import ConfigError, DeliveryFailed
from tests.fakes import FakeClock

KEY = "arrears/0000000001/0/13900000001"
BODY = "尊敬的客户0000000001：您的电费已超出预付电费。"


# --- file ------------------------------------------------------------------------------------


def test_the_file_gateway_appends_one_json_line_per_message(tmp_path: Path) -> None:
    path = tmp_path / "sms.jsonl"
    clock = FakeClock(dt.datetime(2026, 12, 1, 1, 2, 3, tzinfo=dt.UTC))
    gateway = FileSmsGateway(path, clock)
    gateway.send("13900000001", BODY, KEY)
    gateway.send("13900000002", "second", "k2")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "phone": "13900000001",
            "body": BODY,
            "dedupe_key": KEY,
            "sent_at": "2026-12-01T01:02:03+00:00",
        },
        {
            "phone": "13900000002",
            "body": "second",
            "dedupe_key": "k2",
            "sent_at": "2026-12-01T01:02:03+00:00",
        },
    ]
    assert BODY in lines[0]  # readable Chinese, not \u escapes


def test_without_a_clock_the_file_gateway_stamps_the_utc_time(tmp_path: Path) -> None:
    path = tmp_path / "sms.jsonl"
    FileSmsGateway(path).send("1", "b", "k")
    sent_at = dt.datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["sent_at"])
    assert sent_at.utcoffset() == dt.timedelta(0)


def test_the_file_gateway_refuses_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no folder"):
        FileSmsGateway(tmp_path / "missing" / "sms.jsonl")


def test_a_file_that_cannot_be_written_is_a_failed_delivery(tmp_path: Path) -> None:
    gateway = FileSmsGateway(tmp_path)  # a folder, not a file
    with pytest.raises(DeliveryFailed, match="cannot write SMS"):
        gateway.send("1", "b", "k")


# --- console ---------------------------------------------------------------------------------


def test_the_console_gateway_prints_one_line_per_message() -> None:
    lines: list[str] = []
    ConsoleSmsGateway(lines.append).send("13900000001", BODY, KEY)
    assert lines == [f"SMS to 13900000001 [{KEY}]: {BODY}"]


# --- HTTP ------------------------------------------------------------------------------------


def test_the_http_gateway_posts_json_with_the_dedupe_key_as_idempotency_key(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request(
        "/sms",
        method="POST",
        headers={"Idempotency-Key": KEY},
        json={"phone": "13900000001", "body": BODY, "dedupe_key": KEY},
    ).respond_with_json({"id": "provider-1"}, status=202)
    with HttpSmsGateway(httpserver.url_for("/sms"), timeout_s=5) as gateway:
        gateway.send("13900000001", BODY, KEY)
    httpserver.check_assertions()


def test_a_server_error_is_a_failed_delivery_naming_the_status(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/sms").respond_with_data("provider down", status=500)
    with (
        HttpSmsGateway(httpserver.url_for("/sms"), timeout_s=5) as gateway,
        pytest.raises(DeliveryFailed, match="HTTP 500 provider down"),
    ):
        gateway.send("13900000001", BODY, KEY)


def test_a_refusal_is_a_failed_delivery(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/sms").respond_with_data("bad phone", status=400)
    with (
        HttpSmsGateway(httpserver.url_for("/sms"), timeout_s=5) as gateway,
        pytest.raises(DeliveryFailed, match="refused the message: HTTP 400"),
    ):
        gateway.send("1", BODY, KEY)


def test_a_slow_server_is_a_failed_delivery(httpserver: HTTPServer) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(0.5)
        return Response("late", status=200)

    httpserver.expect_request("/sms").respond_with_handler(slow)
    with (
        HttpSmsGateway(httpserver.url_for("/sms"), timeout_s=0.1) as gateway,
        pytest.raises(DeliveryFailed, match="did not answer in time"),
    ):
        gateway.send("1", BODY, KEY)


def test_a_server_that_is_not_there_is_a_failed_delivery(httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/sms")
    httpserver.stop()
    try:
        with (
            HttpSmsGateway(url, timeout_s=1) as gateway,
            pytest.raises(DeliveryFailed, match="could not be reached"),
        ):
            gateway.send("1", BODY, KEY)
    finally:
        httpserver.start()


@pytest.mark.parametrize("url", ["ftp://example/sms", "not a url", ""])
def test_an_http_gateway_url_that_is_not_http_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="SMS gateway URL"):
        HttpSmsGateway(url, timeout_s=1)


# --- from settings ---------------------------------------------------------------------------


def test_the_default_gateway_is_the_file(tmp_path: Path) -> None:
    gateway = sms_gateway_from_settings(Settings(sms_file=str(tmp_path / "out.jsonl")))
    assert isinstance(gateway, FileSmsGateway)
    assert gateway.path == tmp_path / "out.jsonl"
    assert Settings().sms_gateway == "file"


def test_settings_choose_the_console_and_http_gateways() -> None:
    assert isinstance(sms_gateway_from_settings(Settings(sms_gateway="console")), ConsoleSmsGateway)
    gateway = sms_gateway_from_settings(
        Settings(sms_gateway="http", sms_http_url="http://127.0.0.1:9/sms")
    )
    assert isinstance(gateway, HttpSmsGateway)
    gateway.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            Settings(sms_gateway="smpp"),
            "unknown sms_gateway 'smpp': use one of file, console, http",
        ),
        (Settings(sms_gateway="http"), "sms_http_url is not set"),
        (
            Settings(sms_gateway="http", sms_http_url="http://127.0.0.1/", sms_http_timeout_s=0),
            "timeout must be positive",
        ),
    ],
)
def test_gateway_settings_that_cannot_work_are_config_errors(
    settings: Settings, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        sms_gateway_from_settings(settings)
