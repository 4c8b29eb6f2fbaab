"""``gridpay init`` as a user runs it: the installed console script, in a real process.

Covers storage set-up: init is idempotent on SQLite and PostgreSQL, and the database is chosen by
``--db`` (a path or a URL), else ``GRIDPAY_DATABASE_URL``, else ``./gridpay.db``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gridpay.domain.ledger import SYSTEM_ACCOUNTS

GRIDPAY = Path(sys.executable).parent / "gridpay"


def gridpay(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPAY_")}
    clean["COLUMNS"] = "300"
    return subprocess.run(
        [str(GRIDPAY), *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT count(*) FROM offices")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM tariffs")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM ledger_accounts")).scalar_one(),
            )
    finally:
        engine.dispose()


def test_the_console_script_is_installed() -> None:
    assert GRIDPAY.exists(), f"{GRIDPAY} missing: install the package (pip install -e .)"


def test_init_twice_creates_then_keeps_the_schema(db_url: str, tmp_path: Path) -> None:
    first = gridpay("--db", db_url, "init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "database ready" in first.stdout
    assert "henan-residential-tiered@2012-07-01" in first.stdout
    after_first = counts(db_url)
    assert after_first == (
        6,
        3,
        len(SYSTEM_ACCOUNTS),
    )  # six offices, shipped tariffs, system ledger accounts

    second = gridpay("--db", db_url, "init", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "tariffs added: none" in second.stdout
    assert counts(db_url) == after_first


def test_db_option_takes_a_plain_sqlite_path(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    result = gridpay("--db", "data/city.db", "init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "city.db").is_file()
    assert not (tmp_path / "gridpay.db").exists()


def test_the_environment_chooses_the_database_when_no_option_is_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    result = gridpay("init", cwd=tmp_path, env={"GRIDPAY_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert counts(url)[0] == 6
    assert not (tmp_path / "gridpay.db").exists()


def test_the_option_wins_over_the_environment(tmp_path: Path) -> None:
    env = {"GRIDPAY_DATABASE_URL": f"sqlite:///{tmp_path / 'from-env.db'}"}
    result = gridpay("--db", str(tmp_path / "from-option.db"), "init", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-option.db").is_file()
    assert not (tmp_path / "from-env.db").exists()


def test_without_option_or_environment_the_database_is_gridpay_db_here(tmp_path: Path) -> None:
    result = gridpay("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "gridpay.db").is_file()


def test_an_unsupported_database_url_is_a_config_error(tmp_path: Path) -> None:
    result = gridpay("--db", "mysql://localhost/gridpay", "init", cwd=tmp_path)
    assert result.returncode == 8  # config_error in the CLI's exit code table
    assert "unsupported database URL" in result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_environment_reaches_postgresql_too(db_url: str, tmp_path: Path) -> None:
    result = gridpay("init", cwd=tmp_path, env={"GRIDPAY_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert "database ready (postgresql)" in result.stdout


def test_a_database_path_in_a_missing_folder_is_a_clear_config_error(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    gridpay = str(Path(sys.executable).parent / "gridpay")
    result = subprocess.run(
        [gridpay, "--db", str(tmp_path / "no-such-folder" / "x.db"), "init"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 8  # config_error
    assert "no folder" in result.stderr
    assert "Traceback" not in result.stderr
