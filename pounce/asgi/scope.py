"""The ASGI scope, built here for every protocol: the keys of an ``http`` scope (HTTP/1.1,
HTTP/2) and of a ``websocket`` scope (over either), the ``asgi`` key, the method strings, and the
server, client and scheme of a connection (with whether its peer is a trusted proxy).

ASGI HTTP & WebSocket spec 2.4 (https://asgi.readthedocs.io/en/latest/specs/www.html),
"HTTP Connection Scope" and "WebSocket Connection Scope". A scope is built in two parts: the
keys one connection's requests share (``http_connection_scope``, once per connection), and a
request's own keys, filled into a copy of that (``http_request_scope``). A WebSocket's scope is
made from the ``http`` scope of its handshake (``websocket_scope``).

This file is compiled a second time by Cython as ``pounce._speedups._scope``
(``_speedups/_scope.pxd``), so that the compiled HTTP/1.1 protocol builds each request's
scope through a C call.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from wsproto.utilities import split_comma_header

from pounce._compat import USE_EXTENSIONS, import_compiled, record_selection
from pounce.state import ServerState

try:
    import cython  # type: ignore[import-untyped]  # Cython ships no type information
except ImportError:  # a pure install without Cython: only ``cython.compiled`` is read
    cython = SimpleNamespace(compiled=False)

# scope["asgi"] of every HTTP/1.1, HTTP/2 and WebSocket scope.
ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}

# The scope's method str of common methods, without decoding (both HTTP versions).
METHODS = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}

# A socket's (host, port), None for a unix socket: the scope's ``server`` and ``client``.
Address = tuple[str, int] | None


def socket_address(addr: Any) -> Address:
    """(host, port) for an IP socket address; None for a unix socket."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return (str(addr[0]), int(addr[1]))
    return None


def describe_connection(
    transport: Any, state: Any, handed_client: Address
) -> tuple[Address, Address, str, bool]:
    """``(server, client, scheme, proxy_trusted)`` of a new connection, for every protocol.

    ``handed_client``: the client the protocol was handed when it is not the socket's peer
    (the PROXY header's source, pounce/proxy_listener.py, kept when HTTP/1.1 becomes HTTP/2);
    None for the peer.

    ``proxy_trusted``: whether this peer may set the client and scheme through
    X-Forwarded-For/-Proto (or Forwarded). A peer on a UNIX socket has no address: it is
    trusted under ``*``, ``unix:`` or ``unix:PATH`` naming the socket it came in on.
    """
    server = client = None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        server = socket_address(sock.getsockname())
        client = socket_address(transport.get_extra_info("peername"))
    if handed_client is not None:
        client = handed_client
    scheme = "https" if transport.get_extra_info("sslcontext") is not None else "http"
    proxy = state.proxy
    trusted = proxy is not None and proxy.trusts_peer(client, sock)
    return server, client, scheme, trusted


def http_connection_scope(
    http_version: str | None,
    server: Address,
    client: Address,
    scheme: str,
    root_path: str,
) -> dict[str, Any]:
    """The keys of an ``http`` scope that every request on one connection shares.

    Each request's scope starts as a copy of this (a dict copy is cheaper than inserting the
    keys that never change on a connection). The request's own keys are here as None, so that
    the copy has every key in the spec's order: ``method``, ``path``, ``raw_path``,
    ``query_string``, ``headers`` and ``state`` (a shallow copy of the lifespan state per
    request, spec: "Lifespan State"), and ``http_version`` when the connection's requests may
    differ (HTTP/1.0 or 1.1 on one HTTP/1.x connection: None here). ``client`` and ``scheme``
    are replaced per request when a trusted proxy's headers say otherwise (pounce/proxy.py).
    """
    return {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": http_version,
        "server": server,
        "client": client,
        "scheme": scheme,
        "method": None,
        "root_path": root_path,
        "path": None,
        "raw_path": None,
        "query_string": None,
        "headers": None,
        "state": None,
    }


def http2_extensions() -> dict[str, Any]:
    """``scope["extensions"]`` of an HTTP/2 request: the app may send response trailers
    (ASGI "HTTP Trailers" extension; RFC 9113 §8.1). A new dict per request: the request's
    own trailers are added to it when they arrive (http2/protocol.py)."""
    return {"http.response.trailers": {}}


