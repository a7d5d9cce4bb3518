"""Checks of the bench's parsing and reporting that need no server: ``pytest bench/tests``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import latency
from bench.cli import parse_args
from bench.loadgen import H2load, LoadError, LoadResult, Wrk
from bench.report import record, throughput_table
from bench.runner import Outcome

WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:54379/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.48ms    2.30ms  15.34ms   74.34%
    Req/Sec    18.64k     5.32k   29.56k    70.00%
  Latency Distribution
     50%    2.94ms
     75%    4.55ms
     90%    6.99ms
     99%   10.46ms
  37108 requests in 2.01s, 4.67MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  18459.24
Transfer/sec:      2.32MB
"""

H2LOAD_OUTPUT = """\
finished in 2.00s, 28146.50 req/s, 2.01MB/s
requests: 56293 total, 56373 started, 56293 done, 56290 succeeded, 3 failed, 0 errored, 0 timeout
status codes: 56290 2xx, 0 3xx, 3 4xx, 0 5xx
"""


def test_wrk_parse() -> None:
    result = Wrk.parse(WRK_OUTPUT)
    assert result.requests_per_s == 18459.24
    assert result.requests == 37108
    assert result.errors == 3
    assert result.bad_status == 5
    assert result.p50_us == 2940.0
    assert result.p99_us == 10460.0
    assert not result.clean


def test_wrk_no_request_is_an_error() -> None:
    text = WRK_OUTPUT.replace("37108 requests", "0 requests")
    with pytest.raises(LoadError, match="no request"):
        Wrk.parse(text)


def test_wrk_command_passes_script_arguments() -> None:
    from bench.loadgen import Load

    argv = Wrk().command(Load("http://h/", 5, 64, Path("x.lua"), ("100",)))
    assert argv[-3:] == ["http://h/", "--", "100"]
    assert "-d5s" in argv and "-c64" in argv and "-t1" in argv


def test_h2load_parse() -> None:
    result = H2load.parse(H2LOAD_OUTPUT)
    assert result.requests_per_s == 28146.5
    assert result.requests == 56293
    assert result.bad_status == 3
    assert result.errors == 0


def test_fixed_rate_parse() -> None:
    line = (
        "FIXED_RATE achieved=4950.0 requests=49500 p50_us=300 p90_us=600 p99_us=1200"
        " p999_us=3000 max_us=9000 errors=0 non2xx=0\n"
    )
    result = latency.parse("wrk output\n" + line, 5000.0)
    assert result.p99_us == 1200
    assert result.held  # 99 % of the target
    assert not latency.parse(line.replace("4950.0", "4000.0"), 5000.0).held


def _outcome(server: str, rate: float, cpu: float) -> Outcome:
    result = LoadResult(requests_per_s=rate, requests=int(rate * 5))
    return Outcome(server, 1, result=result, server_cpu_s=cpu, duration=5)


def test_throughput_table_ratios() -> None:
    rows = throughput_table(
        {
            "hello": {
                "pounce": [_outcome("pounce", 30000, 5.0), _outcome("pounce", 20000, 5.0)],
                "uvicorn": [_outcome("uvicorn", 10000, 5.0)],
                "pounce-pure": [Outcome("pounce-pure", 1, error="exited")],
            }
        }
    )
    pounce, uvicorn, pure = rows[2:]
    assert "| 25,000 |" in pounce and "2.50x uvicorn" in pounce
    assert "baseline" in uvicorn
    assert "| 100% |" in uvicorn
    assert "1 failed runs" in pure


def test_record_append_keeps_earlier_runs(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    record(path, "## Run 1\n", "append")
    record(path, "## Run 2\n", "append")
    text = path.read_text()
    assert text.startswith("# Benchmark results")
    assert text.index("## Run 1") < text.index("## Run 2")
    record(path, "## Run 3\n", "replace")
    assert "## Run 1" not in path.read_text()


def test_unknown_server_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--servers", "pounce,nginx"])
    assert "unknown server: nginx" in capsys.readouterr().err


def test_starved_rows_counts_servers_under_most_of_a_core() -> None:
    from bench.report import starved_rows

    busy = _outcome("pounce", 30000, 5.0)  # 5 CPU-s over 5 s: a whole core
    starved = _outcome("uvicorn", 10000, 2.0)  # 40 % of a core
    assert starved_rows({"hello": {"pounce": [busy], "uvicorn": [starved]}}) == 1
