"""Tariff data files: the ones shipped with the package, or one given by path."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from gridpay.domain.tariff import Tariff, parse_tariff
from gridpay.errors import InvalidInput


def load_tariff_text(text: str, source: str) -> Tariff:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"tariff file {source}: {exc}") from None
    return parse_tariff(data)


def shipped_tariffs() -> list[tuple[Tariff, str]]:
    folder = resources.files("gridpay") / "data" / "tariffs"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            text = entry.read_text(encoding="utf-8")
            out.append((load_tariff_text(text, entry.name), text))
    return out


def tariff_from_file(path: str) -> tuple[Tariff, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read tariff file {path}: {exc}") from None
    return load_tariff_text(text, path), text
