"""The app of the systemd and ``--limit-max-rss`` tests: testapp's routes (``/``, ``/pid``) and

- ``/env?name=VAR``: the value of an environment variable in the worker (``-`` when unset);
- ``/leak?mib=N``: keeps N MiB more for the life of the process (a leak, on purpose), then
  answers with its pid;
- ``/rss``: the process's resident memory in MiB.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs

from testapp import app as testapp
from testapp import send_response

from pounce.rss import MIB, resident_bytes

# What /leak kept: bytes written page by page, so that they are resident, not just reserved.
LEAKED: list[bytes] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        path = scope["path"]
        query = parse_qs(scope["query_string"].decode())
        if path == "/env":
            await send_response(send, 200, os.environ.get(query["name"][0], "-").encode())
            return
        if path == "/leak":
            LEAKED.append(b"x" * (int(query.get("mib", ["1"])[0]) * MIB))
            await send_response(send, 200, str(os.getpid()).encode())
            return
        if path == "/rss":
            await send_response(send, 200, str(resident_bytes() // MIB).encode())
            return
    await testapp(scope, receive, send)
