"""How a connection becomes HTTP/2: ALPN on TLS, the preface on cleartext, ``Upgrade: h2c``.

- TLS: the server offers ALPN ``h2, http/1.1`` (RFC 9113 §3.2, RFC 7301); ``AlpnSelector``
  (``pounce/alpn.py``, above both protocols) hands the connection to the protocol the client
  chose once the handshake is done.
- Prior knowledge (RFC 9113 §3.3): an HTTP/1.1 connection whose first bytes are the client
  preface is switched to ``H2Protocol`` with those bytes (``switch_to_h2``).
- ``Upgrade: h2c`` (RFC 7540 §3.2; deprecated by RFC 9113 §3.1 but still sent by curl), only
  with ``--h2c-upgrade``: a bodyless HTTP/1.1 request with a valid ``HTTP2-Settings`` header
  is answered ``101`` and then, over HTTP/2, on stream 1 (``try_h2c_upgrade``).
``--no-http2`` disables all three. The last two start on an HTTP/1.1 connection, whose protocol
imports them: they see it as an ``H1Handover``.

Why the upgrade is off by default (h2c smuggling): a reverse proxy that passes the client's
``Upgrade`` and ``Connection`` headers on (nginx with ``proxy_set_header Connection
$http_connection``, a common WebSocket setup) turns the connection into a blind tunnel once
pounce answers ``101``. The client then speaks HTTP/2 straight to pounce, past the proxy's
access rules. Without ``--h2c-upgrade`` the header is ignored and the request is answered as
HTTP/1.1, which RFC 9110 §7.8 allows. With it, a request that carries a header a proxy adds
(``X-Forwarded-*``, ``Forwarded``, ``X-Real-IP``, ``Via``) is still answered as HTTP/1.1,
whether or not the peer is in ``--forwarded-allow-ips``: such a header is evidence of a proxy
in front, trusted or not (an untrusted one is only left out of the client address), and a
client who forges one only loses its own upgrade. A proxy that adds none of these headers
cannot be told apart from a client: that is the risk ``--h2c-upgrade`` accepts.
"""

from __future__ import annotations

import logging
from typing import Any

from pounce.asgi.scope import h2c_upgrade_scope
from pounce.http1.handover import H1Handover
from pounce.http2.connection import H2Connection
from pounce.http2.constants import CONNECTION_HEADERS
from pounce.http2.protocol import H2Protocol, settings_from_state

__all__ = ["is_proxy_header", "switch_to_h2", "try_h2c_upgrade"]

logger = logging.getLogger("pounce.error")


def switch_to_h2(h1: H1Handover, data: bytes) -> None:
    """Prior knowledge: ``data`` starts with the preface; HTTP/2 takes the connection."""
    transport = h1.detach()
    # HTTP/2 keeps the connection's client, which is not the socket's peer after a PROXY
    # protocol header (pounce/proxy_listener.py).
    h2 = H2Protocol(h1.state, client=h1.client)
    transport.set_protocol(h2)
    h2.connection_made(transport)
    h2.data_received(data)


def _tokens(value: bytes) -> set[bytes]:
    return {item.strip(b" \t") for item in value.lower().split(b",")}


# Request header fields that a proxy adds (besides every ``x-forwarded-*``): a request that
# carries one came through a proxy and must not be tunnelled past it.
PROXY_HEADERS = frozenset((b"forwarded", b"x-real-ip", b"via"))


def is_proxy_header(name: bytes) -> bool:
    """Whether a (lower-case) request header field name is one a proxy adds."""
    return name in PROXY_HEADERS or name.startswith(b"x-forwarded-")


def try_h2c_upgrade(
    h1: H1Handover, scope: dict[str, Any], headers: list[tuple[bytes, bytes]], more_body: bool
) -> bool:
    """Switch to HTTP/2 for an ``Upgrade: h2c`` request; False to answer it as HTTP/1.1.

    Both HTTP/1.1 twins call this, only when ``state.h2c_upgrade`` (``--h2c-upgrade`` and
    ``--http2``) is set, so that with the option off no header is looked at.
    RFC 7540 §3.2: the request must carry exactly one HTTP2-Settings header, named in
    Connection. Requests with a body are answered over HTTP/1.1 (a server may ignore the
    upgrade), which avoids reading a body before the switch. So are requests that came
    through a proxy (``is_proxy_header``; the module docstring says why).
    """
    if more_body or h1.cycle is not None or h1.pipeline or h1.scheme != "http":
        return False
    upgrade = connection = b""
    settings: list[bytes] = []
    proxied = b""
    for name, value in headers:
        if name == b"upgrade":
            upgrade = value
        elif name == b"connection":
            connection += b"," + value
        elif name == b"http2-settings":
            settings.append(value)
        elif is_proxy_header(name):
            proxied = name
    if len(settings) != 1 or b"h2c" not in _tokens(upgrade):
        return False
    if not {b"upgrade", b"http2-settings"} <= _tokens(connection):
        return False
    if proxied:
        logger.debug(
            "Upgrade: h2c from %s answered as HTTP/1.1: it came through a proxy (%s)",
            h1.client,
            proxied.decode("latin-1"),
        )
        return False
    h2_scope = h2c_upgrade_scope(
        scope,
        [(n, v) for n, v in headers if n not in CONNECTION_HEADERS and n != b"http2-settings"],
    )
    # Validate the settings before anything is written (base64url SETTINGS payload).
    if not H2Connection(settings_from_state(h1.state)).initiate_upgrade_connection(settings[0]):
        return False
    transport = h1.detach()
    h2 = H2Protocol(h1.state, upgrade=(settings[0], h2_scope), client=h1.client)
    transport.set_protocol(h2)
    h2.connection_made(transport)
    return True
