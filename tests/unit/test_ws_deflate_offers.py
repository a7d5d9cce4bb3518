"""permessage-deflate offers (RFC 7692 §5, §7.1) through a whole WebSocket handshake: each
session build (``ws_session_class``) on each frame core (``frame_core``: wsproto's twin and the
compiled one) answers an offer with the same ``Sec-WebSocket-Extensions`` header, or none, and
the handshake succeeds either way: an offer the server cannot accept is declined, never a
failed handshake (§5.1). Where the server agrees, a compressed message then goes both ways.

What the reference implementations do with each offer (wsproto 1.3, websockets 17) is in the
comment of each case; pounce follows RFC 7692 §7.1, which is websockets' behaviour.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage
from wsproto.extensions import PerMessageDeflate

from pounce.asgi.scope import websocket_scope
from pounce.config import Config
from pounce.state import ServerState
from pounce.websocket import core as ws_core
from pounce.websocket.session import OPEN, WebSocketSession
from tests.conftest import pick_twin, twin_params
from tests.fakes import FakeCarrier

pytestmark = pytest.mark.timeout(20)

PMD = "permessage-deflate"

# The Sec-WebSocket-Extensions header a client sends -> the server's answer (None: no header,
# the connection runs uncompressed).
CASES: dict[str, tuple[str, str | None]] = {
    # §7.1: "MUST decline ... an extension parameter not defined for use in an offer".
    # wsproto ignored the parameter and accepted; websockets declines.
    "unknown parameter": (f"{PMD}; x_unknown", None),
    "unknown parameter with a value": (f"{PMD}; x_unknown=1", None),
    # §7.1: "MUST decline ... multiple extension parameters with the same name". wsproto took
    # the last (client_max_window_bits=12); websockets declines.
    "duplicate parameter": (
        f"{PMD}; client_max_window_bits=10; client_max_window_bits=12",
        None,
    ),
    "duplicate parameter without a value": (
        f"{PMD}; server_no_context_takeover; server_no_context_takeover",
        None,
    ),
    # §7.1.2: window bits are 8-15. Both libraries decline 16.
    "window bits over 15": (f"{PMD}; server_max_window_bits=16", None),
    # Not a number: wsproto raised ValueError out of its handshake; websockets declines.
    "window bits not a number": (f"{PMD}; client_max_window_bits=x", None),
    # §7.1.2.1: "without leading zeroes". websockets declines.
    "window bits with a leading zero": (f"{PMD}; server_max_window_bits=010", None),
    # §7.1.2.1: server_max_window_bits has a value. wsproto answered it with 15; websockets
    # declines.
    "server window bits without a value": (f"{PMD}; server_max_window_bits", None),
    # §7.1.1: the context takeover parameters have no value. wsproto accepted; websockets
    # declines.
    "context takeover with a value": (f"{PMD}; server_no_context_takeover=1", None),
    # zlib's raw deflate has no 8-bit window: declined (websockets accepts it for the client,
    # wsproto declines).
    "window bits 8": (f"{PMD}; client_max_window_bits=8", None),
    # RFC 6455 §9.1: a value may be a quoted-string. wsproto raised ValueError; websockets
    # reads 10.
    "quoted window bits": (
        f'{PMD}; client_max_window_bits="10"',
        f"{PMD}; client_max_window_bits=10",
    ),
    "window bits in range": (
        f"{PMD}; server_max_window_bits=10; client_no_context_takeover",
        f"{PMD}; client_no_context_takeover; server_max_window_bits=10",
    ),
    # §5.1: the server accepts the first offer it can; the ones before it are declined. All
    # three implementations answer the third offer (wsproto's own handshake kept the
    # parameters of the declined ones on its extension, see deflate.py).
    "several offers, the first ones declined": (
        f"{PMD}; server_max_window_bits=7, {PMD}; x_unknown, {PMD}; client_no_context_takeover",
        f"{PMD}; client_no_context_takeover",
    ),
    "several offers, the first accepted": (
        f"{PMD}; server_no_context_takeover, {PMD}",
        f"{PMD}; server_no_context_takeover",
    ),
    "several offers, none acceptable": (f"{PMD}; x_unknown, {PMD}; client_max_window_bits=7", None),
    # RFC 6455 §9.1: another extension is not answered; the next offer is ours.
    "another extension first": (
        f"x-webkit-deflate-frame, {PMD}; client_max_window_bits",
        f"{PMD}; client_max_window_bits=15",
    ),
}


@pytest.fixture(params=twin_params("_ws"))
def frame_core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """The frame core a new session opens (``core.open_core`` reads ``core.FrameCore``): the
    wsproto twin, and the compiled one."""
    cls = pick_twin(request, ws_core.WsprotoCore, "_ws", "FrameCore")
    monkeypatch.setattr(ws_core, "FrameCore", cls)
    return cls


def handshake(
    cls: type[WebSocketSession], offers: str
) -> tuple[WebSocketSession, FakeCarrier, list[tuple[bytes, bytes]]]:
    """An echo app's session offered ``offers``, accepted; its headers and one message each
    way, compressed when agreed, checked."""
    messages: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        messages.append(message)
        await send({"type": "websocket.send", "text": message["text"]})

    async def main() -> tuple[WebSocketSession, FakeCarrier, list[tuple[bytes, bytes]]]:
        config = Config(app=app, access_log=False, ws_per_message_deflate=True)
        state = ServerState(config, app, asyncio.get_running_loop())
        carrier = FakeCarrier()
        headers = [(b"sec-websocket-extensions", offers.encode())]
        http_scope = {
            "type": "http",
            "http_version": "1.1",
            "scheme": "http",
            "method": "GET",
            "path": "/",
            "headers": headers,
            "state": {},
        }
        session = WebSocketSession(state, carrier, websocket_scope(http_scope, "1.1"))
        session.start()
        for _ in range(5):
            await asyncio.sleep(0)
        assert carrier.accepted is not None and session.status == OPEN  # the handshake
        answer = dict(carrier.accepted).get(b"sec-websocket-extensions")
        extensions = []
        if answer is not None:
            client_deflate = PerMessageDeflate()
            client_deflate.finalize(answer.decode())
            extensions.append(client_deflate)
        client = Connection(ConnectionType.CLIENT, extensions=extensions)
        text = "compressible " * 50
        wire = client.send(TextMessage(data=text))
        # RSV1 (RFC 7692 §6) on the client's frame exactly when deflate was agreed.
        assert bool(wire[0] & 0x40) == (answer is not None)
        session.feed(wire)
        for _ in range(10):
            await asyncio.sleep(0)
        assert messages == [{"type": "websocket.receive", "text": text}]
        assert bool(carrier.out[0] & 0x40) == (answer is not None)  # the echo, likewise
        client.receive_data(bytes(carrier.out))
        assert [e.data for e in client.events() if isinstance(e, TextMessage)] == [text]
        session.connection_lost()
        for _ in range(5):
            await asyncio.sleep(0)
        return session, carrier, carrier.accepted

    return asyncio.run(main())


@pytest.mark.parametrize("case", sorted(CASES))
def test_offer_answer(
    ws_session_class: type[WebSocketSession], frame_core: type, case: str
) -> None:
    offers, expected = CASES[case]
    session, _carrier, accepted = handshake(ws_session_class, offers)
    assert type(session.core) is frame_core
    answers = [value for name, value in accepted if name == b"sec-websocket-extensions"]
    assert answers == ([] if expected is None else [expected.encode()])
