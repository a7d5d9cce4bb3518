"""The --debug error page's builder (pounce/debug_page.py) and how the option is resolved
(tests/integration/test_debug_page.py serves it over HTTP/1.1 and HTTP/2)."""

from __future__ import annotations

from typing import Any

import pytest

from pounce.asgi.response import PLAIN_TEXT as TEXT
from pounce.cli import cli
from pounce.config import Config
from pounce.debug_page import HTML, error_page
from pounce.reload import Reloader

BROWSER = b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def scope(*accept: bytes, path: str = "/p") -> dict[str, Any]:
    return {"method": "GET", "path": path, "headers": [(b"accept", a) for a in accept]}


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ((), TEXT),  # no Accept: every type alike, and text reads best in a terminal
        ((b"*/*",), TEXT),  # curl, httpx
        ((BROWSER,), HTML),
        ((b"text/html",), HTML),
        ((b"TEXT/HTML",), HTML),  # media types are case-insensitive (RFC 9110 §8.3.1)
        ((b"text/plain",), TEXT),
        ((b"text/html, text/plain",), TEXT),  # a tie: not preferred
        ((b"text/html;q=0.5, text/*",), TEXT),
        ((b"text/plain;q=0.1, text/html",), HTML),
        ((b"text/html;q=0, */*",), TEXT),
        ((b"text/*;q=0.9, text/plain;q=0.2",), HTML),  # text/plain's own range is more specific
        ((b"text/html;q=abc",), TEXT),  # a q nobody can read counts as 0
        ((b"text/html;q=2",), TEXT),  # out of RFC 9110 §12.4.2's range: 0
        ((b"text/html;q=nan",), TEXT),
        ((b"application/json", b"text/html"), HTML),  # several Accept fields are one list
        ((b";;,,",), TEXT),
    ],
)
def test_content_type_follows_accept(accept: tuple[bytes, ...], content_type: bytes) -> None:
    assert error_page(scope(*accept), raised(ValueError("x")))[0] == content_type


def test_html_escapes_every_piece() -> None:
    exc = raised(RuntimeError("<script>alert(1)</script>"))
    content_type, body = error_page(scope(b"text/html", path="/<b>"), exc)
    page = body.decode()
    assert content_type == HTML
    assert "<script>" not in page and "<b>" not in page
    assert "RuntimeError: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "GET /&lt;b&gt;" in page
    assert page.count("<pre>") == 1


def test_text_has_the_traceback_with_source_lines() -> None:
    content_type, body = error_page(scope(), raised(KeyError("missing")))
    text = body.decode()
    assert content_type == TEXT
    assert text.startswith("500 Internal Server Error\n\nGET /p\n\nTraceback (most recent call")
    assert "raise exc" in text  # the source line of the frame that raised
    assert text.endswith("KeyError: 'missing'\n")


def test_no_local_variables() -> None:
    def handler() -> None:
        password = "hunter2-secret"
        raise ValueError(len(password))

    try:
        handler()
    except ValueError as exc:
        body = error_page(scope(), exc)[1]
    assert b"raise ValueError(len(password))" in body  # the raising line, not the values
    assert b"hunter2-secret" not in body


def test_chained_exceptions_are_shown() -> None:
    try:
        try:
            raise OSError("disk")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        text = error_page(scope(), exc)[1].decode()
    assert "OSError: disk" in text
    assert "direct cause" in text
    assert "RuntimeError: wrapped" in text


def test_an_exception_whose_str_fails_still_renders() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise TypeError("no str")

    content_type, body = error_page(scope(b"text/html"), raised(Broken()))
    assert content_type == HTML
    assert b"Broken" in body


def test_unencodable_text_is_replaced() -> None:
    body = error_page(scope(), raised(ValueError("\udcff lone surrogate")))[1]
    assert b"lone surrogate" in body


def test_config_debug_never_on_by_default() -> None:
    assert Config(app="m:a").debug is None
    assert Config(app="m:a").debug_enabled is False
    assert Config(app="m:a", debug=True).debug_enabled is True
    assert Config(app="m:a", reload=True).debug_enabled is True  # --reload implies it
    assert Config(app="m:a", reload=True, debug=False).debug_enabled is False  # --no-debug wins


def test_the_reload_child_keeps_reloads_debug() -> None:
    # The reloader's child runs with reload=False: the debug choice is resolved before.
    assert Reloader(Config(app="m:a", reload=True)).child_config.debug is True
    assert Reloader(Config(app="m:a", reload=True, debug=False)).child_config.debug is False


@pytest.mark.parametrize(
    ("args", "debug"),
    [([], None), (["--debug"], True), (["--no-debug"], False), (["--reload", "--no-debug"], False)],
)
def test_cli_flags(args: list[str], debug: bool | None) -> None:
    ctx = cli.make_context("pounce", [*args, "m:a"])
    assert ctx.params["debug"] is debug


@pytest.mark.parametrize(("value", "debug"), [("true", True), ("false", False)])
def test_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str, debug: bool) -> None:
    monkeypatch.setenv("POUNCE_DEBUG", value)
    assert cli.make_context("pounce", ["--reload", "m:a"]).params["debug"] is debug
