"""schemathesis over the paying-online endpoints (from the app's OpenAPI spec): no input, however
odd, makes a server error, and none credits anything."""

from __future__ import annotations

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from gridpay import bootstrap
from tests.http.test_wallet_api import paying, wallet  # noqa: F401  (fixtures)
from tests.http.wallet_helpers import ledger_snapshot, wallet_keys  # noqa: F401

EXAMPLES_PER_OPERATION = 60


def test_paying_online_endpoints_make_no_server_error(
    paying: bootstrap.App,  # noqa: F811
    web_app: FastAPI,
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", web_app).include(
        path_regex="^/(pay|wallet)"
    )
    before = ledger_snapshot(paying.store)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "GET /pay",
        "POST /pay",
        "GET /pay/orders/{order_id}",
        "GET /pay/orders/{order_id}/wallet",
        "POST /wallet/notify",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            suppress_health_check=list(HealthCheck),
            deadline=None,
        )
        def no_server_error(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            assert response.status_code < 500, (case.path, response.status_code, response.text)

        no_server_error()
    assert ledger_snapshot(paying.store) == before
