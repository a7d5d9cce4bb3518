"""``ProxyHeaderReader`` (pounce/proxy_listener.py) on a fake transport, with both HTTP/1.1
twins behind it: the hand-over with the header's client, and what is closed and counted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pounce import Config
from pounce.proxy import ProxyTrust
from pounce.proxy_listener import ProxyHeaderReader
from pounce.state import ServerState
from tests.fakes import FakeTransport, spin

pytestmark = pytest.mark.timeout(30)

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"


async def client_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(scope["client"]).encode()})


def run(h1_class: type, pieces: list[bytes], peer=("127.0.0.1", 1234), eof=False, expire=False):
    """Feed ``pieces`` to a reader on a fake transport from ``peer``: (transport, state)."""

    async def main() -> tuple[FakeTransport, ServerState]:
        loop = asyncio.get_running_loop()
        state = ServerState(Config(app=client_app), client_app, loop)
        trust = ProxyTrust("127.0.0.1")
        reader = ProxyHeaderReader(
            state, trust, lambda client: h1_class(state, "httptools", client), None
        )
        transport = FakeTransport(peer)
        transport.protocol = reader
        reader.connection_made(transport)
        for piece in pieces:
            if transport.closed:
                break
            transport.protocol.data_received(piece)
            await spin()
        if eof and transport.protocol is reader:
            reader.eof_received()
        if expire:
            assert reader in state.connections and reader.deadline > 0
            reader.check_deadline(reader.deadline)
        await spin()
        assert reader not in state.connections
        return transport, state

    return asyncio.run(main())


def test_header_in_pieces_then_the_request(h1_protocol_class):
    header = b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n"
    data = header + REQUEST
    transport, state = run(h1_protocol_class, [data[:7], data[7:50], data[50:]])
    head, _, body = bytes(transport.out).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    # The header's client; its X-Forwarded-For is not believed (203.0.113.9 is not trusted).
    assert b'["203.0.113.9", 5555]' in body
    assert state.proxy_protocol_rejected == {}


def test_local_keeps_the_peer(h1_protocol_class):
    local = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    transport, _ = run(h1_protocol_class, [local + REQUEST], peer=("127.0.0.1", 4321))
    # The peer is a trusted proxy: its request's X-Forwarded-For names the client.
    assert b'["6.6.6.6", 0]' in bytes(transport.out)


@pytest.mark.parametrize(
    ("pieces", "options", "kind"),
    [
        ([REQUEST], {}, "missing"),
        ([b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n" + REQUEST], {}, "malformed"),
        ([b"PROXY UNKNOWN " + b"x" * 200], {}, "oversized"),
        ([b"PROXY TCP4 1.2.3.4"], {"eof": True}, "truncated"),
        ([b"PROXY TCP4 1.2.3.4"], {"expire": True}, "timeout"),
        ([b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n" + REQUEST], {"peer": ("10.0.0.1", 1)}, "untrusted"),
    ],
)
def test_closed_without_a_response_and_counted(h1_protocol_class, pieces, options, kind):
    transport, state = run(h1_protocol_class, pieces, **options)
    assert transport.closed
    assert bytes(transport.out) == b""
    assert state.proxy_protocol_rejected == {kind: 1}
