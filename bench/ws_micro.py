"""Microbenchmark of the WebSocket frame cores: server-side cost per echoed message, no sockets.

Masked client frames for N messages are made up front and fed to a core in batches of
``--batch`` frames (as a client that writes a batch in one write); every message received is
sent back (``send_message``). Reported: microseconds per echoed message for the wsproto-backed
core and the compiled one, and their ratio, for each ``--size`` (binary messages, and text of
the same size in ASCII).

``--deflate``: permessage-deflate (RFC 7692) agreed with client_no_context_takeover, so one
compressed client frame can be repeated; the payload is compressible text-like bytes, and the
server compresses what it echoes (with context takeover).

    .venv/bin/python -m bench.ws_micro [-n 20000] [--batch 32] [--size 64 65536] [--repeat 5]
                                       [--deflate]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, TextMessage
from wsproto.extensions import PerMessageDeflate

from pounce._compat import import_compiled
from pounce.websocket.core import WsprotoCore

# What the client offers with --deflate (RFC 7692 §7.1.1.2: each message compressed alone).
DEFLATE_OFFER = "permessage-deflate; client_no_context_takeover"


def client_batches(messages: int, batch: int, size: int, text: bool, deflate: bool) -> list[bytes]:
    extensions: list[Any] = []
    if deflate:
        extension = PerMessageDeflate(client_no_context_takeover=True)
        extension.finalize(DEFLATE_OFFER)
        extensions.append(extension)
        # Words from a small alphabet: compressible, as chat or JSON is.
        words = "".join(random.Random(size).choices("abcdefgh {}:,", k=size))
        payload, string = words.encode(), words
    else:
        payload, string = os.urandom(size), "x" * size
    client = Connection(ConnectionType.CLIENT, extensions=extensions)
    event: Any = TextMessage(data=string) if text else BytesMessage(data=payload)
    frame = client.send(event)  # one masking key for all: the cost is the same
    return [frame * batch for _ in range(messages // batch)]


def per_message(
    core_class: Any, batches: list[bytes], messages: int, repeat: int, deflate: bool
) -> float:
    best = float("inf")
    for _ in range(repeat):
        core = core_class(1 << 24)
        if deflate:
            assert core.negotiate([DEFLATE_OFFER]) is not None
        start = time.perf_counter()
        for chunk in batches:
            for event in core.receive_data(chunk):
                core.send_message(event.data)
        best = min(best, time.perf_counter() - start)
    return best / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20000, help="messages per run")
    parser.add_argument("--batch", type=int, default=32, help="frames per receive_data call")
    parser.add_argument("--size", type=int, nargs="+", default=[64, 4096, 65536])
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is reported")
    parser.add_argument("--deflate", action="store_true", help="with permessage-deflate")
    args = parser.parse_args()
    compiled = import_compiled("pounce._speedups._ws").FrameCore
    print(f"{'message':>16} {'wsproto us':>11} {'compiled us':>12} {'ratio':>7}")
    for size in args.size:
        for text in (False, True):
            n = max(args.batch, args.n * 64 // max(size, 64)) // args.batch * args.batch
            batches = client_batches(n, args.batch, size, text, args.deflate)
            slow = per_message(WsprotoCore, batches, n, args.repeat, args.deflate)
            fast = per_message(compiled, batches, n, args.repeat, args.deflate)
            name = f"{size} B {'text' if text else 'binary'}"
            print(f"{name:>16} {slow:>11.2f} {fast:>12.2f} {slow / fast:>6.1f}x")


if __name__ == "__main__":
    main()
