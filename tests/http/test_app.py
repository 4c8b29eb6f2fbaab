"""The HTTP app's frame: health, errors as JSON with stable codes, headers, metrics, access log."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from gridpay.entrypoints.cli._common import EXIT_CODES
from gridpay.entrypoints.http.app import CONTENT_SECURITY_POLICY, HTTP_STATUS, create_app
from gridpay.errors import Forbidden, GridpayError, NotFound, RateLimited, Refused


def test_healthz_answers_with_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_with_a_code_when_the_database_is_gone(
    client: TestClient, built, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    def gone() -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(built.store, "ping", gone)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unreachable"


def test_every_error_code_has_an_http_status_and_an_exit_code() -> None:
    codes = {cls.code for cls in _subclasses(GridpayError)} - {"error"}
    assert codes <= set(HTTP_STATUS), codes - set(HTTP_STATUS)
    assert codes <= set(EXIT_CODES), codes - set(EXIT_CODES)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no account 0000000009"), 404),
        (Refused("the account is postpaid"), 409),
        (Forbidden("another household's account"), 403),
        (RateLimited("too many codes"), 429),
    ],
)
def test_a_gridpay_error_becomes_json_with_its_code(web_app: FastAPI, error, status) -> None:  # type: ignore[no-untyped-def]
    @web_app.get("/boom")
    def boom() -> None:
        raise error

    with TestClient(web_app) as client:
        response = client.get("/boom")
    assert response.status_code == status
    assert response.json() == {"error": {"code": error.code, "message": error.message}}


def test_unknown_path_and_bad_input_are_json_too(web_app: FastAPI) -> None:
    @web_app.get("/items/{n}")
    def item(n: int) -> dict[str, int]:
        return {"n": n}

    with TestClient(web_app) as client:
        missing = client.get("/no-such-page")
        bad = client.get("/items/seven")
        good = client.get("/items/7")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    assert "n" in bad.json()["error"]["message"]
    assert good.json() == {"n": 7}


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in ("/", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-request-id"]
        assert "strict-transport-security" not in headers  # plain http, no TLS proxy


def test_hsts_only_behind_tls(built) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    built.settings = replace(built.settings, http_behind_tls=True)
    with TestClient(create_app(built), base_url="https://testserver") as client:
        assert "max-age" in client.get("/healthz").headers["strict-transport-security"]


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/healthz")
    text = client.get("/metrics").text
    assert 'gridpay_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text


def test_openapi_spec_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/healthz" in spec["paths"]


def test_access_log_is_json_with_phones_masked(
    web_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @web_app.get("/lookup/{phone}")
    def lookup(phone: str) -> dict[str, str]:
        return {"ok": "yes"}

    with caplog.at_level(logging.INFO, logger="gridpay.http.access"), TestClient(web_app) as c:
        c.get("/lookup/13812345678?phone=13987654321")
    (record,) = [r for r in caplog.records if r.name == "gridpay.http.access"]
    line = json.loads(record.getMessage())
    assert line["path"] == "/lookup/138****5678"
    assert "13812345678" not in record.getMessage()
    assert "13987654321" not in record.getMessage()  # the query string is never logged
    assert line["status"] == 200 and line["route"] == "/lookup/{phone}"
