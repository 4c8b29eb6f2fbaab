"""The wrk Lua script of the payment benches: pre-made requests, each sent once.

wrk's Lua cannot sign (HMAC-SHA256, RSA2) without a hand-written implementation to trust, so
the benches sign their requests beforehand in Python, one a line in a file, and wrk replays
them, each exactly once, spread over its threads. A thread that has sent its share repeats its
last request (a replay: it credits nothing; the partner API refuses it, a non-2xx, and the
wallet answers a resent notification "success" as wallets expect).

wrk calls the first thread's ``request()`` once before the run to check what it returns: that
call takes a harmless ``GET /healthz``, never a prepared request that would then go unsent.
The summary is one JSON line on stdout (``parse_summary``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_TEMPLATE = r"""
-- Replays pre-made requests, one a line of the file given, each once, spread over wrk's
-- threads (gridpay.simulation.wrk_replay). Arguments: the file, the thread count.
local thread_count = 0
function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
end

local function format_line(line)
%(format_line)s
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  prepared = {}
  if id == 0 then
    prepared[1] = wrk.format("GET", "/healthz")  -- wrk's check call takes this one
  end
  local i = 0
  for line in io.lines(file) do
    if i %% nthreads == id then
      prepared[#prepared + 1] = format_line(line)
    end
    i = i + 1
  end
  sent = 0
end

function request()
  sent = sent + 1
  if sent > #prepared then
    sent = #prepared -- all sent: a replay now, crediting nothing
  end
  return prepared[sent]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"non2xx":%%d,"connect_errors":%%d,"read_errors":%%d,' ..
    '"write_errors":%%d,"timeouts":%%d,"p50_us":%%d,"p90_us":%%d,"p95_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max))
end
"""


def replay_script(format_line: str) -> str:
    """The script, with ``format_line``: the body of a Lua function of ``line`` (one line of
    the file, without its newline) returning the request (``wrk.format(...)``)."""
    return _TEMPLATE % {"format_line": format_line}


def run(
    base_url: str,
    script: str,
    requests_file: Path,
    *,
    connections: int,
    threads: int,
    duration_s: int,
    timeout_s: int = 5,
) -> dict[str, int]:
    """wrk with the script over the file for ``duration_s``: the summary's counts (integers:
    microseconds for times)."""
    with tempfile.TemporaryDirectory(prefix="gridpay-wrk-") as folder:
        path = Path(folder) / "replay.lua"
        path.write_text(script, "utf-8")
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s"]
        command += ["--timeout", f"{timeout_s}s", "-s", str(path), base_url, "--"]
        command += [str(requests_file), str(threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    return parse_summary(done.stdout)


def parse_summary(stdout: str) -> dict[str, int]:
    last = [line for line in stdout.splitlines() if line.startswith("{")][-1]
    summary: dict[str, Any] = json.loads(last)
    return {k: int(v) for k, v in summary.items()}


def socket_errors(summary: dict[str, int]) -> int:
    return (
        summary["connect_errors"]
        + summary["read_errors"]
        + summary["write_errors"]
        + summary["timeouts"]
    )
