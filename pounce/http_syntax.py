"""RFC 9110's byte classes for field names and values, defined once for every twin.

``pounce/_headers.py`` reads them as Python sets and bytes; ``pounce/_speedups/_headers.pyx``
and the fast head scanner ``pounce/_speedups/_h1head.pyx`` turn them into 256-entry C tables
once, at import.
"""

from __future__ import annotations

# RFC 9110 §5.6.2: token = 1*tchar; a field name is a token (§5.1).
TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# RFC 9110 §5.5: field-value bytes are VCHAR, obs-text, SP and HTAB. CR, LF and NUL are the
# dangerous ones (header injection, request smuggling); the other CTLs are refused as well.
BAD_VALUE_BYTES = bytes(b for b in range(256) if (b < 0x20 and b != 0x09) or b == 0x7F)
