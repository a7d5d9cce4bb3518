"""Response rules every protocol shares: which statuses carry no content, how many body bytes
are batched into one write, and the content type of the error responses pounce writes itself."""

from __future__ import annotations

# RFC 9110 §15.3.5, §15.4.5: responses that carry no content (on both HTTP versions).
NO_BODY_STATUSES = frozenset({204, 304})

# Streamed body bytes held back to be written together (one write per loop iteration) at most;
# on HTTP/2, queued DATA bytes past which they are written at once.
OUT_BATCH = 64 * 1024

# The error responses pounce writes itself: a status phrase, or --debug's traceback as text.
PLAIN_TEXT = b"text/plain; charset=utf-8"
