"""A property-based fuzz run of the app's endpoints from its OpenAPI spec (schemathesis):
whatever the inputs, signed in or not, no server error."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from tests.fakes import FakeClock
from tests.http.household_helpers import city, sign_in

EXAMPLES_PER_OPERATION = 25


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_input_makes_a_server_error(web_app: FastAPI, store, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    city(store, clock.today(), days=5)
    with TestClient(web_app) as client:
        sign_in(client, store)
        token = client.cookies.get("gp_session")
    assert token
    schema = schemathesis.openapi.from_asgi("/openapi.json", web_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/signin", "/home", "/statements/{month}.csv"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case) -> None:  # type: ignore[no-untyped-def]
            for cookies in ({}, {"gp_session": token}):
                response = case.call(cookies=cookies)
                assert response.status_code < 500, (case.method, case.path, response.text[:300])

        no_server_error()
