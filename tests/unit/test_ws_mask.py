"""The compiled masker against wsproto's: identical output, key rotation across calls."""

from __future__ import annotations

import random

import pytest
from wsproto.frame_protocol import XorMaskerSimple

from tests.conftest import compiled, needs_compiled


@needs_compiled("_wsmask")
def test_compiled_masker_matches_wsproto() -> None:
    XorMasker = compiled("_wsmask").XorMasker
    rng = random.Random(6455)
    for _ in range(300):
        key = rng.randbytes(4)
        fast, slow = XorMasker(key), XorMaskerSimple(key)
        for _ in range(rng.randrange(1, 5)):  # a payload arriving in pieces
            piece = rng.randbytes(rng.randrange(0, 70))
            assert fast.process(piece) == slow.process(piece)
        big = rng.randbytes(100_003)
        assert fast.process(big) == slow.process(big)
    with pytest.raises(ValueError):
        XorMasker(b"abc")


def test_wsproto_uses_the_selected_masker() -> None:
    from wsproto import frame_protocol

    from pounce.websocket import mask as ws_mask
    from pounce.websocket import session as ws

    assert ws is not None
    assert frame_protocol.XorMaskerSimple is ws_mask.XorMasker
