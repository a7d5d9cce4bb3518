"""Instructions per echoed WebSocket message of pounce, counted by callgrind.

The WebSocket twin of ``bench/callgrind.py`` (whose ``run`` starts the server): pounce runs
``bench/apps/ws_echo.py`` under ``valgrind --tool=callgrind`` pinned to core 0; a client in
this process, pinned to core 1, opens one WebSocket (wsproto's ``H11Handshake`` builds the
request and checks the 101, RFC 6455 §4.1), sends N binary messages of each ``--size`` and
reads the echoes, closes (RFC 6455 §5.5.1: a close frame, answered by the server's), and the
server is stopped with SIGINT; the same again with ``--baseline`` messages. The difference in
total instructions over the difference in messages is the cost of one echoed message, start-up,
handshake and shutdown cancelled out.

The client writes the messages in batches, each batch one write of pre-built masked frames
(``bench/ws_client.py``'s, the frames ``bench.ws_load`` sends), and reads every echo of a batch
before it writes the next: lock-step, so that the server reads the same batches in every run
and the count repeats (``bench.ws_load`` keeps several batches in flight instead). A batch is
``bench.ws_load``'s (``default_flow``: 64 messages of 64 B, 4 of 64 KiB) unless ``--batch``
says otherwise.

    python -m bench.ws_callgrind -- --no-access-log            # 64 B and 64 KiB
    python -m bench.ws_callgrind --size 64 -n 20000 --baseline 4000 -- --no-access-log
    POUNCE_NO_EXTENSIONS=1 python -m bench.ws_callgrind -- --no-access-log   # the pure build
    python -m bench.ws_callgrind --keep /tmp/wscg -- --no-access-log

Instructions are user-space work only: a ``transport.write`` that becomes a ``send()`` system
call costs its kernel time on top of what is counted here.

With ``--keep DIR`` the outputs stay in ``DIR/<size>/`` (``callgrind.N.out``, pounce's stderr),
for ``callgrind_annotate --inclusive=yes DIR/64/callgrind.10000.out``.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, Request
from wsproto.handshake import H11Handshake

from bench.callgrind import ROOT, run
from bench.ws_client import FrameCounter, close_frame, default_flow, message_frame, payload_for

APP = "bench.apps.ws_echo:app"
# The messages of each size in the measured and the baseline run, unless -n / --baseline say.
DEFAULT_COUNTS = {64: (10000, 2000), 65536: (1000, 200)}
SOCKET_TIMEOUT_SECONDS = 120.0  # a server under valgrind is slow, but never this slow


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(1 << 18)
    if not chunk:
        raise SystemExit("the server closed the connection")
    return chunk


def echo_messages(port: int, count: int, *, size: int, batch: int) -> None:
    """One WebSocket: ``count`` messages of ``size`` bytes, ``batch`` per write, each batch's
    echoes read before the next is written; then the closing handshake."""
    handshake = H11Handshake(ConnectionType.CLIENT)
    frame = message_frame(payload_for(size), deflate=False)
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_SECONDS) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(handshake.send(Request(host=f"127.0.0.1:{port}", target="/")))
        head = b""
        while b"\r\n\r\n" not in head:
            head += _recv(sock)
        end = head.index(b"\r\n\r\n") + 4
        handshake.receive_data(head[:end])
        if not any(isinstance(e, AcceptConnection) for e in handshake.events()):
            raise SystemExit(f"handshake not accepted: {head[:200]!r}")
        counter = FrameCounter()
        if head[end:]:
            raise SystemExit("the server sent frames before any message")
        frames = {batch: frame * batch}
        sent = 0
        while sent < count:
            n = min(batch, count - sent)
            sock.sendall(frames.get(n) or frame * n)
            sent += n
            echoed = 0
            while echoed < n:
                echoed += counter.feed(_recv(sock))
                if counter.close_code is not None:
                    raise SystemExit(f"the server closed with {counter.close_code}")
            if echoed != n:
                raise SystemExit(f"{echoed} echoes for a batch of {n}")
        if counter.payload_bytes != count * size:
            raise SystemExit(f"{counter.payload_bytes} bytes echoed for {count} x {size}")
        # RFC 6455 §5.5.1 / §7.1.2: our close frame; the server answers with its own and
        # closes the TCP connection.
        sock.sendall(close_frame())
        while counter.close_code is None:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            counter.feed(chunk)
        if counter.close_code != 1000:
            raise SystemExit(f"closing handshake answered with {counter.close_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="pounce checkout to run")
    parser.add_argument(
        "--size", type=int, nargs="+", default=sorted(DEFAULT_COUNTS), help="message bytes"
    )
    parser.add_argument("-n", "--messages", type=int, help="messages in the measured run")
    parser.add_argument("--baseline", type=int, help="messages in the shorter run")
    parser.add_argument("--batch", type=int, help="messages per write (bench.ws_load's)")
    parser.add_argument("--keep", type=Path, help="keep the callgrind outputs in this directory")
    parser.add_argument("pounce_args", nargs="*", help="after --: extra pounce options")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("taskset") is None:
        raise SystemExit("needs valgrind and taskset (Debian: valgrind, util-linux)")
    os.sched_setaffinity(0, {1})  # the client on core 1, the server on core 0
    chosen = " ".join(f"{k}={os.environ[k]}" for k in ("POUNCE_NO_EXTENSIONS",) if k in os.environ)
    with tempfile.TemporaryDirectory(prefix="pounce-ws-callgrind-") as tmp:
        for size in args.size:
            large, small = DEFAULT_COUNTS.get(size, (2000, 400))
            large = args.messages or large
            small = args.baseline or small
            if large <= small:
                raise SystemExit("--messages must be more than --baseline")
            batch = args.batch or default_flow(size)[1]
            outdir = (args.keep if args.keep is not None else Path(tmp)) / str(size)
            outdir.mkdir(parents=True, exist_ok=True)
            send = functools.partial(echo_messages, size=size, batch=batch)
            ir_small = run(args.root, small, args.pounce_args, outdir, send, app=APP)
            ir_large = run(args.root, large, args.pounce_args, outdir, send, app=APP)
            per_message = (ir_large - ir_small) / (large - small)
            print(
                f"root={args.root} ws {size} B batch={batch} {chosen} "
                f"args={' '.join(args.pounce_args) or '-'}: "
                f"{per_message:,.0f} instructions per message "
                f"(Ir {ir_small:,} for {small}, {ir_large:,} for {large})",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
