"""Trusting ``X-Forwarded-For`` and ``X-Forwarded-Proto`` from known proxies only.

``--forwarded-allow-ips`` lists IP addresses, CIDR networks, ``*``, or literal names (for a
peer with no IP, such as a unix socket). The client address is read from the right of
``X-Forwarded-For``: the first address that is not a trusted proxy is the client, so a client
cannot forge its address by prepending entries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from ._headers import get_header
from .errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_SCHEMES = {"http": "http", "https": "https", "ws": "ws", "wss": "wss"}


class ProxyTrust:
    """Decides which peers may set the client address and scheme through headers."""

    def __init__(self, trusted: Sequence[str]) -> None:
        self.always = "*" in trusted
        self.literals: set[str] = set()
        self.networks: list[IPNetwork] = []
        for entry in trusted:
            if entry == "*":
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry or entry.replace(".", "").isdigit():
                    raise ConfigError(
                        f"--forwarded-allow-ips: {entry!r} is not an IP address or network"
                    ) from None
                self.literals.add(entry)
        self._cache: dict[str, bool] = {}

    def is_trusted(self, host: str | None) -> bool:
        if self.always:
            return True
        if not host:
            return False
        cached = self._cache.get(host)
        if cached is not None:
            return cached
        trusted = host in self.literals
        if not trusted:
            try:
                addr = ipaddress.ip_address(host)
            except ValueError:
                trusted = False
            else:
                trusted = any(addr in net for net in self.networks)
        if len(self._cache) < 4096:
            self._cache[host] = trusted
        return trusted

    def client_from_forwarded_for(self, value: str) -> str | None:
        """The rightmost address of an X-Forwarded-For list that is not a trusted proxy."""
        hosts = [h.strip() for h in value.split(",") if h.strip()]
        if not hosts:
            return None
        for host in reversed(hosts):
            if not self.is_trusted(host):
                return host
        return hosts[0]

    def apply(
        self,
        headers: Sequence[tuple[bytes, bytes]],
        client: tuple[str, int] | None,
        scheme: str,
        websocket: bool = False,
    ) -> tuple[tuple[str, int] | None, str]:
        """The (client, scheme) a request from a trusted peer claims through its headers."""
        proto = get_header(headers, b"x-forwarded-proto")
        if proto is not None:
            claimed = _FORWARDED_SCHEMES.get(proto.decode("latin-1").strip().lower())
            if claimed is not None:
                if websocket:
                    claimed = claimed.replace("http", "ws")
                scheme = claimed
        forwarded_for = get_header(headers, b"x-forwarded-for")
        if forwarded_for is not None:
            host = self.client_from_forwarded_for(forwarded_for.decode("latin-1"))
            if host is not None:
                client = (host, 0)
        return client, scheme
