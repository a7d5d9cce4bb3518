"""WebSocket: one session (``session``) whatever carries it: HTTP/1.1's Upgrade (``over_http1``)
or an RFC 8441 extended CONNECT stream (``over_http2``). The session talks to a frame core
through the sans-I/O API of ``frames``; ``core`` holds the wsproto-backed core and picks the
one in use; ``mask`` picks the compiled unmasking for wsproto."""
