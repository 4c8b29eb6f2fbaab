"""SMS gateways: a JSON-lines file (the default), the console, and an HTTP provider.

Each implements ``ports.gateways.SmsGateway``: ``send`` returns when the gateway has taken the
message and raises ``errors.DeliveryFailed`` when it has not (the worker retries later). The
dedupe key goes with every message, so a gateway that supports it can drop the one duplicate a
crash between sending and recording can cause.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Self

import httpx

from gridpay.config import Settings
from gridpay.domain.messages import MessageKind
from gridpay.errors import ConfigError, DeliveryFailed
from gridpay.ports.clock import Clock

if TYPE_CHECKING:
    from gridpay.adapters.sms_aliyun import AliyunSmsGateway

SMS_GATEWAYS = ("file", "console", "http", "aliyun")
# The file holds phones, account numbers and balances: created for its owner alone (an existing
# file keeps its mode, which its owner chose).
SMS_FILE_MODE = 0o600


class FileSmsGateway:
    """Appends one JSON line per message (phone, body, dedupe_key, sent_at) to a file.

    The default: a newcomer can read what would have been sent, nothing leaves the machine.
    """

    def __init__(self, path: str | Path, clock: Clock | None = None) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ConfigError(f"cannot write SMS to {self.path}: no folder {self.path.parent}")
        self._clock = clock

    def send(self, phone: str, body: str, dedupe_key: str) -> None:
        sent_at = self._clock.now() if self._clock else dt.datetime.now(dt.UTC)
        line = json.dumps(
            {
                "phone": phone,
                "body": body,
                "dedupe_key": dedupe_key,
                "sent_at": sent_at.isoformat(),
            },
            ensure_ascii=False,
        )
        try:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            with open(os.open(self.path, flags, SMS_FILE_MODE), "a", encoding="utf-8") as file:
                file.write(line + "\n")
        except OSError as exc:
            raise DeliveryFailed(f"cannot write SMS to {self.path}: {exc}") from None

    def close(self) -> None:
        pass


class ConsoleSmsGateway:
    """Prints each message through ``console_writer`` (one line per message)."""

    def __init__(self, console_writer: Callable[[str], None]) -> None:
        self._write = console_writer

    def send(self, phone: str, body: str, dedupe_key: str) -> None:
        self._write(f"SMS to {phone} [{dedupe_key}]: {body}")

    def close(self) -> None:
        pass


def shown_url(url: str) -> str:
    """The provider's URL fit to print, log or store with a failed message: without the user
    part and the query, where providers put their tokens."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<the configured sms_http_url>"
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


class HttpSmsGateway:
    """POSTs ``{"phone", "body", "dedupe_key"}`` as JSON to a provider's URL.

    The dedupe key also travels as the ``Idempotency-Key`` header. A 2xx answer means the
    provider took the message; anything else, a timeout or a connection error raises
    ``DeliveryFailed``. Holds one HTTP client (connection reuse); ``close()`` it when done.
    """

    def __init__(self, url: str, timeout_s: float) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"SMS gateway URL (sms_http_url) is not valid: {exc}") from None
        self.shown_url = shown_url(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(
                f"SMS gateway URL {self.shown_url!r} must be http:// or https:// with a host"
            )
        if not timeout_s > 0:
            raise ConfigError(f"SMS gateway timeout must be positive seconds; got {timeout_s}")
        self.url = url
        self._client = httpx.Client(timeout=timeout_s)

    def send(self, phone: str, body: str, dedupe_key: str) -> None:
        payload = {"phone": phone, "body": body, "dedupe_key": dedupe_key}
        try:
            response = self._client.post(
                self.url, json=payload, headers={"Idempotency-Key": dedupe_key}
            )
        except httpx.TimeoutException:
            raise DeliveryFailed(f"SMS gateway {self.shown_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(
                f"SMS gateway {self.shown_url} could not be reached: {type(exc).__name__}"
            ) from None
        if not response.is_success:
            raise DeliveryFailed(
                f"SMS gateway {self.shown_url} refused the message: HTTP {response.status_code} "
                f"{response.text[:100]}"
            )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sms_gateway_from_settings(
    settings: Settings,
    clock: Clock | None = None,
    console_writer: Callable[[str], None] = print,
) -> FileSmsGateway | ConsoleSmsGateway | HttpSmsGateway | AliyunSmsGateway:
    """The gateway the settings choose (``sms_gateway``: file | console | http | aliyun)."""
    if settings.sms_gateway == "file":
        return FileSmsGateway(Path(settings.sms_file).expanduser(), clock)
    if settings.sms_gateway == "console":
        return ConsoleSmsGateway(console_writer)
    if settings.sms_gateway == "http":
        if not settings.sms_http_url:
            raise ConfigError("sms_gateway is 'http' but sms_http_url is not set")
        return HttpSmsGateway(settings.sms_http_url, settings.sms_http_timeout_s)
    if settings.sms_gateway == "aliyun":
        return aliyun_gateway(settings)
    raise ConfigError(
        f"unknown sms_gateway {settings.sms_gateway!r}: use one of {', '.join(SMS_GATEWAYS)}"
    )


def aliyun_gateway(settings: Settings) -> AliyunSmsGateway:
    """Alibaba Cloud SMS: every message kind needs its registered template code."""
    # The SDK is imported only when chosen: it is large, and the other gateways need none of it.
    from gridpay.adapters.sms_aliyun import AliyunSmsGateway, access_key_from_environment

    templates = sms_templates(settings)
    if not settings.sms_sign_name:
        raise ConfigError("sms_gateway is 'aliyun' but sms_sign_name is not set")
    key_id, key_secret = access_key_from_environment()
    return AliyunSmsGateway(
        endpoint=settings.sms_aliyun_endpoint,
        sign_name=settings.sms_sign_name,
        templates=templates,
        access_key_id=key_id,
        access_key_secret=key_secret,
        timeout_s=settings.sms_http_timeout_s,
    )


def sms_templates(settings: Settings) -> dict[str, str]:
    """The ``[sms_templates]`` table checked: a known kind each, a code for every kind."""
    templates = dict(settings.sms_templates)
    kinds = [k.value for k in MessageKind]
    unknown = sorted(set(templates) - set(kinds))
    if unknown:
        raise ConfigError(
            f"[sms_templates] names unknown message kinds {unknown}: use {', '.join(kinds)}"
        )
    missing = [k for k in kinds if not templates.get(k, "").strip()]
    if missing:
        raise ConfigError(
            f"[sms_templates] needs a registered template code for {', '.join(missing)} "
            "(sms_gateway 'aliyun' sends templates only)"
        )
    return templates
