"""The PROXY protocol header, versions 1 and 2: a sans-I/O parser.

HAProxy's specification ("The PROXY protocol", versions 1 & 2,
https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt) lets a proxy that relays a TCP
connection (HAProxy ``send-proxy``/``send-proxy-v2``, an AWS NLB, ...) send, before anything
else, the addresses of the connection it accepted. ``parse(data)`` reads that header from the
bytes received so far and returns one of:

- ``None``: not enough bytes yet to decide;
- a ``ProxyHeader``: how many bytes the header took (``consumed``; what follows belongs to
  HTTP or TLS) and the original ``client`` and ``server`` addresses, both None when the peer's
  own address is to be kept (v2 ``LOCAL``, v1 ``UNKNOWN``, v2 ``AF_UNSPEC`` and ``AF_UNIX``);
- a ``Rejected``: the header is missing, malformed or too long, with the reason.

The answer depends only on the bytes it looked at, which are all within the first
``consumed`` bytes (or the bytes that made it fail), so feeding the same bytes in any split
and calling ``parse`` on what has accumulated gives the same final answer.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_V1_LENGTH",
    "MAX_V2_LENGTH",
    "V1_PREFIX",
    "V2_SIGNATURE",
    "ProxyHeader",
    "Rejected",
    "parse",
]

Address = tuple[str, int]

# §2.1: "PROXY" + one space; the line is at most 107 bytes, CRLF included.
V1_PREFIX = b"PROXY "
MAX_V1_LENGTH = 107
# §2.2: the binary header starts with these 12 bytes, then version/command, family/transport
# and a 16-bit big-endian length of what follows (addresses, then TLVs).
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED_LENGTH = 16
# The specification allows up to 65535 bytes after the fixed part. What a proxy puts there
# (addresses plus TLVs: ALPN, authority, unique id, SSL details, a cloud endpoint id) is a few
# hundred bytes; more is refused rather than buffered for a peer that may not be a proxy.
MAX_V2_LENGTH = 4096

# §2.2, the 13th byte: version 2 in the high nibble, the command in the low one.
_V2_VERSION = 0x20
_CMD_LOCAL = 0x0
_CMD_PROXY = 0x1
# The 14th byte: address family (high nibble) and transport (low nibble: UNSPEC, STREAM,
# DGRAM); each family's address block has a fixed length (§2.2: 12, 36 and 216 bytes).
_AF_UNSPEC = 0x0
_AF_INET = 0x1
_AF_INET6 = 0x2
_AF_UNIX = 0x3
_ADDRESS_LENGTH = {_AF_UNSPEC: 0, _AF_INET: 12, _AF_INET6: 36, _AF_UNIX: 216}
_MAX_TRANSPORT = 0x2
# §2.2, after the address block: TLVs, each one type byte, a 16-bit big-endian length and
# the value.
_TLV_HEADER = 3

Kind = Literal["missing", "malformed", "oversized"]


@dataclass(frozen=True)
class ProxyHeader:
    """A complete header: ``consumed`` bytes long; the addresses it gives (None: keep the
    peer's own, as LOCAL, UNKNOWN, AF_UNSPEC and AF_UNIX require or allow)."""

    consumed: int
    version: int
    client: Address | None = None
    server: Address | None = None


@dataclass(frozen=True)
class Rejected:
    """Not a valid header: ``kind`` (missing, malformed, oversized) and why."""

    kind: Kind
    reason: str


def parse(data: bytes) -> ProxyHeader | Rejected | None:
    """The PROXY header at the start of ``data`` (the bytes received so far), ``None`` while
    more bytes are needed, or why it is refused."""
    if data[:1] == V1_PREFIX[:1]:
        return _parse_v1(data)
    if data[:1] == V2_SIGNATURE[:1]:
        return _parse_v2(data)
    if not data:
        return None
    return Rejected("missing", "the connection does not start with a PROXY header")


def _parse_v1(data: bytes) -> ProxyHeader | Rejected | None:
    head = data[: len(V1_PREFIX)]
    if head != V1_PREFIX[: len(head)]:
        return Rejected("missing", "the connection does not start with a PROXY header")
    end = data.find(b"\r\n", 0, MAX_V1_LENGTH)
    if end == -1:
        if len(data) >= MAX_V1_LENGTH:
            return Rejected("oversized", f"a v1 line longer than {MAX_V1_LENGTH} bytes")
        return None
    consumed = end + 2
    # §2.1: fields are separated by exactly one space.
    fields = data[len(V1_PREFIX) : end].split(b" ")
    if fields[0] == b"UNKNOWN":
        # §2.1: the rest of an UNKNOWN line is ignored; the peer's address is kept.
        return ProxyHeader(consumed, 1)
    if len(fields) != 5 or fields[0] not in (b"TCP4", b"TCP6"):
        return Rejected("malformed", "a v1 line is not 'PROXY TCP4|TCP6 SRC DST SPORT DPORT'")
    family, src, dst, sport, dport = fields
    version = 4 if family == b"TCP4" else 6
    client_host = _v1_address(src, version)
    server_host = _v1_address(dst, version)
    client_port = _v1_port(sport)
    server_port = _v1_port(dport)
    if client_host is None or server_host is None:
        return Rejected("malformed", f"a v1 address that is not IPv{version}")
    if client_port is None or server_port is None:
        return Rejected("malformed", "a v1 port that is not 0-65535 in decimal")
    return ProxyHeader(consumed, 1, (client_host, client_port), (server_host, server_port))


def _v1_address(text: bytes, version: int) -> str | None:
    try:
        address = ipaddress.ip_address(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return str(address) if address.version == version else None


def _v1_port(text: bytes) -> int | None:
    # §2.1: a decimal port, 0 to 65535; 1 to 5 ASCII digits.
    if not (0 < len(text) <= 5 and text.isdigit()):
        return None
    port = int(text)
    return port if port <= 65535 else None


def _parse_v2(data: bytes) -> ProxyHeader | Rejected | None:
    head = data[: len(V2_SIGNATURE)]
    if head != V2_SIGNATURE[: len(head)]:
        return Rejected("missing", "the connection does not start with a PROXY header")
    if len(data) < V2_FIXED_LENGTH:
        return None
    version_command = data[12]
    if version_command & 0xF0 != _V2_VERSION:
        return Rejected("malformed", f"v2 header of version {version_command >> 4}")
    command = version_command & 0x0F
    if command not in (_CMD_LOCAL, _CMD_PROXY):
        return Rejected("malformed", f"v2 command {command} (LOCAL 0 and PROXY 1 only)")
    family, transport = data[13] >> 4, data[13] & 0x0F
    if family not in _ADDRESS_LENGTH or transport > _MAX_TRANSPORT:
        return Rejected("malformed", f"v2 address family/transport byte 0x{data[13]:02x}")
    length = int.from_bytes(data[14:16], "big")
    if length > MAX_V2_LENGTH:
        return Rejected("oversized", f"v2 length {length} (at most {MAX_V2_LENGTH})")
    consumed = V2_FIXED_LENGTH + length
    if len(data) < consumed:
        return None
    if command == _CMD_LOCAL:
        # §2.2: LOCAL (a proxy's own health check): the address block is ignored and the
        # connection's own endpoints are used.
        return ProxyHeader(consumed, 2)
    if family == _AF_UNSPEC:
        # §2.2: "the receiver should use the real connection endpoints"; what follows is not
        # an address block with TLVs after it, so it is skipped whole.
        return ProxyHeader(consumed, 2)
    block = _ADDRESS_LENGTH[family]
    if length < block:
        return Rejected("malformed", f"v2 length {length} is shorter than its address block")
    reason = _check_tlvs(data[V2_FIXED_LENGTH + block : consumed])
    if reason:
        return Rejected("malformed", reason)
    body = data[V2_FIXED_LENGTH : V2_FIXED_LENGTH + block]
    if family == _AF_INET:
        client = (str(ipaddress.IPv4Address(body[0:4])), int.from_bytes(body[8:10], "big"))
        server = (str(ipaddress.IPv4Address(body[4:8])), int.from_bytes(body[10:12], "big"))
        return ProxyHeader(consumed, 2, client, server)
    if family == _AF_INET6:
        client = (str(ipaddress.IPv6Address(body[0:16])), int.from_bytes(body[32:34], "big"))
        server = (str(ipaddress.IPv6Address(body[16:32])), int.from_bytes(body[34:36], "big"))
        return ProxyHeader(consumed, 2, client, server)
    # AF_UNIX: a path, which an ASGI client (host, port) cannot hold: keep the peer's address.
    return ProxyHeader(consumed, 2)


def _check_tlvs(tlvs: bytes) -> str:
    """Why the TLVs after the address block do not tile it exactly ('' when they do). Their
    values are not used; each is skipped by its own length, never past the announced one."""
    pos, end = 0, len(tlvs)
    while pos < end:
        if end - pos < _TLV_HEADER:
            return "v2 TLV header cut by the announced length"
        size = int.from_bytes(tlvs[pos + 1 : pos + 3], "big")
        pos += _TLV_HEADER + size
        if pos > end:
            return f"v2 TLV 0x{tlvs[pos - _TLV_HEADER - size]:02x} runs past the announced length"
    return ""
