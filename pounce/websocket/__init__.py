"""WebSocket: one session (``session``, on wsproto) whatever carries it: HTTP/1.1's Upgrade
(``over_http1``) or an RFC 8441 extended CONNECT stream (``over_http2``); ``mask`` picks the
compiled unmasking."""
