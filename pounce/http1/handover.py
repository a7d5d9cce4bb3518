"""What a protocol taking an HTTP/1.1 connection over needs of it.

HTTP/2 (prior knowledge, RFC 9113 §3.3; ``Upgrade: h2c``, RFC 7540 §3.2; in
``pounce/http2/negotiate.py``) and WebSocket (RFC 6455 §4; ``pounce/websocket/over_http1.py``)
take the transport of an ``H1Protocol`` (either build) once it hands it over. They sit below the
HTTP/1.1 protocol, which imports them, so they name what they use of it here rather than
import it: an import circle otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from pounce.state import ServerState


class H1Handover(Protocol):
    """An HTTP/1.1 connection (``pounce.http1.protocol.H1Protocol``) as the protocol that takes
    it over sees it."""

    @property
    def state(self) -> ServerState: ...

    @property
    def transport(self) -> asyncio.Transport: ...

    @property
    def server(self) -> tuple[str, int] | None: ...

    @property
    def client(self) -> tuple[str, int] | None: ...

    @property
    def scheme(self) -> str: ...

    @property
    def cycle(self) -> object:
        """The request the app is answering (None when there is none)."""

    @property
    def pipeline(self) -> list[Any]:
        """Complete requests queued behind ``cycle``."""

    def detach(self) -> asyncio.Transport:
        """Read nothing more, and give the transport to the protocol taking over."""
