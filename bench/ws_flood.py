"""A WebSocket echo load client that costs little per message: pre-built masked frames, one
write per batch, ``--inflight`` batches on the wire, echoed bytes counted (not parsed). Prints
messages/s against one server already running.

    taskset -c 1 .venv/bin/python -m bench.ws_flood --port 8000 --size 64 --batch 64 -d 5

The server must echo every message (``bench.apps.ws_echo:app``). The echo of a message of n
bytes is one unmasked frame (RFC 6455 §5.1): n plus 2, 4 or 10 bytes of header (§5.2), so a
batch is complete when that many bytes per message have arrived.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import time

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage


def echo_frame_size(size: int) -> int:
    return size + (2 if size <= 125 else 4 if size <= 0xFFFF else 10)


def connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--size", type=int, default=64, help="bytes per (binary) message")
    parser.add_argument("--batch", type=int, default=64, help="messages per write")
    parser.add_argument("--inflight", type=int, default=2, help="batches in flight")
    parser.add_argument("-d", "--duration", type=float, default=5.0, help="seconds")
    args = parser.parse_args()
    frame = Connection(ConnectionType.CLIENT).send(BytesMessage(data=os.urandom(args.size)))
    batch = frame * args.batch
    expect = echo_frame_size(args.size) * args.batch
    sock = connect(args.host, args.port)
    buf = bytearray(1 << 20)
    messages = 0
    start = time.perf_counter()
    end = start + args.duration
    for _ in range(args.inflight - 1):  # batches kept in flight beyond the one just sent
        sock.sendall(batch)
    got = 0
    while time.perf_counter() < end:
        sock.sendall(batch)
        while got < expect:
            n = sock.recv_into(buf)
            if not n:
                raise ConnectionError("the server closed the connection")
            got += n
        got -= expect  # bytes of the next batch's echo already read count for it
        messages += args.batch
    elapsed = time.perf_counter() - start
    sock.close()
    print(f"{args.size} B: {messages / elapsed:,.0f} messages/s ({messages} in {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
