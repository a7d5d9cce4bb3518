"""Autobahn|Testsuite (the fuzzingclient of ``autobahntestsuite`` 0.8.2) against a real pounce
serving the WebSocket echo app (``tests/apps/ws_apps.py``; any path but the special ones echoes).

The suite is Python 2.7 only (so is its 25.10.1 repackaging: the same cases with pinned
dependencies, still Python 2 code). It is installed with pip into ``<project>/.autobahn/``
(``POUNCE_AUTOBAHN_DIR`` to put it elsewhere), once: a later run finds the pins it was installed
from and goes straight on. Python 2.7 is ``POUNCE_PYTHON27``, else pyenv's 2.7.18, else
``python2.7`` on PATH. Without Python 2.7, or when the install fails (no PyPI), the test skips
with the reason; when ``CI`` is set it fails instead.

The verdict is the report's ``index.json``: a case whose ``behavior`` or ``behaviorClose`` is
not OK, NON-STRICT or INFORMATIONAL fails the test with its id. UNIMPLEMENTED is a failure too:
permessage-deflate (RFC 7692) is on by default, so 12.* and 13.* must run. The number of cases
in the report must be exactly ``EXPECTED_CASES``, so an empty or cut-short run fails.

Which cases run (see ``case_groups``):
- 1.* to 7.* (framing, pings, reserved bits, opcodes, fragmentation, UTF-8, closing) and 10.*:
  all of them.
- 9.* (limits and performance, up to 16 MiB messages and 4 MiB in 64-byte frames): all of them;
  about 40 s.
- 12.* (permessage-deflate, five payload kinds) and 13.* (permessage-deflate, seven parameter
  negotiations of RFC 7692 §7.1: no_context_takeover and max_window_bits 9/15 on either side):
  each case sends 1,000 messages one at a time and waits for each echo, which takes the Python 2
  client 1.5 to 6 s even for 16-byte messages and up to 30 s for 128 KiB ones; all 216 take
  more than 10 minutes. Of the 18 message sizes of each group, three run:
  ``.1`` (16 bytes: the compressed message is bigger than the original),
  ``.5`` (4 KiB: larger than the 512-byte window that max_window_bits=9 allows) and
  ``.11`` (8 KiB in 256-byte frames: one compressed message across continuation frames,
  RSV1 on the first frame only, RFC 7692 §6.1). Excluded: ``.2``-``.4`` (64 B to 1 KiB,
  between .1 and .5), ``.6``-``.10`` (8 KiB to 128 KiB unfragmented: the 128 KiB case alone
  takes about 20 s) and ``.12``-``.18`` (16 KiB to 128 KiB in 256 B to 32 KiB frames).
  That is 15 cases of 12.* and 21 of 13.*. The 180 excluded ones passed too when run once by
  hand (all OK; 26 minutes of case time).

The groups run as wstest processes side by side against one server (``--http httptools``,
the default): each case is a ping-pong of small messages, bound by latency rather than CPU, so
three clients at once take about as long as the slowest of them alone. A fourth process runs
1.* to 7.* and 10.* (about 10 s) against a second server with ``--http h11``, whose upgrade
hands the bytes after the handshake over differently (``over_http1.forward_leftover``).

NON-STRICT results are expected in some of 3.2-3.4, 4.1.3-4.1.5, 4.2.3-4.2.5 and 5.15, 8 to 10
of them depending on timing (a valid message followed by a broken frame: pounce fails the
connection, RFC 6455 §7.1.7, before the app has echoed the valid message; the suite accepts
that as non-strict), and INFORMATIONAL in 7.1.6 and 7.13.* (close codes the RFC leaves to the
implementation).

Measured on 2 cores: 29-36 s per run on an idle machine, 75-77 s under a load of 4; a first
run adds the install (about 1.5 minutes, wsaccel is compiled).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from pounce._compat import USE_EXTENSIONS
from tests.support import ROOT, PounceProcess

# Generous: the first run installs the suite (about a minute), a run takes about two.
pytestmark = pytest.mark.timeout(1200)

AUTOBAHN_VERSION = "0.8.2"
# Every package the suite needs on Python 2.7, pinned (installed with --no-deps, so nothing
# else is resolved). The direct ones follow the pins autobahntestsuite 25.10.1 ships for
# Python 2.7; the rest are the newest releases that still support it.
PINS = (
    f"autobahntestsuite=={AUTOBAHN_VERSION}",
    "autobahn==0.10.9",
    "txaio==2.1.0",
    "wsaccel==0.6.6",  # autobahn[accelerate]: C masking and UTF-8 validation in the client
    "ujson==2.0.3",  # autobahn[accelerate]
    "Twisted==19.10.0",
    "zope.interface==4.6.0",
    "incremental==16.10.1",
    "constantly==15.1.0",
    "Automat==22.10.0",
    "attrs==21.4.0",
    "hyperlink==21.0.0",
    "idna==2.10",
    "PyHamcrest==1.10.1",
    "typing==3.10.0.0",
    "pyOpenSSL==19.1.0",
    "cryptography==3.3.2",
    "cffi==1.15.1",
    "pycparser==2.21",
    "enum34==1.1.10",
    "ipaddress==1.0.23",
    "service_identity==18.1.0",
    "pyasn1==0.5.1",
    "pyasn1_modules==0.3.0",
    "Jinja2==2.11.3",
    "MarkupSafe==1.1.1",
    "Werkzeug==1.0.1",
    "klein==17.10.0",
    "unittest2==1.1.0",
    "argparse==1.4.0",
    "traceback2==1.4.0",
    "linecache2==1.0.0",
    "six==1.16.0",
    "setuptools==44.0.0",
)
PYENV_27 = Path.home() / ".pyenv" / "versions" / "2.7.18" / "bin" / "python"
INSTALL_TIMEOUT = 900.0
RUN_TIMEOUT = 480.0  # one wstest process; a healthy one takes one to two minutes

ACCEPTED = frozenset({"OK", "NON-STRICT", "INFORMATIONAL"})
# 12.* and 13.*: which of the 18 message sizes run (see the module docstring).
DEFLATE_SIZES_RUN = (1, 5, 11)
DEFLATE_SIZES = 18
DEFLATE_GROUPS = {12: 5, 13: 7}  # sub-groups: 12.1-12.5 (payload kinds), 13.1-13.7 (params)
# Cases per group in autobahntestsuite 0.8.2.
GROUP_CASES = {1: 16, 2: 11, 3: 7, 4: 10, 5: 20, 6: 145, 7: 37, 9: 54, 10: 1}
# What runs against the h11 server: the protocol groups, not the long ones.
H11_GROUPS = (1, 2, 3, 4, 5, 6, 7, 10)
EXPECTED_CASES = {
    "pounce": sum(GROUP_CASES.values())
    + sum(n * len(DEFLATE_SIZES_RUN) for n in DEFLATE_GROUPS.values()),
    "pounce-h11": sum(GROUP_CASES[g] for g in H11_GROUPS),
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def _unavailable(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{reason}; CI is set, so the conformance suite must run")
    pytest.skip(reason)


def python27() -> str:
    """A Python 2.7 interpreter; skips (fails under CI) when there is none."""
    candidates = [os.environ.get("POUNCE_PYTHON27", ""), str(PYENV_27)]
    candidates.append(shutil.which("python2.7") or "")
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.stdout.strip() == "2.7":
            return candidate
    _unavailable(f"no Python 2.7 for Autobahn|Testsuite (POUNCE_PYTHON27, {PYENV_27}, PATH)")


def _py27_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def install_suite(python: str) -> Path:
    """The directory holding the suite and its dependencies, installed there if need be.

    Idempotent: ``pins.txt`` in the directory is written last, after a complete install into
    a fresh directory that was then renamed into place; when it matches ``PINS`` nothing runs.
    A file lock keeps two test processes from installing at once.
    """
    target = Path(os.environ.get("POUNCE_AUTOBAHN_DIR") or ROOT / ".autobahn")
    target = target / f"autobahntestsuite-{AUTOBAHN_VERSION}"
    wanted = "\n".join(PINS) + "\n"
    marker = target / "pins.txt"
    if marker.exists() and marker.read_text() == wanted:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == wanted:
            return target
        staging = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
        try:
            requirements = staging / "requirements.txt"
            requirements.write_text(wanted)
            command = [
                python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input",
                "--disable-pip-version-check", "--no-warn-script-location",
                "--target", str(staging / "site"), "-r", str(requirements),
            ]  # fmt: skip
            try:
                done = subprocess.run(
                    command,
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_TIMEOUT,
                    check=False,
                    env=_py27_env(),
                )
            except subprocess.TimeoutExpired:
                _unavailable(f"installing autobahntestsuite took over {INSTALL_TIMEOUT}s")
            if done.returncode != 0:
                tail = "\n".join(f"{done.stdout}\n{done.stderr}".strip().splitlines()[-15:])
                _unavailable(f"pip could not install autobahntestsuite:\n{tail}")
            (staging / "site" / "pins.txt").write_text(wanted)
            if target.exists():
                shutil.rmtree(target)
            (staging / "site").rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def wstest() -> list[str]:
    """The command that runs ``wstest`` (arguments follow)."""
    python = python27()
    site = install_suite(python)
    # site.addsitedir, not PYTHONPATH: it also reads the .pth files (zope's namespace package).
    launcher = (
        "import site, sys; site.addsitedir(sys.argv.pop(1)); "
        "from autobahntestsuite.wstest import run; sys.argv[0] = 'wstest'; run()"
    )
    return [python, "-c", launcher, str(site)]


def case_groups() -> list[tuple[str, list[str], list[str]]]:
    """Per wstest process: (agent, case patterns, excluded case ids). Ids are listed one by
    one: wstest reads a pattern as a regular expression matched at the start, so "12.*.1"
    would also take 12.1.10 to 12.1.18."""
    skipped = {
        group: [
            f"{group}.{sub}.{size}"
            for sub in range(1, subs + 1)
            for size in range(1, DEFLATE_SIZES + 1)
            if size not in DEFLATE_SIZES_RUN
        ]
        for group, subs in DEFLATE_GROUPS.items()
    }
    return [
        ("pounce", ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"], []),
        ("pounce", ["12.*"], skipped[12]),
        ("pounce", ["13.*"], skipped[13]),
        ("pounce-h11", [f"{g}.*" for g in H11_GROUPS], []),
    ]


@dataclass
class Shard:
    agent: str
    proc: subprocess.Popen[bytes]
    outdir: Path
    log: Path


def start_shard(
    wstest: list[str], workdir: Path, *, agent: str, port: int, cases: list[str], exclude: list[str]
) -> Shard:
    workdir.mkdir()
    outdir = workdir / "reports"
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": agent, "url": f"ws://127.0.0.1:{port}"}],
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    }
    (workdir / "spec.json").write_text(json.dumps(spec, indent=1))
    log = workdir / "wstest.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*wstest, "-m", "fuzzingclient", "-s", "spec.json"],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_py27_env(),
        )
    return Shard(agent, proc, outdir, log)


def finish_shard(shard: Shard, deadline: float) -> str:
    """Wait for the shard until the deadline; kill it past that. Returns a problem or ""."""
    try:
        shard.proc.wait(max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        shard.proc.kill()
        shard.proc.wait(10)
        return f"wstest (pid {shard.proc.pid}) did not finish in {RUN_TIMEOUT}s"
    if shard.proc.returncode != 0:
        return f"wstest (pid {shard.proc.pid}) exited with {shard.proc.returncode}"
    return ""


def read_results(shard: Shard) -> dict[str, dict[str, object]]:
    index = shard.outdir / "index.json"
    if not index.exists():
        return {}
    results: dict[str, dict[str, object]] = json.loads(index.read_text()).get(shard.agent, {})
    return results


def describe(shard_dir: Path, case: str, result: dict[str, object]) -> str:
    line = f"{case}: behavior {result['behavior']}, close {result['behaviorClose']}"
    report = shard_dir / str(result.get("reportfile", ""))
    if report.is_file():
        detail = json.loads(report.read_text())
        line += f" ({detail.get('description', '')[:120]!r} -> {detail.get('result', '')!r})"
    return line


def test_autobahn_fuzzingclient(wstest: list[str], tmp_path: Path) -> None:
    servers = {
        "pounce": PounceProcess("ws_apps:app", "--no-access-log"),
        "pounce-h11": PounceProcess("ws_apps:app", "--no-access-log", "--http", "h11"),
    }
    shards: list[Shard] = []
    problems: list[str] = []
    started = time.monotonic()
    speedups = "compiled" if USE_EXTENSIONS else "pure"
    try:
        for server in servers.values():
            server.wait_ready()
            server.wait_for_log("speedups: ")
            assert f"speedups: {speedups}" in server.output(), server.output()
        for number, (agent, cases, exclude) in enumerate(case_groups(), 1):
            port = servers[agent].port
            workdir = tmp_path / f"shard{number}"
            shards.append(
                start_shard(wstest, workdir, agent=agent, port=port, cases=cases, exclude=exclude)
            )
        deadline = time.monotonic() + RUN_TIMEOUT
        for shard in shards:
            problem = finish_shard(shard, deadline)
            if problem:
                tail = "\n".join(shard.log.read_text(errors="replace").splitlines()[-20:])
                problems.append(f"{problem}:\n{tail}")
    finally:
        for shard in shards:  # only after a failure above can one still run
            if shard.proc.poll() is None:
                shard.proc.kill()
                shard.proc.wait(10)
        for server in servers.values():
            server.stop()
    elapsed = time.monotonic() - started
    results: dict[str, dict[str, dict[str, object]]] = {agent: {} for agent in servers}
    failed: list[str] = []
    for shard in shards:
        shard_results = read_results(shard)
        results[shard.agent].update(shard_results)
        failed += [
            f"{shard.agent} " + describe(shard.outdir, case, result)
            for case, result in sorted(shard_results.items())
            if result["behavior"] not in ACCEPTED or result["behaviorClose"] not in ACCEPTED
        ]
    summary = "; ".join(
        f"{agent}: {len(found)} cases {dict(Counter(str(r['behavior']) for r in found.values()))}"
        for agent, found in results.items()
    )
    summary = f"{summary}; {elapsed:.0f}s ({speedups})"
    print(f"Autobahn|Testsuite: {summary}; reports in {tmp_path}", file=sys.stderr)
    assert not problems, "\n".join(problems)
    assert not failed, f"Autobahn cases failed ({summary}):\n" + "\n".join(failed)
    for agent, found in results.items():
        assert len(found) == EXPECTED_CASES[agent], f"expected {EXPECTED_CASES}, got {summary}"
    for server in servers.values():
        assert "Traceback" not in server.output(), server.output()
