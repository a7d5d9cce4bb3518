"""ASGI middleware that pounce's server applies itself, for apps served some other way.

``ProxyHeadersMiddleware`` is the server's ``--proxy-headers`` as a reusable middleware (the
equivalent of ``uvicorn.middleware.proxy_headers.ProxyHeadersMiddleware``), with one
implementation shared with the server: ``pounce.proxy.ProxyTrust``. That module's docstring
gives the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pounce.asgi.types import ASGIApp, Receive, Scope, Send

from .proxy import DEFAULT_TRUSTED, ProxyTrust


class ProxyHeadersMiddleware:
    """Sets ``client`` and ``scheme`` (and, with ``forwarded=True``, the Host header) of http
    and websocket scopes from the proxy headers of a trusted peer.

    ``trusted_hosts``: what ``--forwarded-allow-ips`` takes (a comma-separated string or a
    list; ``"*"`` trusts everyone). ``forwarded``: read RFC 7239 ``Forwarded`` instead of
    X-Forwarded-For/-Proto (``--proxy-headers-forwarded``). A scope without a client (a UNIX
    socket peer) is trusted under ``*`` or ``unix:``, or ``unix:PATH`` when the scope's
    ``server`` is ``(PATH, None)``, as servers give it for a UNIX socket. The scope is copied,
    never changed in place (ASGI: a middleware copies the scope it changes).
    """

    def __init__(
        self,
        app: ASGIApp,
        trusted_hosts: str | Iterable[str] = DEFAULT_TRUSTED,
        forwarded: bool = False,
    ) -> None:
        self.app = app
        self.trust = ProxyTrust(trusted_hosts, forwarded=forwarded)

    def _trusted(self, scope: Scope) -> bool:
        client = scope.get("client")
        if client:
            return self.trust.is_trusted(client[0])
        server = scope.get("server")
        path = server[0] if server and len(server) == 2 and server[1] is None else None
        return self.trust.trusts_unix(path if isinstance(path, str) else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in {"http", "websocket"} and self._trusted(scope):
            scope = dict(scope)
            default = "ws" if kind == "websocket" else "http"
            headers: list[Any] = list(scope["headers"])
            client, scheme = self.trust.apply(
                headers, scope.get("client"), scope.get("scheme", default), kind == "websocket"
            )
            scope["client"] = client
            scope["scheme"] = scheme
            scope["headers"] = headers
        await self.app(scope, receive, send)


__all__ = ["ProxyHeadersMiddleware"]
