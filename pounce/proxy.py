"""Client address, scheme and host from proxy headers, believed from trusted proxies only.

``--forwarded-allow-ips`` lists the proxies whose headers count: IP addresses, CIDR networks,
``*`` (everyone), ``unix:`` (every peer on a UNIX socket), ``unix:PATH`` or an absolute path
(the peers of the UNIX socket bound at PATH), and other literals, which match a header entry
or an ASGI ``client`` host spelled the same way (uvicorn's rule). Default: ``127.0.0.1,::1``.

X-Forwarded-For (the default): every field line is one list (RFC 9110 §5.3 lets a proxy add
its own line, HAProxy's ``option forwardfor`` does), read from the right. The peer added the
rightmost entry; each entry that is a trusted proxy vouches for the one on its left, and the
first entry that is not trusted is the client. A client therefore cannot forge its address by
sending the header itself: whatever it sends stays on the left of what the proxies append.
An empty element ends the walk and leaves the client as it was (the TCP peer), as uvicorn
0.55 does; it is never skipped to reach an address further left. When every entry is trusted,
the leftmost is the client. ``host:port`` and ``[v6]:port`` entries give the client's port;
without one the port is 0. The last X-Forwarded-Proto line gives the scheme (uvicorn).

RFC 7239 ``Forwarded`` (``--proxy-headers-forwarded``, off by default; when on,
X-Forwarded-For/-Proto are not read at all): the same right-to-left walk over the ``for``
parameters of its elements. The element whose ``for`` is the first untrusted node (or the
leftmost one, when all are trusted) also gives ``proto`` (the scheme) and ``host`` (which
replaces the Host header the application sees, as hypercorn's ProxyFixMiddleware does; the
``server`` scope entry stays the listening socket's address). A ``for`` that is ``unknown``
or an obfuscated identifier (RFC 7239 §6.2, §6.3) or missing names a hop that cannot be used
as an address: the walk ends there, the client stays the TCP peer, and that element's
``proto``/``host`` still apply (a trusted proxy wrote them). A field line that does not follow
the §4 grammar, or a ``for`` value that is not a §6 node, ends the walk with nothing applied.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable

from .errors import ConfigError
from .http_syntax import TOKEN_CHARS

Header = tuple[bytes, bytes]
Address = tuple[str, int]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TRUSTED = "127.0.0.1,::1"

# Schemes a proxy may claim (X-Forwarded-Proto, Forwarded proto=); RFC 3986 §3.1: schemes are
# case-insensitive, so they are compared lower-cased. A WebSocket scope gets the ws form.
_SCHEMES = {"http": "http", "https": "https", "ws": "ws", "wss": "wss"}
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}

# A --forwarded-allow-ips entry with a ":" or "/" (other than the unix: forms), or made of
# digits and dots, is meant as an address or network: it must parse as one, or start-up fails
# naming it (uvicorn silently keeps it as a literal that matches nothing).
_ADDRESS_LIKE = re.compile(r"[^:/]*[:/].*|[0-9.]+")

_CACHE_SIZE = 4096
_MAX_CACHED_HOST = 253  # longer than any DNS name or address: never trusted, never cached

# RFC 7239 §4: forwarded-pair = token "=" value; value = token / quoted-string (RFC 9110
# §5.6.2, §5.6.4). OWS is tolerated around ";" as around "," (RFC 9110 §5.6.1).
_TOKEN = "[" + re.escape(TOKEN_CHARS.decode("ascii")) + "]+"
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_PAIR = re.compile(rf"[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})[ \t]*")
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
# RFC 7239 §6: node = nodename [ ":" node-port ]; nodename = IPv4address / "[" IPv6address "]"
# / "unknown" / obfnode; obfnode and obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-").
_OBF = r"_[A-Za-z0-9._-]+"
_NODE = re.compile(
    rf"(?:(\d{{1,3}}(?:\.\d{{1,3}}){{3}})|\[([0-9A-Fa-f:.]+)\]|((?i:unknown)|{_OBF}))"
    rf"(?::(?:(\d{{1,5}})|{_OBF}))?"
)
# RFC 7239 §5.3: host is a Host value (RFC 9110 §7.2: uri-host [ ":" port ], RFC 3986 §3.2.2).
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::\d{0,5})?")

_HIDDEN = ("", 0)  # a Forwarded node that names a hop but no usable address


def parse_trusted(value: str | Iterable[str]) -> list[str]:
    """The entries of a ``--forwarded-allow-ips`` value (comma-separated, or a list)."""
    if isinstance(value, str):
        value = value.split(",")
    return [entry.strip() for entry in value if entry.strip()]


def _port(text: str) -> int | None:
    """A TCP port written as 1-5 ASCII digits, or None."""
    if 0 < len(text) <= 5 and text.isascii() and text.isdigit():
        port = int(text)
        if port <= 65535:
            return port
    return None


def split_host_port(value: str) -> Address:
    """``(host, port)`` of an X-Forwarded-For entry: ``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``,
    ``[2001:db8::1]`` or ``[2001:db8::1]:80`` (port 0 when absent).

    As uvicorn: an entry it cannot read is kept whole as the host, so that a malformed entry is
    never trusted by being cut down to an address; a bracketed address with a bad port keeps the
    address. Unlike uvicorn (``int()``), a port is 1-5 ASCII digits up to 65535.
    """
    if ":" not in value:
        return value, 0  # the common case: a bare IPv4 address or a name
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return value, 0
        host, rest = value[1:end], value[end + 1 :]
        if not rest:
            return host, 0
        if rest[0] != ":":
            return value, 0
        return host, _port(rest[1:]) or 0
    if value.count(":") == 1:
        host, _, text = value.partition(":")
        port = _port(text)
        if port is not None:
            return host, port
    return value, 0


def parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """The elements of one ``Forwarded`` field line, parameter names lower-cased and quoted
    strings unquoted (RFC 7239 §4), or None when the line does not follow the grammar (a
    parameter twice in one element included: §4 forbids it). Empty elements are dropped
    (RFC 9110 §5.6.1)."""
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    pos, end = 0, len(value)
    while True:
        match = _PAIR.match(value, pos)
        if match is not None:
            name = match.group(1).lower()
            if name in current:
                return None
            raw = match.group(2)
            current[name] = _QUOTED_PAIR.sub(r"\1", raw[1:-1]) if raw[0] == '"' else raw
            pos = match.end()
        else:
            while pos < end and value[pos] in " \t":
                pos += 1
        if pos >= end:
            break
        sep = value[pos]
        pos += 1
        if sep == ",":
            if current:
                elements.append(current)
            current = {}
        elif sep != ";":
            return None
    if current:
        elements.append(current)
    return elements


def parse_node(value: str) -> Address | None:
    """A Forwarded ``for`` node (RFC 7239 §6) as ``(host, port)``, ``("", 0)`` for ``unknown``
    and obfuscated identifiers, or None when it is not a node."""
    match = _NODE.fullmatch(value)
    if match is None:
        return None
    v4, v6, hidden, port = match.groups()
    if hidden is not None:
        return _HIDDEN
    try:
        if v4 is not None:
            ipaddress.IPv4Address(v4)
        else:
            ipaddress.IPv6Address(v6)
    except ValueError:
        return None
    return (v4 or v6), (_port(port) or 0) if port else 0


class ProxyTrust:
    """Which peers may set the client address, scheme and host through headers, and what a
    trusted peer's headers say (``apply``). One implementation for the server's HTTP/1.1 and
    HTTP/2 paths (both twins) and ``pounce.middleware.ProxyHeadersMiddleware``."""

    def __init__(self, trusted: str | Iterable[str], forwarded: bool = False) -> None:
        entries = parse_trusted(trusted)
        self.forwarded = forwarded
        self.always = "*" in entries
        self.addresses: set[IPAddress] = set()
        self.networks: list[IPNetwork] = []
        self.literals: set[str] = set()
        self.unix_any = False
        self.unix_paths: set[str] = set()
        for entry in entries:
            if entry == "*":
                continue
            if entry.startswith("unix:") or entry.startswith("/"):
                path = entry[5:] if entry.startswith("unix:") else entry
                if path:
                    self.unix_paths.add(os.path.abspath(path))
                else:
                    self.unix_any = True
                # uvicorn keeps such an entry as a literal, matched against the client host.
                self.literals.add(entry)
                continue
            if not _ADDRESS_LIKE.fullmatch(entry):
                self.literals.add(entry)  # a name: matches an entry spelled the same way
                continue
            text = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
            try:
                if "/" in text:
                    self.networks.append(ipaddress.ip_network(text, strict=False))
                else:
                    self.addresses.add(ipaddress.ip_address(text))
            except ValueError:
                raise ConfigError(
                    f"--forwarded-allow-ips: {entry!r} is not an IP address or network"
                ) from None
        self._cache: dict[str, bool] = {}

    def is_trusted(self, host: str | None) -> bool:
        """Whether ``host`` (an address, or a literal) is a trusted proxy."""
        if self.always:
            return True
        if not host:
            return False
        cached = self._cache.get(host)
        if cached is not None:
            return cached
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            trusted = host in self.literals
        else:
            trusted = addr in self.addresses or any(addr in net for net in self.networks)
        if len(host) <= _MAX_CACHED_HOST and len(self._cache) < _CACHE_SIZE:
            self._cache[host] = trusted
        return trusted

    def trusts_peer(self, client: Address | None, sock: socket.socket | None) -> bool:
        """Whether the peer of a connection is trusted: its address ``client``, or, for a peer
        on a UNIX socket (no address), the socket ``sock`` it came in on."""
        if client is not None:
            return self.is_trusted(client[0])
        if sock is not None and sock.family == socket.AF_UNIX:
            path = sock.getsockname()
            return self.trusts_unix(path if isinstance(path, str) else None)
        return self.always

    def trusts_unix(self, path: str | None) -> bool:
        """Whether a peer on the UNIX socket bound at ``path`` (None: unknown) is trusted."""
        if self.always or self.unix_any:
            return True
        if not path:
            return False
        return os.path.abspath(path) in self.unix_paths

    def client_from_forwarded_for(self, value: str) -> Address | None:
        """The client an X-Forwarded-For list names (the module docstring gives the walk), or
        None when the list names none that can be used: keep the peer."""
        if "," not in value:
            # One entry (the common case): the client whether trusted or not (when every
            # entry is trusted the leftmost is the client); empty: keep the peer.
            host, port = split_host_port(value.strip())
            return (host, port) if host else None
        items = value.split(",")
        for item in reversed(items):
            host, port = split_host_port(item.strip())
            if not host:
                return None
            if not self.is_trusted(host):
                return host, port
        return split_host_port(items[0].strip())

    def apply(
        self,
        headers: list[Header],
        client: Address | None,
        scheme: str,
        websocket: bool = False,
    ) -> tuple[Address | None, str]:
        """The (client, scheme) a request from a trusted peer claims through its headers.

        With ``Forwarded`` on, a ``host`` parameter replaces the Host header in ``headers`` (a
        list the caller owns) in place.
        """
        if self.forwarded:
            return self._apply_forwarded(headers, client, scheme, websocket)
        proto: bytes | None = None
        forwarded_for: list[bytes] = []
        for name, value in headers:
            if name == b"x-forwarded-for":
                forwarded_for.append(value)
            elif name == b"x-forwarded-proto":
                proto = value  # the last line wins, as uvicorn
        if proto is not None:
            scheme = self._scheme(proto.decode("latin-1"), scheme, websocket)
        if forwarded_for:
            # RFC 9110 §5.3: several field lines are one comma-separated list, in order.
            joined = forwarded_for[0] if len(forwarded_for) == 1 else b",".join(forwarded_for)
            found = self.client_from_forwarded_for(joined.decode("latin-1"))
            if found is not None and found[0]:
                client = found
        return client, scheme

    @staticmethod
    def _scheme(claimed: str, scheme: str, websocket: bool) -> str:
        claimed = claimed.strip().lower()
        if claimed in _SCHEMES:
            return _WS_SCHEMES[claimed] if websocket else _SCHEMES[claimed]
        return scheme

    def _apply_forwarded(
        self,
        headers: list[Header],
        client: Address | None,
        scheme: str,
        websocket: bool,
    ) -> tuple[Address | None, str]:
        elements: list[dict[str, str] | None] = []
        for name, value in headers:
            if name == b"forwarded":
                # Each line parsed alone: a client's malformed line cannot swallow the line
                # a proxy added after it; it becomes one unreadable hop (None).
                parsed = parse_forwarded(value.decode("latin-1"))
                if parsed is None:
                    elements.append(None)
                else:
                    elements.extend(parsed)
        if not elements:
            return client, scheme
        chosen: dict[str, str] | None = None
        claimed: Address | None = None
        for index in range(len(elements) - 1, -1, -1):
            element = elements[index]
            if element is None:
                return client, scheme
            node_text = element.get("for")
            node = _HIDDEN if node_text is None else parse_node(node_text)
            if node is None:
                return client, scheme
            chosen = element
            if node is _HIDDEN:
                claimed = None
                break
            claimed = node
            if not self.is_trusted(node[0]):
                break
        assert chosen is not None
        if claimed is not None:
            client = claimed
        proto = chosen.get("proto")
        if proto is not None:
            scheme = self._scheme(proto, scheme, websocket)
        host = chosen.get("host")
        if host is not None and _HOST.fullmatch(host):
            replace_host(headers, host.encode("latin-1"))
        return client, scheme


def replace_host(headers: list[Header], host: bytes) -> None:
    """Make ``host`` the only Host field of ``headers``, in the first Host field's place."""
    places = [i for i, (name, _) in enumerate(headers) if name == b"host"]
    if not places:
        headers.append((b"host", host))
        return
    headers[places[0]] = (b"host", host)
    for i in reversed(places[1:]):
        del headers[i]


__all__ = [
    "DEFAULT_TRUSTED",
    "ProxyTrust",
    "parse_forwarded",
    "parse_node",
    "parse_trusted",
    "replace_host",
    "split_host_port",
]
