"""Instructions per request of pounce on the hello app, counted by callgrind.

Wall-clock throughput on a shared machine moves with the neighbours' load; the instruction
count of the server does not. This starts pounce under ``valgrind --tool=callgrind`` pinned
to core 0 (``bench/apps/hello.py``, one worker), sends N keep-alive requests one after another
from this process pinned to core 1, stops the server (SIGINT: a graceful shutdown, after which
callgrind writes its totals), and does the same with fewer requests; the difference divided
by the difference in requests is the cost of one request, start-up and shutdown cancelled out.

    python -m bench.callgrind                        # access log on, written to /dev/null
    python -m bench.callgrind -- --no-access-log     # anything after -- goes to pounce
    python -m bench.callgrind --root /tmp/main-tree  # another checkout's pounce (built in place)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"pounce exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"pounce did not listen on {port} within {timeout} s")


def send_requests(port: int, count: int) -> None:
    """``count`` requests on one keep-alive connection, each answered before the next."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        size = 0  # the whole response's size, learnt from the first one
        buf = b""
        for _ in range(count):
            sock.sendall(REQUEST)
            while True:
                if not size:
                    end = buf.find(b"\r\n\r\n")
                    if end >= 0:
                        head = buf[:end].lower()
                        match = re.search(rb"\r\ncontent-length: *(\d+)", head)
                        if match is None or not head.startswith(b"http/1.1 200"):
                            raise SystemExit(f"unexpected response: {buf[:200]!r}")
                        size = end + 4 + int(match.group(1))
                if size and len(buf) >= size:
                    buf = buf[size:]
                    break
                chunk = sock.recv(65536)
                if not chunk:
                    raise SystemExit("the server closed the connection")
                buf += chunk


def run(root: Path, requests: int, pounce_args: list[str], outdir: Path) -> int:
    """Total instructions (Ir) of one pounce process that served ``requests`` requests."""
    port = free_port()
    out = outdir / f"callgrind.{requests}.out"
    # A fixed hash seed: str hashes, and so dict probing, are the same in every run.
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{ROOT}", PYTHONHASHSEED="0")
    cmd = [
        "taskset",
        "-c",
        "0",
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "pounce",
        "bench.apps.hello:app",
        "--port",
        str(port),
        "--no-use-colors",
        *pounce_args,
    ]
    with open(os.devnull, "wb") as devnull, open(outdir / f"stderr.{requests}", "wb") as err:
        # The access log goes to stdout: /dev/null, so that the terminal costs nothing.
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=devnull, stderr=err)
        try:
            wait_ready(port, proc, timeout=120)
            send_requests(port, requests)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = out.read_text(errors="replace")
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"no totals in {out}; see {outdir}/stderr.{requests}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="pounce checkout to run")
    parser.add_argument("-n", "--requests", type=int, default=10000)
    parser.add_argument("--baseline", type=int, default=2000, help="the shorter run's requests")
    parser.add_argument("pounce_args", nargs="*", help="after --: extra pounce options")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("taskset") is None:
        raise SystemExit("needs valgrind and taskset (Debian: valgrind, util-linux)")
    if args.requests <= args.baseline:
        raise SystemExit("--requests must be more than --baseline")
    os.sched_setaffinity(0, {1})  # the client on core 1, the server on core 0
    with tempfile.TemporaryDirectory(prefix="pounce-callgrind-") as tmp:
        outdir = Path(tmp)
        small = run(args.root, args.baseline, args.pounce_args, outdir)
        large = run(args.root, args.requests, args.pounce_args, outdir)
    per_request = (large - small) / (args.requests - args.baseline)
    print(
        f"root={args.root} args={' '.join(args.pounce_args) or '-'}: "
        f"{per_request:,.0f} instructions per request "
        f"(Ir {small:,} for {args.baseline}, {large:,} for {args.requests})"
    )


if __name__ == "__main__":
    main()
