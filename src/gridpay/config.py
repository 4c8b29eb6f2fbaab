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
    nominal_voltage_v: int = 220
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
    env_url = os.environ.get("GRIDPAY_DATABASE_URL")
    if env_url:
        settings = replace(settings, database_url=env_url)
    if db:
        url = db if "://" in db else f"sqlite:///{db}"
        settings = replace(settings, database_url=url)
    return settings
