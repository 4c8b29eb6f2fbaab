"""What a benchmark ran on: CPU, cores, memory, OS, Python, libraries, database engine."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from sqlalchemy import Engine, text

LIBRARIES = ("gridpay", "polars", "sqlalchemy", "psycopg", "pyarrow", "alembic")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cores() -> str:
    logical = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = logical
    return f"{usable}" if usable == logical else f"{usable} usable of {logical}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> dict[str, str]:
    memory = _memory_bytes()
    return {
        "cpu": _cpu_model(),
        "cores": _cores(),
        "memory": "unknown" if memory is None else f"{memory / 2**30:.1f} GiB",
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": ", ".join(f"{name} {_version(name)}" for name in LIBRARIES),
    }


def describe_database(engine: Engine) -> dict[str, str]:
    """The database engine and its server version."""
    name = engine.dialect.name
    query = "SELECT sqlite_version()" if name == "sqlite" else "SHOW server_version"
    with engine.connect() as conn:
        version = str(conn.execute(text(query)).scalar_one())
    label = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(name, name)
    return {"database": f"{label} {version}"}
