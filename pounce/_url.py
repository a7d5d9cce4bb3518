"""Splitting an HTTP/1.1 request-target into the ASGI ``path``, ``raw_path`` and ``query_string``.

RFC 9112 §3.2: origin-form (``/p?q``), absolute-form (``http://h/p?q``), authority-form
(CONNECT) and asterisk-form (``OPTIONS *``).
"""

from __future__ import annotations

from urllib.parse import unquote

from .errors import BadRequest

# Bytes never allowed in a request-target: controls, space, DEL and non-ASCII (RFC 3986 §2).
_BAD_TARGET_BYTES = bytes(range(0x21)) + bytes(range(0x7F, 0x100))


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Return ``(raw_path, query_string)``; raise BadRequest(400) for an invalid target."""
    if not target or target.translate(None, _BAD_TARGET_BYTES) != target:
        raise BadRequest(400, "Invalid request target")
    if target[0] != 0x2F:  # not origin-form
        if target == b"*":
            return b"*", b""
        scheme_end = target.find(b"://")
        if scheme_end > 0:
            slash = target.find(b"/", scheme_end + 3)
            target = target[slash:] if slash != -1 else b"/"
        else:
            # authority-form (CONNECT host:port)
            return target, b""
    hash_at = target.find(b"#")
    if hash_at != -1:
        target = target[:hash_at]
    q = target.find(b"?")
    if q == -1:
        return target, b""
    return target[:q], target[q + 1 :]


def decode_path(raw_path: bytes) -> str:
    """Percent-decode ``raw_path`` into the UTF-8 ``path`` of the ASGI scope."""
    text = raw_path.decode("ascii")
    if "%" in text:
        return unquote(text)
    return text
