"""Alibaba Cloud SMS (Dysmsapi 2017-05-25) through its official SDK: templates and receipts.

Only registered content goes out: ``SendSms`` takes the phone, the registered sign name, a
template code per message kind (``sms_templates`` in the settings) and the template's parameters
as JSON; ``OutId`` carries our dedupe key. The answer's ``BizId`` names the message, and
``QuerySendDetails`` (phone, send date, ``BizId``) reports its delivery: ``SendStatus`` 1 waiting
for the receipt, 2 failed (``ErrCode``), 3 delivered (``ReceiveDate``, China time).

The access key comes from the environment only (``ALIBABA_CLOUD_ACCESS_KEY_ID`` /
``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, the names Alibaba's own tools read), never from a file that
could be shown or committed. Errors name no key and no full phone number: what is kept with a
message and shown to staff masks the middle digits. The endpoint is configurable, so tests
point the SDK at a local stand-in.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_util import models as util_models
from Tea.exceptions import TeaException

from gridpay import limits
from gridpay.errors import ConfigError, DeliveryFailed, InvalidInput
from gridpay.ports.gateways import DeliveryReport, PushedReceipt

ACCESS_KEY_ID_ENV = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ACCESS_KEY_SECRET_ENV = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com"
# The provider's dates (``SendDate`` asked, ``ReceiveDate`` reported) are China time.
PROVIDER_ZONE = ZoneInfo("Asia/Shanghai")
# QuerySendDetails ``SendStatus``.
STATUS_WAITING, STATUS_FAILED, STATUS_DELIVERED = 1, 2, 3


def masked_phone(phone: str) -> str:
    """A phone number fit for logs and errors: 139****0001."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


class AliyunSmsGateway:
    """``ports.gateways.TemplateSmsGateway`` for Alibaba Cloud SMS."""

    def __init__(
        self,
        *,
        endpoint: str,
        sign_name: str,
        templates: Mapping[str, str],
        access_key_id: str,
        access_key_secret: str,
        timeout_s: float,
    ) -> None:
        scheme, host = _endpoint_parts(endpoint)
        if not sign_name.strip():
            raise ConfigError("sms_sign_name (the registered SMS signature) must not be empty")
        if not access_key_id or not access_key_secret:
            raise ConfigError(
                f"Alibaba Cloud SMS needs {ACCESS_KEY_ID_ENV} and {ACCESS_KEY_SECRET_ENV} in "
                "the environment"
            )
        if not timeout_s > 0:
            raise ConfigError(f"SMS gateway timeout must be positive seconds; got {timeout_s}")
        self.endpoint = f"{scheme}://{host}"
        self._sign_name = sign_name
        self._templates = dict(templates)
        self._client = Client(
            openapi_models.Config(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                endpoint=host,
                protocol=scheme,
            )
        )
        timeout_ms = int(timeout_s * 1000)
        # One attempt per call: the outbox worker owns retries, with its back-off.
        self._runtime = util_models.RuntimeOptions(
            read_timeout=timeout_ms, connect_timeout=timeout_ms, autoretry=False
        )

    def submit(self, phone: str, kind: str, params: Mapping[str, str], dedupe_key: str) -> str:
        template_code = self._templates.get(kind)
        if template_code is None:
            raise DeliveryFailed(f"no SMS template code is configured for {kind} messages")
        request = sms_models.SendSmsRequest(
            phone_numbers=phone,
            sign_name=self._sign_name,
            template_code=template_code,
            template_param=json.dumps(dict(params), ensure_ascii=False, separators=(",", ":")),
            out_id=dedupe_key,
        )
        body = self._call("SendSms", phone, self._client.send_sms_with_options, request)
        if body.code != "OK" or not body.biz_id:
            raise DeliveryFailed(
                f"Alibaba Cloud SMS refused the message to {masked_phone(phone)}: "
                f"{body.code} {str(body.message or '')[:100]}"
            )
        return str(body.biz_id)

    def receipt(self, phone: str, provider_ref: str, sent_at: dt.datetime) -> DeliveryReport | None:
        request = sms_models.QuerySendDetailsRequest(
            phone_number=phone,
            biz_id=provider_ref,
            send_date=sent_at.astimezone(PROVIDER_ZONE).strftime("%Y%m%d"),
            page_size=10,
            current_page=1,
        )
        body = self._call(
            "QuerySendDetails", phone, self._client.query_send_details_with_options, request
        )
        if body.code != "OK":
            raise DeliveryFailed(
                f"Alibaba Cloud SMS could not report on a message to {masked_phone(phone)}: "
                f"{body.code}"
            )
        details = body.sms_send_detail_dtos.sms_send_detail_dto if body.sms_send_detail_dtos else []
        for detail in details or []:
            status = int(detail.send_status or STATUS_WAITING)
            if status == STATUS_DELIVERED:
                return DeliveryReport(delivered=True, at=_provider_time(detail.receive_date))
            if status == STATUS_FAILED:
                return DeliveryReport(
                    delivered=False,
                    at=_provider_time(detail.receive_date),
                    error_code=str(detail.err_code or "failed"),
                )
        return None  # not known yet, or waiting for the operator's receipt

    def close(self) -> None:
        pass

    def _call(
        self, action: str, phone: str, method: Callable[[Any, Any], Any], request: object
    ) -> Any:
        """One SDK call; its errors as ``DeliveryFailed`` naming neither the key nor the phone
        (the SDK's own messages carry the request's URL, phone number included)."""
        try:
            response = method(request, self._runtime)
        except TeaException as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            raise DeliveryFailed(
                f"Alibaba Cloud SMS {action} for {masked_phone(phone)} failed at "
                f"{self.endpoint}: {str(code)[:80]}"
            ) from None
        return response.body


