"""`gridpay serve` keeps its start-up objects out of the garbage collector's full collections.

A full collection walks every tracked object with the GIL held, so no request is answered
meanwhile; a server that has imported FastAPI, SQLAlchemy and Polars holds a few hundred
thousand of them. Frozen after start-up, they are never walked again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_PROBE = """
import gc, json
import uvicorn
from gridpay.entrypoints.cli import app
from gridpay.entrypoints.cli import serve

seen = {}

def run(served, **options):  # instead of serving: what the collector would walk now
    seen["serve"] = [gc.get_freeze_count(), len(gc.get_objects(generation=2))]

uvicorn.run = run
try:
    app(["serve", "--port", "1", "--no-access-log"])
except SystemExit:
    pass
gc.unfreeze()
serve.worker_app()
seen["worker"] = [gc.get_freeze_count(), len(gc.get_objects(generation=2))]
print(json.dumps(seen))
"""


def test_serve_and_each_worker_freeze_what_start_up_made(tmp_path: Path) -> None:
    env = {**os.environ, "GRIDPAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gridpay.db'}"}
    env.pop("GRIDPAY_CONFIG", None)
    cli = [sys.executable, "-m", "gridpay.entrypoints.cli"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True, cwd=tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    for frozen, walked in seen.values():
        assert frozen > 50_000  # the modules, classes and the app
        assert walked < frozen / 20  # what a full collection still walks
