"""schemathesis against the partner API's OpenAPI spec: no generated request is a server error.

Every generated request is signed before it is sent (its body serialized once, signed, and
sent as those very bytes), so requests get past the signature to the endpoints' own checks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from gridpay import bootstrap
from gridpay.services import partners
from tests.helpers_accounts import add_accounts
from tests.partner_client import signed_headers


@pytest.fixture
def partner(built: bootstrap.App) -> partners.Partner:
    add_accounts(built.store, [1, 2])
    add_accounts(built.store, [3], billing_mode="postpaid")
    return partners.add_partner(
        built.store, built.clock, code="ICBC", name="ICBC", kind="bank", day_max_yuan="100000"
    )


def test_partner_api_has_no_server_error(
    web_app: FastAPI, built: bootstrap.App, partner: partners.Partner
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", web_app).include(
        path_regex="^/partner/"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 3
    with TestClient(web_app, raise_server_exceptions=False) as client:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=60, suppress_health_check=list(HealthCheck), database=None)
            def signed_call(case: Any) -> None:
                _call(client, built, partner, case)

            signed_call()


def _aim_at_real_accounts(case: Any) -> None:
    """Point about half the generated requests at existing accounts (1 and 3, the postpaid
    one), so payments, look-ups and reversals get past "no such account" too."""
    params = case.path_parameters or {}
    if "account_no" in params and len(params["account_no"]) % 2 == 0:
        params["account_no"] = "0000000001"
    body = case.body
    reference = body.get("reference") if isinstance(body, dict) else None
    if isinstance(reference, str) and len(reference) % 2 == 0:
        body["account_no"] = "0000000001" if len(reference) % 4 else "0000000003"
        body["amount_yuan"] = "12.30"


def _call(client: TestClient, built: bootstrap.App, partner: partners.Partner, case: Any) -> None:
    _aim_at_real_accounts(case)
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    if kwargs.get("json") is not None:
        body = json.dumps(kwargs["json"]).encode()
    else:
        content = kwargs.get("content") or kwargs.get("data") or b""
        body = content.encode() if isinstance(content, str) else bytes(content)
    request = client.build_request(kwargs["method"], kwargs["url"], content=body)
    path = request.url.raw_path.split(b"?", 1)[0].decode("latin-1")
    timestamp_s = int(built.clock.now().timestamp())
    request.headers.update(
        signed_headers(partner.code, partner.secret, request.method, path, body, timestamp_s)
    )
    response = client.send(request)
    assert response.status_code < 500, (request.method, path, body, response.text)
    # Signed: the signature is never what refuses a generated request.
    assert response.status_code != 401, (request.method, path, body, response.text)
