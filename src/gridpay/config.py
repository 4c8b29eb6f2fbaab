"""Settings: defaults, overridden by a TOML file (GRIDPAY_CONFIG) and environment variables.

Everything a deployment changes lives here, not in code: the database, the service offices,
the largest accepted payment, the company's name and hotline.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gridpay import limits
from gridpay.errors import ConfigError

DEFAULT_DB_PATH = "gridpay.db"
ENVIRONMENTS = ("production", "test", "drill")
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
    sms_http_timeout_s: float = 5.0
    # The credit policy: a shipped policy by code, or an operator's policy file (which wins);
    # the holiday override file for years the calendar library does not know yet.
    credit_policy: str = "henan-default"
    credit_policy_file: str | None = None
    holiday_override_file: str | None = None
    # The meter head-end: only the simulated one is built in (a DL/T 645 adapter is future work).
    head_end: str = "simulated"
    head_end_latency_s: tuple[float, float] = (0.5, 5.0)
    head_end_failure_rate: float = 0.0
    # What this database is: "production" refuses `gridpay run --now` (a business date) unless
    # the operator allows it; "test" and "drill" databases take one freely.
    environment: str = "production"
    # Days missed before yesterday that ``gridpay run`` settles on its own after an outage;
    # beyond them it waits for an operator (at most ``limits.night_catch_up_days_max``).
    catch_up_days_max: int = 3
    extra: dict[str, Any] = field(default_factory=dict)


def load_settings(db: str | None = None, config_path: str | None = None) -> Settings:
    """Defaults < config file < environment < explicit ``--db``."""
    settings = Settings()
    path = config_path or os.environ.get("GRIDPAY_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        known = {f for f in Settings.__dataclass_fields__ if f != "extra"}
        values: dict[str, Any] = {
            k: (tuple(v) if k in ("offices", "head_end_latency_s") else v)
            for k, v in data.items()
            if k in known
        }
        extra = {k: v for k, v in data.items() if k not in known}
        settings = replace(settings, **values, extra=extra)
    if not 0 <= settings.catch_up_days_max <= limits.night_catch_up_days_max:
        raise ConfigError(
            f"catch_up_days_max must be between 0 and {limits.night_catch_up_days_max}; "
            f"got {settings.catch_up_days_max!r}"
        )
    env_url = os.environ.get("GRIDPAY_DATABASE_URL")
    if env_url:
        settings = replace(settings, database_url=env_url)
    if db:
        url = db if "://" in db else f"sqlite:///{db}"
        settings = replace(settings, database_url=url)
    _check_environment(settings.environment)
    return settings


def _check_environment(environment: object) -> None:
    if environment not in ENVIRONMENTS:
        known = ", ".join(ENVIRONMENTS)
        raise ConfigError(f"environment = {environment!r} in the config file: use one of {known}")
