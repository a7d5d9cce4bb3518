"""The compiled protocol reuses a connection's last response head only for identical fields.

An app answering several requests on one keep-alive connection with the same, different, and
mutated header lists gets exactly the heads the pure twin writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pounce.http1 import protocol as h1_module
from tests.conftest import compiled_module
from tests.fakes import spin, start_h1

_http1 = compiled_module("_http1")

MUTABLE: list[list[bytes]] = [[b"x-count", b"0"]]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    path = scope["path"]
    if path == "/a":
        headers: Any = [(b"content-type", b"text/plain"), (b"x-v", b"a")]
        status = 200
    elif path == "/b":
        headers = [(b"content-type", b"text/plain"), (b"x-v", b"b")]
        status = 201
    else:  # the same list object, its inner list changed between responses
        MUTABLE[0][1] = str(int(MUTABLE[0][1]) + 1).encode()
        headers = MUTABLE
        status = 200
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": path.encode()})


def run(protocol_class: type, data: bytes) -> bytes:
    async def main() -> bytes:
        proto, transport = await start_h1(
            protocol_class, "httptools", app, access_log=False, date_header=False, http="httptools"
        )
        proto.data_received(data)
        await spin(50)
        return bytes(transport.out)

    MUTABLE[0][1] = b"0"
    return asyncio.run(main())


def test_heads_follow_the_fields_of_each_response() -> None:
    paths = ["/a", "/a", "/b", "/a", "/m", "/m", "/b", "/b"]
    data = b"".join(b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % p.encode() for p in paths)
    compiled = run(_http1.H1Protocol, data)
    assert compiled == run(h1_module.H1ProtocolPy, data)
    assert compiled.count(b"HTTP/1.1 200 OK\r\n") == 5
    assert compiled.count(b"HTTP/1.1 201 Created\r\n") == 3
    assert compiled.count(b"x-v: a\r\n") == 3 and compiled.count(b"x-v: b\r\n") == 3
    assert b"x-count: 1\r\n" in compiled and b"x-count: 2\r\n" in compiled
