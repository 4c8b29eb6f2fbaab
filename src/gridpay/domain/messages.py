"""Customer messages (SMS): kinds, templates in Chinese and English, dedupe keys, retries.

Texts follow the programme's own four messages (agreement, early warning, arrears notice,
payment and restoration) plus the second notice before a cut, the note to a protected
customer's family and the notice of leaving. Each is one short SMS ending with the company's
name and hotline, which are configuration (``Brand``), not code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import polars as pl

from gridpay.domain.money import format_fen
from gridpay.domain.text import printable
from gridpay.errors import InvalidInput


class MessageKind(StrEnum):
    AGREEMENT = "agreement"  # SMS 1: the smart-payment agreement is signed
    WARNING = "warning"  # SMS 2: the balance covers fewer than N days
    ARREARS = "arrears"  # SMS 3: balance <= 0, pay by <date> or supply is cut
    # SMS 3 when the arrears rest on estimated readings: no cut is threatened, because none
    # may follow until the meter is read (DESIGN.md); the customer is asked to pay to be safe.
    ARREARS_ESTIMATED = "arrears_estimated"
    CUT_SOON = "cut_soon"  # the second notice shortly before the cut
    RESTORED = "restored"  # SMS 4: paid x, balance y, supply being restored
    TRUSTED_CONTACT = "trusted_contact"  # to family of a protected customer in arrears
    LEFT = "left"  # the customer left the programme
    PHONE_CODE = "phone_code"  # the code confirming a new SMS phone, sent to that phone
    # The old owner's final statement on a change of owner (过户), to the old owner's phone.
    OWNER_FINAL = "owner_final"
    SIGN_IN_CODE = "sign_in_code"  # the code that signs a household in to its pages


class MessageStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENT = "sent"  # the gateway took it
    FAILED = "failed"  # every attempt failed; a person has to look


class Receipt(StrEnum):
    """What is known about a sent message reaching the phone (``messages.receipt``)."""

    DELIVERED = "delivered"  # the provider's delivery receipt says it reached the phone
    UNDELIVERED = "undelivered"  # the provider reported a failure, or no receipt came in time
    # The gateway reports no receipts (file, console, plain HTTP): its acceptance is taken as
    # delivery, so a demo or a simulation without a real provider still reaches its cuts.
    ACCEPTED = "accepted"


LANGUAGES = ("zh", "en")


# A new message, as services add it to the outbox (``OutboxRepo.add``).
OUTBOX_SCHEMA: dict[str, Any] = {
    "dedupe_key": pl.String,
    "account_id": pl.Int64,
    "phone": pl.String,
    "language": pl.String,
    "kind": pl.String,
    "body": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
    # The template's parameters as a JSON object of texts (``template_params``): what a
    # provider that sends only registered templates is given instead of the body.
    "params": pl.String,
}

# A stored message (``OutboxRepo.list``): the ``messages`` table's columns.
STORED_MESSAGE_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    **{
        name: dtype for name, dtype in OUTBOX_SCHEMA.items() if name not in ("created_at", "params")
    },
    "status": pl.String,
    "attempts": pl.Int64,
    "created_at": OUTBOX_SCHEMA["created_at"],
    "next_attempt_at": pl.Datetime("us", "UTC"),
    "sent_at": pl.Datetime("us", "UTC"),
    "last_error": pl.String,
    "params": OUTBOX_SCHEMA["params"],
    "provider_ref": pl.String,  # the provider's id of the sent message (Alibaba's BizId)
    "receipt": pl.String,  # ``Receipt``; null while waiting for one
    "delivered_at": pl.Datetime("us", "UTC"),  # delivered (or accepted, see ``Receipt``)
    "delivery_error": pl.String,  # the provider's error code when undelivered
}


@dataclass(frozen=True)
class OutboxMessage:
    """A stored message, for the sender to work on (instants aware, UTC)."""

    id: int
    dedupe_key: str
    account_id: int | None
    phone: str
    language: str
    kind: MessageKind
    body: str
    status: MessageStatus
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    last_error: str | None
    params: str | None = None
    provider_ref: str | None = None
    receipt: str | None = None
    delivered_at: dt.datetime | None = None
    delivery_error: str | None = None


def dedupe_key(kind: MessageKind, account_id: int, cycle: int, phone: str) -> str:
    """Never the same notice twice: one per kind, account, credit cycle and phone."""
    return f"{kind.value}/{account_id:010d}/{cycle}/{phone}"


@dataclass(frozen=True)
class Brand:
    """Who the messages come from (configuration, not code)."""

    company_name_zh: str
    company_name_en: str
    hotline: str


# The values each kind's template needs (money in fen, dates as dt.date, instants as local
# dt.datetime). A missing value is our mistake, not the customer's: an assertion.
FIELDS: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.AGREEMENT: ("account_no",),
    MessageKind.WARNING: ("account_no", "as_of", "balance_fen"),
    MessageKind.ARREARS: ("account_no", "balance_fen", "pay_by"),
    MessageKind.ARREARS_ESTIMATED: ("account_no", "balance_fen"),
    MessageKind.CUT_SOON: ("account_no", "balance_fen", "cut_at"),
    MessageKind.RESTORED: ("account_no", "paid_fen", "balance_fen"),
    MessageKind.TRUSTED_CONTACT: ("account_no", "customer_name", "balance_fen", "pay_by"),
    MessageKind.LEFT: ("account_no", "refund_fen"),
    MessageKind.PHONE_CODE: ("account_no", "code", "minutes"),
    MessageKind.OWNER_FINAL: ("account_no", "last_day", "balance_fen"),
    MessageKind.SIGN_IN_CODE: ("account_no", "code", "minutes"),
}


def render(kind: MessageKind, language: str, brand: Brand, **values: object) -> str:
    """The message text in ``language`` ('zh' or 'en')."""
    if language not in LANGUAGES:
        raise InvalidInput(
            f"message language {language!r} is not supported: use one of {', '.join(LANGUAGES)}"
        )
    missing = [name for name in FIELDS[kind] if name not in values]
    assert not missing, f"{kind.value} message needs {missing}"
    v = _Values(values, brand)
    if language == "zh":
        return f"{_ZH[kind](v)}客服热线{brand.hotline}。【{brand.company_name_zh}】"
    return f"{_EN[kind](v)} Hotline {brand.hotline}. {brand.company_name_en}"


def template_params(kind: MessageKind, **values: object) -> str:
    """The kind's values as a provider's template parameters: a JSON object of texts, names
    without units (``balance_fen`` -> ``balance`` in yuan), dates ISO, instants local
    ``YYYY-MM-DD HH:MM``. The same in every language: a provider's template carries the words."""
    missing = [name for name in FIELDS[kind] if name not in values]
    assert not missing, f"{kind.value} message needs {missing}"
    params: dict[str, str] = {}
    for name in FIELDS[kind]:
        value = values[name]
        if name.endswith("_fen"):
            assert isinstance(value, int) and not isinstance(value, bool), f"{name} must be fen"
            params[name.removesuffix("_fen")] = format_fen(value)
        elif isinstance(value, dt.datetime):
            params[name] = f"{value:%Y-%m-%d %H:%M}"
        elif isinstance(value, dt.date):
            params[name] = value.isoformat()
        else:
            assert isinstance(value, str), f"{name} must be text"
            params[name] = printable(value)
    return json.dumps(params, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class _Values:
    """Typed access to a template's values; a wrong type is our mistake (an assertion)."""

    def __init__(self, values: Mapping[str, object], brand: Brand) -> None:
        self._values = values
        self.brand = brand

    def text(self, name: str) -> str:
        value = self._values[name]
        assert isinstance(value, str), f"{name} must be text"
        # Names stored before imports refused control characters must not reach a phone raw.
        return printable(value)

    def yuan(self, name: str) -> str:
        value = self._values[name]
        assert isinstance(value, int) and not isinstance(value, bool), f"{name} must be fen"
        return format_fen(value)

    def fen(self, name: str) -> int:
        value = self._values[name]
        assert isinstance(value, int) and not isinstance(value, bool), f"{name} must be fen"
        return value

    def day(self, name: str) -> dt.date:
        value = self._values[name]
        assert isinstance(value, dt.date) and not isinstance(value, dt.datetime), name
        return value

    def instant(self, name: str) -> dt.datetime:
        value = self._values[name]
        assert isinstance(value, dt.datetime), f"{name} must be a local date and time"
        return value


# --- Chinese ---------------------------------------------------------------------------------

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _zh_day(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"


def _zh_instant(at: dt.datetime) -> str:
    return f"{_zh_day(at.date())}{at:%H:%M}"


def _en_day(day: dt.date) -> str:
    return f"{day.day} {_MONTHS_EN[day.month - 1]}"


def _en_instant(at: dt.datetime) -> str:
    return f"{at:%H:%M} on {_en_day(at.date())}"


def _zh_left(v: _Values) -> str:
    text = f"尊敬的客户{v.text('account_no')}：您已退出智能缴费，恢复按月抄表结算。"
    if v.fen("refund_fen") > 0:
        text += f"剩余预付电费{v.yuan('refund_fen')}元将退还给您。"
    return text


def _zh_owner_final(v: _Values) -> str:
    balance_fen = v.fen("balance_fen")
    text = (
        f"尊敬的客户{v.text('account_no')}：因过户，您的智能缴费协议于"
        f"{_zh_day(v.day('last_day'))}终止，最终余额{v.yuan('balance_fen')}元。"
    )
    if balance_fen > 0:
        text += f"{v.yuan('balance_fen')}元将退还给您。"
    elif balance_fen < 0:
        text += f"欠费{format_fen(-balance_fen)}元转入按月抄表结算，请按账单缴纳。"
    return text


_ZH: dict[MessageKind, Callable[[_Values], str]] = {
    MessageKind.AGREEMENT: lambda v: (
        f"尊敬的客户{v.text('account_no')}：您已成为{v.brand.company_name_zh}的预付费用户，"
        "电费按日结算。"
    ),
    MessageKind.WARNING: lambda v: (
        f"尊敬的客户{v.text('account_no')}：截至{_zh_day(v.day('as_of'))}，"
        f"您的用电即将超出预付电费，可用余额{v.yuan('balance_fen')}元，请尽快缴费。"
    ),
    MessageKind.ARREARS: lambda v: (
        f"尊敬的客户{v.text('account_no')}：您的电费已超出预付电费，"
        f"可用余额{v.yuan('balance_fen')}元，请于{_zh_day(v.day('pay_by'))}前缴费，"
        "逾期将自动停电。"
    ),
    MessageKind.ARREARS_ESTIMATED: lambda v: (
        f"尊敬的客户{v.text('account_no')}：按估算的用电量，您的电费已超出预付电费，"
        f"可用余额{v.yuan('balance_fen')}元。我们将尽快抄读您的电表，为稳妥起见，请及时缴费。"
    ),
    MessageKind.CUT_SOON: lambda v: (
        f"尊敬的客户{v.text('account_no')}：您的可用余额{v.yuan('balance_fen')}元，"
        f"将于{_zh_instant(v.instant('cut_at'))}停电。缴费后将自动恢复供电。"
    ),
    MessageKind.RESTORED: lambda v: (
        f"尊敬的客户{v.text('account_no')}：您已缴费{v.yuan('paid_fen')}元，"
        f"可用余额{v.yuan('balance_fen')}元，将尽快为您恢复供电。"
    ),
    MessageKind.TRUSTED_CONTACT: lambda v: (
        f"您好，您的家人{v.text('customer_name')}（户号{v.text('account_no')}）电费已欠费，"
        f"可用余额{v.yuan('balance_fen')}元，请协助于{_zh_day(v.day('pay_by'))}前缴费。"
        "该户不会停电，工作人员将与您联系。"
    ),
    MessageKind.LEFT: _zh_left,
    MessageKind.PHONE_CODE: lambda v: (
        f"您正在将本号码设为户号{v.text('account_no')}的短信通知号码，验证码{v.text('code')}，"
        f"{v.text('minutes')}分钟内有效。如非本人操作，请忽略。"
    ),
    MessageKind.OWNER_FINAL: _zh_owner_final,
    MessageKind.SIGN_IN_CODE: lambda v: (
        f"您正在登录户号{v.text('account_no')}的网上营业厅，验证码{v.text('code')}，"
        f"{v.text('minutes')}分钟内有效。请勿将验证码告诉他人。"
    ),
}


# --- English ---------------------------------------------------------------------------------


def _en_left(v: _Values) -> str:
    text = (
        f"Dear customer {v.text('account_no')}, you have left smart prepayment and are back "
        "on monthly billing."
    )
    if v.fen("refund_fen") > 0:
        text += f" Your remaining prepayment of {v.yuan('refund_fen')} yuan will be refunded."
    return text


def _en_owner_final(v: _Values) -> str:
    balance_fen = v.fen("balance_fen")
    text = (
        f"Dear customer {v.text('account_no')}, with the change of owner your smart "
        f"prepayment agreement ended on {_en_day(v.day('last_day'))}; final balance "
        f"{v.yuan('balance_fen')} yuan."
    )
    if balance_fen > 0:
        text += f" {v.yuan('balance_fen')} yuan will be refunded to you."
    elif balance_fen < 0:
        text += (
            f" The {format_fen(-balance_fen)} yuan owed goes to monthly billing; please pay it "
            "with your bill."
        )
    return text


_EN: dict[MessageKind, Callable[[_Values], str]] = {
    MessageKind.AGREEMENT: lambda v: (
        f"Dear customer {v.text('account_no')}, you are now a prepaid customer of "
        f"{v.brand.company_name_en}; charges are settled daily."
    ),
    MessageKind.WARNING: lambda v: (
        f"Dear customer {v.text('account_no')}, as of {_en_day(v.day('as_of'))} your use is "
        f"about to exceed your prepayment; available balance {v.yuan('balance_fen')} yuan; "
        "please pay soon."
    ),
    MessageKind.ARREARS: lambda v: (
        f"Dear customer {v.text('account_no')}, your charges exceed your prepayment; available "
        f"balance {v.yuan('balance_fen')} yuan; please pay by {_en_day(v.day('pay_by'))}, "
        "after which supply will be cut off automatically."
    ),
    MessageKind.ARREARS_ESTIMATED: lambda v: (
        f"Dear customer {v.text('account_no')}, by our estimate of your use your charges "
        f"exceed your prepayment; available balance {v.yuan('balance_fen')} yuan. We will "
        "read your meter soon; to be safe, please pay."
    ),
    MessageKind.CUT_SOON: lambda v: (
        f"Dear customer {v.text('account_no')}, available balance {v.yuan('balance_fen')} "
        f"yuan; supply will be cut off at {_en_instant(v.instant('cut_at'))}. Once you pay, "
        "supply is restored automatically."
    ),
    MessageKind.RESTORED: lambda v: (
        f"Dear customer {v.text('account_no')}, you have paid {v.yuan('paid_fen')} yuan; "
        f"available balance {v.yuan('balance_fen')} yuan; supply will be restored as soon as "
        "possible."
    ),
    MessageKind.TRUSTED_CONTACT: lambda v: (
        f"Hello, your family member {v.text('customer_name')} (account "
        f"{v.text('account_no')}) is behind with the electricity bill: available balance "
        f"{v.yuan('balance_fen')} yuan; please help pay by {_en_day(v.day('pay_by'))}. "
        "Supply will not be cut off; our staff will call you."
    ),
    MessageKind.LEFT: _en_left,
    MessageKind.PHONE_CODE: lambda v: (
        f"Your code to receive the messages of account {v.text('account_no')} on this phone "
        f"is {v.text('code')}, valid for {v.text('minutes')} minutes. If you did not ask, "
        "ignore this message."
    ),
    MessageKind.OWNER_FINAL: _en_owner_final,
    MessageKind.SIGN_IN_CODE: lambda v: (
        f"Your code to sign in to account {v.text('account_no')} is {v.text('code')}, valid "
        f"for {v.text('minutes')} minutes. Never tell anyone this code."
    ),
}

assert set(_ZH) == set(MessageKind)
assert set(_EN) == set(MessageKind)


# --- retries ---------------------------------------------------------------------------------


def next_attempt_at(
    failed_at: dt.datetime,
    attempts_made: int,
    *,
    attempts_max: int,
    retry_base_s: float,
    retry_cap_s: float,
) -> dt.datetime | None:
    """When to try again after ``attempts_made`` failed attempts; None to give up.

    Exponential back-off: ``retry_base_s``, then twice that, four times, ... at most
    ``retry_cap_s``.
    """
    assert attempts_made >= 1
    assert attempts_max >= 1
    if attempts_made >= attempts_max:
        return None
    delay_s = min(retry_base_s * 2 ** (attempts_made - 1), retry_cap_s)
    return failed_at + dt.timedelta(seconds=delay_s)
