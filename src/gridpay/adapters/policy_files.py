"""Credit policy data files: the ones shipped with the package, or one given by path."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from gridpay.domain.calendar import RULE_SETS
from gridpay.domain.credit_policy import CreditPolicy, parse_policy
from gridpay.errors import ConfigError, InvalidInput


def load_policy_text(text: str, source: str) -> CreditPolicy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"credit policy file {source}: {exc}") from None
    return parse_policy(data, set(RULE_SETS))


def shipped_policies() -> dict[str, CreditPolicy]:
    folder = resources.files("gridpay") / "data" / "policies"
    policies = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            policy = load_policy_text(entry.read_text(encoding="utf-8"), entry.name)
            policies[policy.code] = policy
    return policies


def load_policy(code: str, path: str | None) -> CreditPolicy:
    """The operator's policy file if one is configured, else the shipped policy ``code``."""
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read credit policy file {path}: {exc}") from None
        return load_policy_text(text, path)
    shipped = shipped_policies()
    if code not in shipped:
        raise ConfigError(
            f"no shipped credit policy {code!r}; shipped: {', '.join(sorted(shipped))}"
        )
    return shipped[code]
