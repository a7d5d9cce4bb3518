"""Unmasking client frames (RFC 6455 §5.3): wsproto's masker, or its compiled twin.

wsproto's ``FrameDecoder`` looks ``XorMaskerSimple`` up in its module for every frame;
``install()`` points that name at the best masker available. The compiled one
(``pounce/_speedups/_wsmask.pyx``) XORs eight bytes at a time; results are identical
(``tests/unit/test_ws_mask.py`` compares them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsproto import frame_protocol
from wsproto.frame_protocol import XorMaskerSimple as XorMaskerPy

from pounce._compat import USE_EXTENSIONS, record_selection

XorMasker: Any = XorMaskerPy

_error: ImportError | None = None
if not TYPE_CHECKING and USE_EXTENSIONS:
    try:
        from pounce._speedups._wsmask import XorMasker
    except ImportError as exc:
        _error = exc
record_selection("ws_mask", __name__, _error)


def install() -> None:
    """Make wsproto unmask with ``XorMasker`` (a drop-in: same interface and results)."""
    frame_protocol.XorMaskerSimple = XorMasker  # type: ignore[misc]  # swaps in the compiled twin
