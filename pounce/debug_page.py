"""``--debug``: the body of the 500 that answers an app which raised before starting a response.

Development only: the page shows the traceback, with the file paths and source lines of every
frame (never the frames' local variables, which would hold secrets and request data), so it must
never be on in production. It is off unless ``--debug`` is given or ``--reload`` implies it
(``Config.debug_enabled``).

The request cycle (pounce/asgi/_cycle.py) calls ``error_page`` on its error path only, and only
when the server runs with ``--debug``: a request that does not fail pays nothing for it. The
same page answers HTTP/1.1 and HTTP/2; each connection writes it as its 500
(``ResponseWriter.write_error``).

It is HTML when the request's ``Accept`` prefers ``text/html`` to ``text/plain`` (a browser's
``text/html,...,*/*;q=0.8``), plain text otherwise: curl's and httpx's ``*/*``, or no
``Accept`` at all, rank both the same, and a terminal reads text better than markup. Every
piece of the exception and the request that goes into the HTML is escaped: an exception
message can carry the request's own input (``<script>`` in a query string, say).
"""

from __future__ import annotations

import traceback
from html import escape
from http import HTTPStatus

from pounce.asgi.response import PLAIN_TEXT
from pounce.asgi.types import Scope

HTML = b"text/html; charset=utf-8"

# RFC 9110 §12.5.1: a media range matches with a precedence, the most specific one applying.
_EXACT, _SUBTYPE_WILDCARD, _ANY = 2, 1, 0

_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{status}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
pre {{ background: #f4f4f4; padding: 1em; overflow-x: auto; font-size: 0.9em; }}
.warning {{ color: #8a1f11; }}
</style>
</head>
<body>
<h1>{status}</h1>
<h2>{summary}</h2>
<p>{request}</p>
<pre>{traceback}</pre>
<p class="warning">pounce --debug shows this traceback to every client: \
never run it in production.</p>
</body>
</html>
"""


def error_page(scope: Scope, exc: BaseException, status: int = 500) -> tuple[bytes, bytes]:
    """The (content type, body) of the error response that shows ``exc``'s traceback."""
    tb = traceback.TracebackException.from_exception(exc, capture_locals=False)
    summary = "".join(tb.format_exception_only()).rstrip("\n")
    trace = "".join(tb.format())
    title = f"{status} {HTTPStatus(status).phrase}"
    request = f"{scope.get('method', '')} {scope.get('path', '')}"
    if _prefers_html(scope):
        page = _HTML_PAGE.format(
            status=escape(title),
            summary=escape(summary),
            request=escape(request),
            traceback=escape(trace),
        )
        return HTML, page.encode("utf-8", "replace")
    text = f"{title}\n\n{request}\n\n{trace}"
    return PLAIN_TEXT, text.encode("utf-8", "replace")


def _prefers_html(scope: Scope) -> bool:
    """Whether the request's ``Accept`` ranks text/html above text/plain."""
    accept = b",".join(value for name, value in scope.get("headers", ()) if name == b"accept")
    if not accept:
        return False  # RFC 9110 §12.5.1: no Accept accepts every media type alike
    ranges = accept.decode("latin-1").lower()
    return _quality(ranges, "text/html") > _quality(ranges, "text/plain")


def _quality(ranges: str, media_type: str) -> float:
    """The qvalue ``ranges`` (an Accept value, lowercased) gives ``media_type``: that of the
    most specific range matching it (RFC 9110 §12.5.1), 0 when none does."""
    wildcard = media_type.split("/", 1)[0] + "/*"
    best, quality = -1, 0.0
    for item in ranges.split(","):
        media_range, *params = item.split(";")
        media_range = media_range.strip()
        if media_range == media_type:
            precedence = _EXACT
        elif media_range == wildcard:
            precedence = _SUBTYPE_WILDCARD
        elif media_range == "*/*":
            precedence = _ANY
        else:
            continue
        if precedence <= best:
            continue
        best, quality = precedence, _qvalue(params)
    return quality


def _qvalue(params: list[str]) -> float:
    """The ``q`` parameter (RFC 9110 §12.4.2: 0 to 1, default 1); a malformed one counts as 0,
    so a range nobody can read never wins."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
        # (Accept-params other than q do not change the ranking here.)
    return 1.0
