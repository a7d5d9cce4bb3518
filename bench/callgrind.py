"""Instructions per request of pounce on the hello app, counted by callgrind.

Wall-clock throughput on a shared machine moves with the neighbours' load; the instruction
count of the server does not. This starts pounce under ``valgrind --tool=callgrind`` pinned
to core 0 (``bench/apps/hello.py``, one worker), sends N keep-alive requests one after another
from this process pinned to core 1, stops the server (SIGINT: a graceful shutdown, after which
callgrind writes its totals), and does the same with fewer requests; the difference divided
by the difference in requests is the cost of one request, start-up and shutdown cancelled out.

With ``--http2`` the requests go over HTTP/2 instead: one cleartext connection opened with
prior knowledge (RFC 9113 §3.3), each request a new stream (HEADERS with END_STREAM, RFC 9113
§8.1) answered before the next is sent, from an ``h2`` library client in this process. Which
HTTP/2 core the server runs is pounce's choice as usual: the compiled one, or the h2-backed
twin under ``POUNCE_H2_CORE=h2`` (or ``POUNCE_NO_EXTENSIONS=1``), passed on from this
environment.

    python -m bench.callgrind                        # access log on, written to /dev/null
    python -m bench.callgrind -- --no-access-log     # anything after -- goes to pounce
    python -m bench.callgrind --root /tmp/main-tree  # another checkout's pounce (built in place)
    python -m bench.callgrind --http2 -- --no-access-log
    POUNCE_H2_CORE=h2 python -m bench.callgrind --http2 -- --no-access-log
    python -m bench.callgrind --app bench.apps.json_10k:app -- --no-access-log
    python -m bench.callgrind --keep /tmp/cg -- --no-access-log  # keep callgrind.N.out
    python -m bench.callgrind --metrics on           # bench/metrics_server.py, counting on
    python -m bench.callgrind --metrics off          # the same server, counting off

``--metrics`` runs ``bench/metrics_server.py`` instead of ``python -m pounce``: one ``Server``
with the access log off and the worker's metrics counting or not. ``--metrics-bind`` itself
starts a supervisor whose fork callgrind would mix into the count.

With ``--keep DIR`` the callgrind outputs (``callgrind.N.out``) and pounce's stderr stay in
DIR, for ``callgrind_annotate --inclusive=yes DIR/callgrind.10000.out``.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h2.config
import h2.connection
import h2.events

ROOT = Path(__file__).resolve().parent.parent
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
H2_REQUEST = [
    (b":method", b"GET"),
    (b":scheme", b"http"),
    (b":authority", b"bench"),
    (b":path", b"/"),
]
HELLO_BODY = b"Hello, world!"  # bench/apps/hello.py's
MAX_WINDOW = 2**31 - 1  # RFC 9113 §6.9.1: the largest flow-control window


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


def send_h2_requests(port: int, count: int, check_body: bool = True) -> None:
    """``count`` requests as streams 1, 3, 5, ... of one HTTP/2 connection (h2c with prior
    knowledge), each answered before the next is sent."""
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    conn.initiate_connection()
    # One WINDOW_UPDATE before measuring (RFC 9113 §6.9) opens the connection's window to the
    # largest, room for every body of the run, so none is sent while measuring; each stream
    # starts with its own 65,535-byte window (§6.9.2) and a hello body is 13 bytes.
    conn.increment_flow_control_window(MAX_WINDOW - conn.inbound_flow_control_window)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(conn.data_to_send())
        for _ in range(count):
            stream_id = conn.get_next_available_stream_id()
            conn.send_headers(stream_id, H2_REQUEST, end_stream=True)
            sock.sendall(conn.data_to_send())
            status = b""
            body = b""
            ended = False
            while not ended:
                chunk = sock.recv(65536)
                if not chunk:
                    raise SystemExit("the server closed the connection")
                for event in conn.receive_data(chunk):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers).get(b":status", b"")
                    elif isinstance(event, h2.events.DataReceived):
                        body += event.data
                    elif isinstance(event, h2.events.StreamEnded):
                        ended = event.stream_id == stream_id
                    elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                        raise SystemExit(f"unexpected {event}")
                pending = conn.data_to_send()  # SETTINGS and PING acknowledgements
                if pending:
                    sock.sendall(pending)
            if status != b"200" or (check_body and body != HELLO_BODY):
                raise SystemExit(f"unexpected response: {status!r} {body[:200]!r}")


def run(
    root: Path,
    requests: int,
    pounce_args: list[str],
    outdir: Path,
    send: Callable[[int, int], None],
    *,
    app: str = "bench.apps.hello:app",
    metrics: str | None = None,
) -> int:
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
    ]
    if metrics is None:
        cmd += ["-m", "pounce", app, "--port", str(port), "--no-use-colors", *pounce_args]
    else:
        cmd += [str(ROOT / "bench" / "metrics_server.py"), str(port), metrics]
    with open(os.devnull, "wb") as devnull, open(outdir / f"stderr.{requests}", "wb") as err:
        # The access log goes to stdout: /dev/null, so that the terminal costs nothing.
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=devnull, stderr=err)
        try:
            wait_ready(port, proc, timeout=120)
            send(port, requests)
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


def hello_app(app: str) -> bool:
    return app == "bench.apps.hello:app"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="pounce checkout to run")
    parser.add_argument("-n", "--requests", type=int, default=10000)
    parser.add_argument("--baseline", type=int, default=2000, help="the shorter run's requests")
    parser.add_argument(
        "--http2", action="store_true", help="HTTP/2 (h2c prior knowledge) instead of HTTP/1.1"
    )
    parser.add_argument(
        "--app", default="bench.apps.hello:app", help="the ASGI app (module:attribute)"
    )
    parser.add_argument(
        "--metrics",
        choices=("on", "off"),
        help="run bench/metrics_server.py (hello, no access log) with the counting on or off",
    )
    parser.add_argument("--keep", type=Path, help="keep the callgrind outputs in this directory")
    parser.add_argument("pounce_args", nargs="*", help="after --: extra pounce options")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("taskset") is None:
        raise SystemExit("needs valgrind and taskset (Debian: valgrind, util-linux)")
    if args.metrics is not None and (args.http2 or args.pounce_args or not hello_app(args.app)):
        raise SystemExit("--metrics runs bench/metrics_server.py: HTTP/1.1, hello, no pounce args")
    if args.requests <= args.baseline:
        raise SystemExit("--requests must be more than --baseline")
    os.sched_setaffinity(0, {1})  # the client on core 1, the server on core 0
    hello = hello_app(args.app)
    send: Callable[[int, int], None] = send_requests
    if args.http2:
        send = functools.partial(send_h2_requests, check_body=hello)
    with tempfile.TemporaryDirectory(prefix="pounce-callgrind-") as tmp:
        outdir = Path(tmp)
        if args.keep is not None:
            outdir = args.keep
            outdir.mkdir(parents=True, exist_ok=True)
        small, large = (
            run(args.root, n, args.pounce_args, outdir, send, app=args.app, metrics=args.metrics)
            for n in (args.baseline, args.requests)
        )
    per_request = (large - small) / (args.requests - args.baseline)
    # The environment variables that choose the server's twins (pounce/_compat.py,
    # pounce/http2/connection.py).
    chosen = [
        f"{k}={os.environ[k]}"
        for k in ("POUNCE_NO_EXTENSIONS", "POUNCE_H2_CORE")
        if k in os.environ
    ]
    print(
        f"root={args.root} {'http2' if args.http2 else 'http1.1'} {' '.join(chosen)} "
        f"{'' if hello else 'app=' + args.app + ' '}"
        f"{'' if args.metrics is None else 'metrics=' + args.metrics + ' '}"
        f"args={' '.join(args.pounce_args) or '-'}: "
        f"{per_request:,.0f} instructions per request "
        f"(Ir {small:,} for {args.baseline}, {large:,} for {args.requests})"
    )


if __name__ == "__main__":
    main()
