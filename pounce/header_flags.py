"""The flag bits that summarise a head's framing fields, defined once for every twin.

``analyze_request_headers`` returns the ``REQ_*`` bits about a request head (RFC 9112 §6 and
§9.6; RFC 9110 §7.8 and §10.1.1); ``build_response_head`` returns the ``RESP_*`` bits about the
fields an app set on its response. The pure modules import these names; the compiled ones
(``_speedups/*.pyx``) include ``_speedups/header_flags.pxi``, which reads them from here into
C ints once, at import.
"""

from __future__ import annotations

# Flags returned by build_response_head about the application's own headers.
RESP_CHUNKED = 1  # the app set Transfer-Encoding: chunked and expects us to frame chunks
RESP_CONNECTION_CLOSE = 2  # the app set Connection: close
RESP_HAS_DATE = 4
RESP_HAS_SERVER = 8

# Flags returned by analyze_request_headers.
REQ_CHUNKED = 1  # Transfer-Encoding: chunked
REQ_CONNECTION_CLOSE = 2
REQ_CONNECTION_KEEP_ALIVE = 4
REQ_CONNECTION_UPGRADE = 8
REQ_EXPECT_CONTINUE = 16
REQ_HAS_UPGRADE = 32
