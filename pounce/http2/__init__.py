"""HTTP/2: the sans-I/O connection and its events (``connection``: the compiled core or the
h2-backed twin), the constants both cores share (``constants``), request header and response
field rules (``request_headers``, ``response_fields``), the ``asyncio.Protocol``
(``protocol``) with one ``stream`` writer per request, and how a connection becomes HTTP/2
(``negotiate``: TLS ALPN, prior knowledge, ``Upgrade: h2c``)."""
