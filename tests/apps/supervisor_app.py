"""The app the supervisor tests run: testapp's routes plus a few that act on the process.

``/import-pid`` says which process imported this module (the supervisor with ``--preload``),
``/version`` what ``$POUNCE_TEST_VERSION_FILE`` held at import (shows a re-import), and
``/block?t=`` blocks the event loop (a worker that stops answering health pings).
If ``$POUNCE_TEST_BREAK_FILE`` names a file that exists, importing this module fails: a test
can break the app for workers started later, as a bad deploy would.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from testapp import app as testapp

IMPORT_PID = os.getpid()
# What $POUNCE_TEST_VERSION_FILE said when this module was imported: shows a re-import.
_version_file = os.environ.get("POUNCE_TEST_VERSION_FILE")
VERSION = Path(_version_file).read_text().strip() if _version_file else "none"

_break_file = os.environ.get("POUNCE_TEST_BREAK_FILE")
if _break_file and os.path.exists(_break_file):
    raise RuntimeError(f"this app is broken ({_break_file} exists)")


async def _text(send: Any, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        path = scope["path"]
        if path == "/import-pid":
            await _text(send, str(IMPORT_PID).encode())
            return
        if path == "/version":
            await _text(send, VERSION.encode())
            return
        if path == "/block":
            query = parse_qs(scope["query_string"].decode())
            time.sleep(float(query.get("t", ["30"])[0]))  # blocks the whole worker on purpose
            await _text(send, b"unblocked")
            return
    await testapp(scope, receive, send)
