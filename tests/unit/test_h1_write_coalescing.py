"""A streamed HTTP/1.1 body goes out in one write per loop iteration (both twins): an app
that sends many parts without waiting costs one write, a part is on the wire before the app
runs again, and no more than OUT_BATCH bytes are held back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pounce.asgi.response import OUT_BATCH
from tests.fakes import FakeTransport, spin, start_h1

pytestmark = pytest.mark.timeout(30)


class CountingTransport(FakeTransport):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)

    def writelines(self, parts: Any) -> None:
        self.writes += 1
        for part in parts:
            super().write(part)


def serve(
    protocol_class: type, app: Any, transport: CountingTransport | None = None
) -> CountingTransport:
    transport = transport or CountingTransport()

    async def main() -> CountingTransport:
        proto, _ = await start_h1(
            protocol_class, "httptools", app, transport, access_log=False, date_header=False
        )
        proto.data_received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        await spin(50)
        return transport

    return asyncio.run(main())


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


START = {"type": "http.response.start", "status": 200, "headers": []}


def streaming_app(parts: list[bytes]) -> Any:
    """An app that sends ``parts`` one send() each, without waiting, then the end."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(START)
        for part in parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def test_parts_sent_without_waiting_go_out_in_one_write(h1_protocol_class):
    parts = [bytes([65 + i]) * 1024 for i in range(16)]
    transport = serve(h1_protocol_class, streaming_app(parts))
    head, _, body = bytes(transport.out).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == chunked(parts)
    assert transport.writes == 1


def test_a_part_is_written_before_the_app_runs_again(h1_protocol_class):
    seen: list[bytes] = []
    transport = CountingTransport()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(START)
        for part in (b"first", b"second"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0)  # one loop iteration: the part must be out by now
            seen.append(bytes(transport.out))
        await send({"type": "http.response.body", "body": b""})

    serve(h1_protocol_class, app, transport)
    assert seen[0].endswith(b"5\r\nfirst\r\n")
    assert seen[1].endswith(b"6\r\nsecond\r\n")
    assert transport.out.endswith(b"0\r\n\r\n")
    assert transport.writes == 3


def test_no_more_than_out_batch_is_held_back(h1_protocol_class):
    parts = [b"z" * 1000] * 200  # 200,000 bytes in one step
    transport = serve(h1_protocol_class, streaming_app(parts))
    assert bytes(transport.out).partition(b"\r\n\r\n")[2] == chunked(parts)
    assert transport.writes == -(-200_000 // OUT_BATCH)  # a write per OUT_BATCH, and the rest
