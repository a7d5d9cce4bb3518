"""A normal build must run the compiled twins; only POUNCE_NO_EXTENSIONS selects the pure ones."""

from __future__ import annotations

import os

import pytest

# The selectors record which build they loaded in _compat, which reports that record: each
# one is imported before the report is read.
from pounce import _compat, _headers
from pounce.asgi import cycle
from pounce.http1 import protocol as h1
from pounce.http2 import connection as h2connection
from pounce.websocket import core as ws_core
from pounce.websocket import mask as ws_mask
from pounce.websocket import session as ws_session
from tests.conftest import PURE_RUN
from tests.support import run_pounce


def test_compiled_is_default():
    if PURE_RUN:
        assert _headers.IMPLEMENTATION == "pure"
        assert _headers.get_header is _headers.get_header_py
        assert not any(_compat.compiled_modules().values())
        assert _compat.speedups_status().startswith("pure (POUNCE_NO_EXTENSIONS")
        assert h2connection.IMPLEMENTATION == "h2"
        assert h2connection.H2Connection is h2connection.H2ConnectionPy
        assert ws_core.IMPLEMENTATION == "wsproto"
        assert ws_core.FrameCore is ws_core.WsprotoCore
        assert ws_session.WebSocketSession is ws_session.WebSocketSessionPy
    else:
        # A silent fallback to the pure twin (extension not built, import failing) fails here.
        assert _compat.EXTENSION_IMPORT_ERRORS == {}
        assert _headers.IMPLEMENTATION == "compiled"
        assert _headers.get_header is _headers.get_header_c
        assert _headers.build_response_head is _headers.build_response_head_c
        from pounce._speedups import _cycle, _http1, _runner

        assert h1.H1Protocol is _http1.H1Protocol
        # The cycle's one source, compiled (not the .py it links to, imported as is).
        assert cycle.RequestResponseCycle is _cycle.RequestResponseCycle
        assert _cycle.__loader__.__class__.__name__ == "ExtensionFileLoader"
        assert cycle.AppRunner is _runner._Runner
        from pounce._speedups import _wsmask

        assert ws_mask.XorMasker is _wsmask.XorMasker
        from pounce._speedups import _ws  # the WebSocket frame core

        assert ws_core.IMPLEMENTATION == "compiled"
        assert ws_core.FrameCore is _ws.FrameCore
        from pounce._speedups import _wssession  # the session's one source, compiled

        assert ws_session.WebSocketSession is _wssession.WebSocketSession
        assert _wssession.__loader__.__class__.__name__ == "ExtensionFileLoader"
        from pounce._speedups import _hpack  # no pure twin: must import in a normal build

        assert _hpack.Decoder is not None
        assert _compat.compiled_modules()["_hpack"]
        assert all(_compat.compiled_modules().values())
        assert _compat.speedups_status() == "compiled"
        from pounce._speedups import _h2

        if os.environ.get("POUNCE_H2_CORE", "") != "h2":
            assert h2connection.IMPLEMENTATION == "compiled"
            assert h2connection.H2Connection is _h2.H2Connection


def test_version_reports_the_active_twin():
    out = run_pounce("--version").stdout
    assert ("speedups: pure" if PURE_RUN else "speedups: compiled") in out


def test_import_compiled_refuses_a_module_that_is_not_an_extension():
    # A one-source module's link (pounce/_speedups/_cycle.py) imports as plain Python when its
    # extension was not built: that must count as a failed import of the compiled build.
    with pytest.raises(ImportError, match="not compiled"):
        _compat.import_compiled("pounce.header_flags")
    if not PURE_RUN:
        assert _compat.import_compiled("pounce._speedups._cycle").__file__.endswith(".so")


def test_status_needs_every_selector_imported(monkeypatch: pytest.MonkeyPatch):
    # _compat imports no selector: a report made before one was imported would leave it out.
    selected = {k: v for k, v in _compat._SELECTED.items() if k != "h1"}
    monkeypatch.setattr(_compat, "_SELECTED", selected)
    with pytest.raises(RuntimeError, match="selectors not imported yet: h1"):
        _compat.speedups_status()


def test_a_failed_compiled_import_is_reported(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_compat, "_SELECTED", dict(_compat._SELECTED))
    monkeypatch.setattr(_compat, "EXTENSION_IMPORT_ERRORS", {})
    monkeypatch.setattr(_compat, "USE_EXTENSIONS", True)
    _compat.record_selection("ws_mask", "pounce.websocket.mask", ImportError("no _wsmask"))
    assert _compat.compiled_modules()["ws_mask"] is False
    assert _compat.speedups_status() == "pure (pounce.websocket.mask: no _wsmask)"
