"""Response rules every protocol shares: which statuses carry no content, and how many body
bytes are batched into one write."""

from __future__ import annotations

# RFC 9110 §15.3.5, §15.4.5: responses that carry no content (on both HTTP versions).
NO_BODY_STATUSES = frozenset({204, 304})

# Streamed body bytes held back to be written together (one write per loop iteration) at most;
# on HTTP/2, queued DATA bytes past which they are written at once.
OUT_BATCH = 64 * 1024
