"""Answers every http request and WebSocket with what proxy headers change in its scope, as
JSON: client, scheme, server and the Host header(s) (tests/integration/test_proxy_headers.py,
test_proxy_haproxy.py)."""

from __future__ import annotations

import json
from typing import Any


def summary(scope: dict[str, Any]) -> bytes:
    client = scope.get("client")
    server = scope.get("server")
    return json.dumps(
        {
            "type": scope["type"],
            "client": list(client) if client else None,
            "scheme": scope["scheme"],
            "server": list(server) if server else None,
            "host": [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"],
            "http_version": scope.get("http_version"),
        }
    ).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        body = summary(scope)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": summary(scope).decode()})
        await send({"type": "websocket.close", "code": 1000})
