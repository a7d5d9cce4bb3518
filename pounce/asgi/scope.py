"""What every protocol puts in an ASGI scope, defined once: the ``asgi`` key, the method
strings, and the server, client and scheme of a connection (with whether its peer is a trusted
proxy)."""

from __future__ import annotations

import socket
from typing import Any

# scope["asgi"] of every HTTP/1.1, HTTP/2 and WebSocket scope.
ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}

# The scope's method str of common methods, without decoding (both HTTP versions).
METHODS = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}


def socket_address(addr: Any) -> tuple[str, int] | None:
    """(host, port) for an IP socket address; None for a unix socket."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return (str(addr[0]), int(addr[1]))
    return None


def describe_connection(
    transport: Any, state: Any
) -> tuple[tuple[str, int] | None, tuple[str, int] | None, str, bool]:
    """``(server, client, scheme, proxy_trusted)`` of a new connection, for every protocol.

    ``proxy_trusted``: whether this peer may set the client and scheme through
    X-Forwarded-For/-Proto (or Forwarded). A peer on a UNIX socket has no address: it is
    trusted under ``*``, ``unix:`` or ``unix:PATH`` naming the socket it came in on.
    """
    server = client = None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        server = socket_address(sock.getsockname())
        client = socket_address(transport.get_extra_info("peername"))
    scheme = "https" if transport.get_extra_info("sslcontext") is not None else "http"
    trusted = False
    proxy = state.proxy
    if proxy is not None:
        if client is not None:
            trusted = proxy.is_trusted(client[0])
        elif sock is not None and sock.family == socket.AF_UNIX:
            path = sock.getsockname()
            trusted = proxy.trusts_unix(path if isinstance(path, str) else None)
        else:
            trusted = proxy.always
    return server, client, scheme, trusted