def h2c_upgrade_scope(http1_scope: dict[str, Any], headers: list[Any]) -> dict[str, Any]:
    """The scope of stream 1 after ``Upgrade: h2c`` (RFC 7540 §3.2): the upgraded HTTP/1.1
    request, answered over HTTP/2. ``headers`` are the request's without the connection-specific
    fields (RFC 9113 §8.2.2) and ``HTTP2-Settings``, which belonged to the HTTP/1.1 hop."""
    scope = http1_scope.copy()
    scope["http_version"] = "2"
    scope["headers"] = headers
    scope["extensions"] = http2_extensions()
    return scope


def http_request_scope(  # noqa: PLR0917  # positional: the compiled HTTP/1.1 calls it as a C function
    connection: dict[str, Any],
    state: ServerState,
    http_version: str | None,
    forwarded: bool,
    method: str,
    path: str,
    raw_path: bytes,
    query_string: bytes,
    headers: list[Any],  # of (name, value) bytes pairs (list[tuple[...]] is a C type to Cython)
    lifespan_state: dict[str, Any],
    extensions: dict[str, Any] | None,
) -> dict[str, Any]:
    """One request's ``http`` scope: a copy of its connection's (``http_connection_scope``)
    with the request's keys filled. HTTP/1.1 calls it for every request: compiled
    (``_speedups/_scope.pxd``), it is a C call.

    ``http_version`` is set unless None (the connection's, HTTP/2). ``path`` is the decoded
    path and ``raw_path`` the target's path as sent, both without the root path: with
    ``--root-path`` both get it in front (the spec's ``path`` includes ``root_path``).
    ``forwarded``: a trusted proxy's X-Forwarded-*/Forwarded fields may replace ``client`` and
    ``scheme`` (pounce/proxy.py). ``state`` gets a shallow copy of ``lifespan_state`` (spec:
    "Lifespan State"). ``extensions`` is left out when None.
    """
    scope = connection.copy()
    if http_version is not None:
        scope["http_version"] = http_version
    if forwarded:
        scope["client"], scope["scheme"] = state.proxy.apply(  # type: ignore[union-attr]  # forwarded implies a proxy
            headers, scope["client"], scope["scheme"]
        )
    root_path = scope["root_path"]
    if root_path:
        path = root_path + path
        raw_path = state.root_path_bytes + raw_path
    scope["method"] = method
    scope["path"] = path
    scope["raw_path"] = raw_path
    scope["query_string"] = query_string
    scope["headers"] = headers
    scope["state"] = lifespan_state.copy()
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


def header_tokens(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """The comma-separated tokens of every field called ``name`` (RFC 9110 §5.3: fields of one
    name combine as one comma-separated list)."""
    tokens: list[str] = []
    for key, value in headers:
        if key == name:
            tokens.extend(split_comma_header(value))
    return tokens


def websocket_scope(http_scope: dict[str, Any], http_version: str) -> dict[str, Any]:
    """The ``websocket`` scope of a handshake, made from the ``http`` scope its carrier built
    (an HTTP/1.1 GET with Upgrade, RFC 6455 §4.1, or an HTTP/2 extended CONNECT, RFC 8441 §4).

    It keeps the http scope's keys but ``method`` and ``extensions``: its scheme is ``ws`` or
    ``wss``, ``subprotocols`` are the Sec-WebSocket-Protocol tokens (RFC 6455 §4.1), and its
    extension is the denial response (ASGI "WebSocket Denial Response").
    """
    scope = {k: v for k, v in http_scope.items() if k not in ("method", "extensions")}
    scope["type"] = "websocket"
    scope["asgi"] = ASGI_VERSION
    scope["http_version"] = http_version
    scope["scheme"] = "wss" if http_scope["scheme"] in ("https", "wss") else "ws"
    scope["subprotocols"] = header_tokens(http_scope["headers"], b"sec-websocket-protocol")
    scope["extensions"] = {"websocket.http.response": {}}
    return scope


if not cython.compiled:  # this file run as is (Cython drops the block from its compiled build)
    _error: ImportError | None = None
    if not TYPE_CHECKING and USE_EXTENSIONS:
        # HTTP/2 builds each stream's scope with the compiled http_request_scope too (a copy
        # and seven stores cost about 600 instructions more per request run as Python).
        try:
            http_request_scope = import_compiled("pounce._speedups._scope").http_request_scope
        except ImportError as exc:
            _error = exc
    record_selection("scope", __name__, _error)
