"""Settings: defaults, overridden by a TOML file (GRIDPAY_CONFIG) and environment variables.

Everything a deployment changes lives here, not in code: the database, the service offices,
the largest accepted payment, the company's name and hotline.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from gridpay import limits
from gridpay.errors import ConfigError

DEFAULT_DB_PATH = "gridpay.db"
ENVIRONMENTS = ("production", "test", "drill")
HEAD_ENDS = ("simulated", "dlt645")
# The supply's nominal voltage (China's single-phase mains): with a breaker's current it bounds
# the energy a day can deliver, which the settlement's reading checks use.
NOMINAL_VOLTAGE_V = 220
DEFAULT_OFFICES = (
    "Office 1 (Jianxi)",
    "Office 2 (Xigong)",
    "Office 3 (Laocheng)",
    "Office 4 (Chanhe)",
    "Office 5 (Luolong)",
    "Office 6 (Yibin)",
)


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    time_zone: str = "Asia/Shanghai"
    offices: tuple[str, ...] = DEFAULT_OFFICES
    payment_amount_fen_max: int = limits.payment_amount_fen_max_default
    company_name: str = "State Grid Henan Electric Power Company"
    hotline: str = "95598"
    nominal_voltage_v: int = NOMINAL_VOLTAGE_V
    # A meter whose readings are quarantined for more than this many days raises a staff task.
    readings_quarantine_task_days: int = limits.readings_quarantine_task_days_default
    # Customer messages: the Chinese name signs every SMS; the gateway is file | console | http.
    company_name_zh: str = "国网河南省电力公司"
    sms_gateway: str = "file"
    sms_file: str = "gridpay-sms.jsonl"
    sms_http_url: str | None = None
    sms_http_timeout_s: float = 5.0  # also the Alibaba Cloud SMS requests' timeout
    # Alibaba Cloud SMS (sms_gateway = "aliyun"): the endpoint, the registered signature, and a
    # registered template code per message kind (a [sms_templates] table: kind = "SMS_...").
    # The access key only from the environment (adapters/sms_aliyun.py).
    sms_aliyun_endpoint: str = "https://dysmsapi.aliyuncs.com"
    sms_sign_name: str | None = None
    sms_templates: tuple[tuple[str, str], ...] = ()
    # The secret last part of the URL Alibaba Cloud pushes delivery receipts to
    # (/sms/aliyun/receipts/<token>): its SmsReport push carries no signature, so the URL is
    # the secret (at least 32 characters; unset: no such URL). Or GRIDPAY_SMS_RECEIPT_TOKEN.
    sms_receipt_push_token: str | None = None
    # The credit policy: a shipped policy by code, or an operator's policy file (which wins);
    # the holiday override file for years the calendar library does not know yet.
    credit_policy: str = "henan-default"
    credit_policy_file: str | None = None
    holiday_override_file: str | None = None
    # The meter head-end every command path uses: "dlt645" (a DL/T 645-2007 gateway or
    # concentrator at head_end_host:head_end_port) or "simulated" (in memory: it confirms
    # commands no relay carried out, for tests, demos and drills).
    head_end: str = "simulated"
    head_end_latency_s: tuple[float, float] = (0.5, 5.0)  # simulated only
    head_end_failure_rate: float = 0.0  # simulated only
    head_end_host: str = "127.0.0.1"
    head_end_port: int = 8645
    head_end_connections: int = limits.dlt645_connections_max
    head_end_in_flight: int = limits.dlt645_requests_in_flight_max
    head_end_reply_timeout_s: float = limits.dlt645_reply_timeout_s
    head_end_attempts: int = limits.dlt645_attempts_max
    head_end_time_sync_every_s: float = limits.dlt645_time_sync_every_s
    # Commands per second the dispatcher sends the head-end, with a burst allowance (a mass
    # reconnection waits in the queue instead of flooding a head-end that cannot take it). A
    # DL/T 645 gateway bounds its own requests in flight (head_end_in_flight), so it may be
    # given a much larger rate: the switching target needs the whole burst taken at once.
    head_end_commands_per_s: float = limits.command_rate_per_head_end_per_s
    head_end_command_burst: int = limits.command_burst_per_head_end
    # What this database is: "production" refuses `gridpay run --now` (a business date) unless
    # the operator allows it; "test" and "drill" databases take one freely.
    environment: str = "production"
    # Days missed before yesterday that ``gridpay run`` settles on its own after an outage;
    # beyond them it waits for an operator (at most ``limits.night_catch_up_days_max``).
    catch_up_days_max: int = 3
    # The HTTP app (`gridpay serve`): where it listens, and whether a TLS proxy fronts it (then
    # HSTS is sent and cookies are Secure-only over https).
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_behind_tls: bool = False
    # `gridpay serve`'s worker processes (uvicorn --workers): one Python process answers on
    # one core at most, so a machine with N cores to spare serves best with about N. Each worker
    # builds its own gridpay from the same configuration; SQLite's writers queue on its lock.
    http_workers: int = 1
    # Households' sessions: signed out after this many days however active, and after this many
    # minutes without a page (a phone left on a table, a shared tablet).
    household_session_days: int = 30
    household_session_idle_minutes: int = 120
    # The partner API: how far a request's X-Timestamp may be from the server's clock, either way
    # (a nonce is remembered at least this long, so a replay inside the window is refused).
    partner_signature_window_s: int = limits.partner_signature_window_s_default
    # Paying online through a wallet (Alipay-style RSA2): our app id at the wallet, its gateway,
    # the URLs it calls back and returns the browser to, our private key (signs our requests) and
    # the wallet's public key (verifies its notifications). Keys are PEM files or, for secrets
    # kept out of files, GRIDPAY_WALLET_PRIVATE_KEY / GRIDPAY_WALLET_PUBLIC_KEY (PEM text).
    wallet_app_id: str | None = None
    wallet_gateway_url: str | None = None
    wallet_notify_url: str | None = None
    wallet_return_url: str | None = None
    wallet_private_key_file: str | None = None
    wallet_public_key_file: str | None = None
    wallet_timeout_s: float = 5.0
    # An order still unpaid this long after it was made is asked about at the wallet (its
    # callback may never come); one older than ``wallet_order_expire_s`` is closed.
    wallet_query_after_s: float = 120.0
    wallet_order_expire_s: float = 1800.0


def load_settings(db: str | None = None, config_path: str | None = None) -> Settings:
    """Defaults < config file < environment < explicit ``--db``.

    The file is checked whole before anything runs: an unknown key (a misspelt one would
    otherwise be silently ignored), a value of the wrong type or a negative number is a
    ``ConfigError`` naming the key.
    """
    settings = Settings()
    path = config_path or os.environ.get("GRIDPAY_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        settings = replace(settings, **_checked(data, path))
    env_url = os.environ.get("GRIDPAY_DATABASE_URL")
    if env_url:
        settings = replace(settings, database_url=database_url(env_url))
    if db:
        settings = replace(settings, database_url=database_url(db))
    _check_environment(settings.environment)
    if settings.head_end not in HEAD_ENDS:
        raise ConfigError(f"head_end = {settings.head_end!r}: use one of {', '.join(HEAD_ENDS)}")
    if not 0 <= settings.catch_up_days_max <= limits.night_catch_up_days_max:
        raise ConfigError(
            f"catch_up_days_max must be between 0 and {limits.night_catch_up_days_max}; "
            f"got {settings.catch_up_days_max!r}"
        )
    return settings


def _check_environment(environment: object) -> None:
    if environment not in ENVIRONMENTS:
        known = ", ".join(ENVIRONMENTS)
        raise ConfigError(f"environment = {environment!r} in the config file: use one of {known}")


def database_url(text: str) -> str:
    """A database URL, or a plain path taken as a SQLite file (as ``--db`` accepts)."""
    return text if "://" in text else f"sqlite:///{text}"


# Settings that must be above zero; every other number must at least not be negative.
_POSITIVE = frozenset(
    {
        "payment_amount_fen_max",
        "nominal_voltage_v",
        "sms_http_timeout_s",
        "http_port",
        "http_workers",
        "head_end_connections",
        "head_end_in_flight",
        "head_end_reply_timeout_s",
        "head_end_attempts",
        "head_end_time_sync_every_s",
        "head_end_commands_per_s",
        "head_end_command_burst",
        "household_session_days",
        "household_session_idle_minutes",
        "partner_signature_window_s",
        "wallet_timeout_s",
        "wallet_order_expire_s",
    }
)
_FRACTIONS = frozenset({"head_end_failure_rate"})  # from 0 to 1


def _checked(data: dict[str, Any], path: str) -> dict[str, Any]:
    hints = get_type_hints(Settings)
    known = [f.name for f in fields(Settings)]
    values = {}
    for key, value in data.items():
        if key not in hints:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown setting {key!r} in {path}{hint}")
        values[key] = _converted(key, value, hints[key], path)
        _check_range(key, values[key], path)
    return values


def _converted(key: str, value: Any, hint: Any, path: str) -> Any:
    """``value`` as the setting's type (a TOML list becomes a tuple), or a ``ConfigError``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        # Only "X | None" settings exist; TOML has no null, so the value must be an X.
        (inner,) = [a for a in args if a is not type(None)]
        return _converted(key, value, inner, path)
    if origin is tuple and isinstance(value, dict) and get_origin(args[0]) is tuple:
        # A TOML table of texts (``[sms_templates]``): its (key, value) pairs, sorted.
        value = [[k, v] for k, v in sorted(value.items())]
    if origin is tuple:
        items = args[:1] * len(value) if args[-1] is Ellipsis else args
        try:
            if not isinstance(value, list) or len(value) != len(items):
                raise _wrong_type(key, value, _type_name(hint), path)
            return tuple(_converted(key, v, t, path) for v, t in zip(value, items, strict=True))
        except ConfigError:
            raise _wrong_type(key, value, _type_name(hint), path) from None
    if hint is bool and isinstance(value, bool):
        return value
    if hint is float and _is_number(value):
        return float(value)
    if hint is int and _is_number(value) and isinstance(value, int):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise _wrong_type(key, value, _type_name(hint), path)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_name(hint: Any) -> str:
    if get_origin(hint) is tuple:
        args = get_args(hint)
        count = "" if args[-1] is Ellipsis else f"{len(args)} "
        return (
            f"a list of {count}{ {int: 'whole numbers', float: 'numbers'}.get(args[0], 'texts') }"
        )
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
    return names.get(hint, str(hint))


def _wrong_type(key: str, value: Any, expected: str, path: str) -> ConfigError:
    given = f"{type(value).__name__} {value!r}"
    return ConfigError(f"setting {key} in {path} must be {expected}, not {given}")


def _check_range(key: str, value: Any, path: str) -> None:
    numbers = value if isinstance(value, tuple) else (value,)
    for number in (n for n in numbers if _is_number(n)):
        if key in _POSITIVE and number <= 0:
            raise ConfigError(f"setting {key} in {path} must be above 0, not {number}")
        if number < 0:
            raise ConfigError(f"setting {key} in {path} must not be negative, not {number}")
        if key in _FRACTIONS and number > 1:
            raise ConfigError(f"setting {key} in {path} must be from 0 to 1, not {number}")
