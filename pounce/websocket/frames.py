"""The sans-I/O API between a WebSocket session and its frame core, and the events it returns.

A frame core turns the client's bytes into complete messages and control events
(``receive_data``) and the session's messages into frame bytes (``send_*``); it knows nothing of
ASGI, carriers or timers. Two cores implement it: the wsproto-backed one
(``pounce/websocket/core.py``) and the compiled one (``pounce/_speedups/_ws.pyx``), which the
former's selector imports; so the events live here, below both, and neither imports the other's
module for them (as ``pounce/http2/events.py`` for the HTTP/2 cores).

The API (``FrameCore``):

- ``FrameCore(max_size)``: a server-side core (RFC 6455 §5.1: client frames must be masked,
  server frames are not). ``max_size`` bounds a received message's payload in bytes (after
  inflating, with permessage-deflate); over it the core fails the connection with 1009.
- ``negotiate(offers) -> bytes | None``: the client's ``Sec-WebSocket-Extensions`` offers; the
  header value of the permessage-deflate agreement (RFC 7692 §5), or None to run without an
  extension. Called once, before any data.
- ``receive_data(data) -> list[Event]``: the events the bytes complete, in order. A protocol
  error from the client ends the list with ``Failure`` (and the core reads nothing more); a
  ``Close`` ends it too (RFC 6455 §5.5.1: nothing follows a close frame). After either,
  ``receive_data`` raises ``ConnectionClosed``.
- ``receive(data) -> list[Item]``: the same, with each complete message as its payload alone
  (``bytes``: binary, ``str``: text) in place of a ``BytesMessage`` or ``TextMessage``: what
  the session reads, without an event object per message (nearly every event is a message).
  ``receive_data`` is ``as_events(receive(data))``, so the differential test of the cores
  covers both.
- ``send_message(data)``, ``send_ping(payload)``, ``send_pong(payload)``: frame bytes, one
  buffer each, unmasked (RFC 6455 §5.1); ``b""`` once a close frame was sent or received
  (§5.5.1: nothing follows a close frame; a ping that arrives while ours is out gets no pong).
- ``send_message_parts(data)``: ``send_message``'s frame as a list of buffers to write in that
  order (``[]`` after a close frame): a core may give the header and the payload apart, so
  that a large payload is written as it is (writev) rather than copied into the frame.
- ``send_close(code, reason)``: the close frame (RFC 6455 §5.5.1), or ``b""`` once one was sent;
  ``close_sent`` tells which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# RFC 6455 §7.4.1 close codes a core fails the connection with.
PROTOCOL_ERROR = 1002
INVALID_DATA = 1007  # a text message that is not UTF-8 (§8.1), a payload that does not inflate
TOO_BIG = 1009
# The reason sent with 1009, whichever limit was crossed (wire length or inflated size).
TOO_BIG_REASON = "Message too big"


class ConnectionClosed(Exception):
    """``receive_data`` after a close frame or a failure: the core reads nothing more."""


@dataclass(slots=True)
class TextMessage:
    """A complete text message (all its fragments, RFC 6455 §5.4), decoded from UTF-8."""

    data: str


@dataclass(slots=True)
class BytesMessage:
    """A complete binary message (all its fragments, RFC 6455 §5.4)."""

    data: bytes


@dataclass(slots=True)
class Ping:
    """RFC 6455 §5.5.2: the session answers with a pong carrying the same payload."""

    payload: bytes


@dataclass(slots=True)
class Pong:
    """RFC 6455 §5.5.3."""

    payload: bytes


@dataclass(slots=True)
class Close:
    """The client's close frame (RFC 6455 §5.5.1); 1005 when it carried no code (§7.1.5)."""

    code: int
    reason: str


@dataclass(slots=True)
class Failure:
    """The client broke the protocol: fail the connection with ``code`` (RFC 6455 §7.1.7)."""

    code: int
    reason: str


Event = TextMessage | BytesMessage | Ping | Pong | Close | Failure
# What ``receive`` returns: a message's payload alone (bytes: binary, str: text), or an event.
Item = bytes | str | Ping | Pong | Close | Failure


def as_events(items: list[Item]) -> list[Event]:
    """``receive``'s items as ``receive_data``'s events: each payload in its message event."""
    events: list[Event] = []
    for item in items:
        if isinstance(item, bytes):
            events.append(BytesMessage(item))
        elif isinstance(item, str):
            events.append(TextMessage(item))
        else:
            events.append(item)
    return events


class FrameCore(Protocol):
    """What the session needs from a frame core (see the module docstring)."""

    @property
    def close_sent(self) -> bool: ...

    def negotiate(self, offers: list[str]) -> bytes | None: ...

    def receive_data(self, data: bytes) -> list[Event]: ...

    def receive(self, data: bytes) -> list[Item]: ...

    def send_message(self, data: bytes | str) -> bytes: ...

    def send_message_parts(self, data: bytes | str) -> list[bytes]: ...

    def send_ping(self, payload: bytes) -> bytes: ...

    def send_pong(self, payload: bytes) -> bytes: ...

    def send_close(self, code: int, reason: str) -> bytes: ...
