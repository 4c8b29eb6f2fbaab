"""Fixtures for the HTTP app: an in-process client, a live server on loopback, a real browser.

The browser is Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) driven by
Playwright; never a browser build Playwright downloads. Without it the browser tests skip with a
visible reason on a laptop and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gridpay import bootstrap
from gridpay.config import Settings
from gridpay.entrypoints.http.app import create_app
from tests.conftest import IN_CI
from tests.fakes import FakeClock

CHROMIUM = os.environ.get("GRIDPAY_TEST_CHROMIUM", "/usr/bin/chromium")
# Flags for a closed network: without the background-networking ones Chromium keeps trying to
# reach Google's hosts at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}  # a common phone's CSS pixels


@pytest.fixture
def built(store, clock: FakeClock) -> Iterator[bootstrap.App]:  # type: ignore[no-untyped-def]
    """gridpay built over the test's initialised store (both engines) and its fake clock."""
    settings = replace(Settings(), database_url=store.url, environment="test")
    app = bootstrap.App(
        settings=settings, store=store, clock=clock, credit=bootstrap.credit_policy(settings)
    )
    yield app


@pytest.fixture
def web_app(built: bootstrap.App) -> FastAPI:
    return create_app(built)


@pytest.fixture
def client(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app) as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_server(web_app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a loopback port in a thread: its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(web_app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Debian's headless Chromium through Playwright (one browser per test process)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if IN_CI:
            pytest.fail(f"CI=true but {CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def phone_page(chromium):  # type: ignore[no-untyped-def]
    """A fresh browser context at a phone's screen size (its own cookies), and its page."""
    context = chromium.new_context(viewport=PHONE_VIEWPORT, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