def _endpoint_parts(endpoint: str) -> tuple[str, str]:
    """(scheme, host[:port]) of the configured endpoint URL."""
    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"sms_aliyun_endpoint is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/"):
        raise ConfigError(
            f"sms_aliyun_endpoint {endpoint!r} must be http(s)://host[:port] with no path"
        )
    if url.username or url.password or url.query:
        raise ConfigError("sms_aliyun_endpoint must carry no credentials and no query")
    host = url.host if url.port is None else f"{url.host}:{url.port}"
    return url.scheme, host


def _provider_time(text: str | None) -> dt.datetime | None:
    """The provider's 'YYYY-MM-DD HH:MM:SS' (China time) as an aware UTC instant."""
    if not text:
        return None
    try:
        local = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=PROVIDER_ZONE).astimezone(dt.UTC)


def access_key_from_environment() -> tuple[str, str]:
    return os.environ.get(ACCESS_KEY_ID_ENV, ""), os.environ.get(ACCESS_KEY_SECRET_ENV, "")


# --- receipts pushed by HTTP (SmsReport) ----------------------------------------------------


def pushed_receipts(payload: Any) -> list[PushedReceipt]:
    """The receipts of one ``SmsReport`` HTTP push: a JSON array of objects with
    ``phone_number``, ``send_time``, ``report_time`` (China time), ``success``, ``err_code``,
    ``err_msg``, ``sms_size``, ``biz_id`` and ``out_id`` (SendSms's OutId: our dedupe key).

    Documented at https://help.aliyun.com/document_detail/101867.html (SmsReport, HTTP batch
    push; English: https://help.aliyun.com/en/sms/developer-reference/smsreport-http): one
    request may carry many reports; the receiver answers HTTP 200 with ``{"code": 0, ...}``,
    anything else is pushed again after 1, 5 and 10 minutes. The push carries no signature.

    ``InvalidInput`` for a body that is not such an array (nothing of it is taken).
    """
    if not isinstance(payload, list):
        raise InvalidInput("an SmsReport push is a JSON array of reports")
    if len(payload) > limits.sms_receipts_per_push_max:
        raise InvalidInput(f"more than {limits.sms_receipts_per_push_max} reports in one push")
    return [_pushed(item) for item in payload]


def _pushed(item: Any) -> PushedReceipt:
    if not isinstance(item, dict):
        raise InvalidInput("an SmsReport report is a JSON object")
    biz_id, success = item.get("biz_id"), item.get("success")
    if not isinstance(biz_id, str) or not biz_id or len(biz_id) > 64:
        raise InvalidInput("an SmsReport report needs its biz_id")
    if not isinstance(success, bool):
        raise InvalidInput(f"report {biz_id}: success must be true or false")
    out_id = item.get("out_id")
    error_code = item.get("err_code")
    reported = item.get("report_time")
    at = _provider_time(reported if isinstance(reported, str) else None)  # None: when it came
    report = DeliveryReport(
        delivered=success,
        at=at,
        error_code=None if success else str(error_code or "UNKNOWN")[:64],
    )
    return PushedReceipt(biz_id, out_id if isinstance(out_id, str) and out_id else None, report)
