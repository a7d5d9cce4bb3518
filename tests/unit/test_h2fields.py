"""pounce.http2.response_fields: response fields for HTTP/2 (RFC 9113 §8.2), sans-I/O."""

from __future__ import annotations

import pytest

from pounce.errors import InvalidHeader
from pounce.http2.response_fields import response_fields

DEFAULTS = [(b"server", b"pounce"), (b"date", b"Sun, 22 Nov 2026 16:00:00 GMT")]


def test_names_lowered_connection_fields_dropped_defaults_appended() -> None:
    for _ in range(2):  # the second time from the name cache
        fields, length = response_fields(
            [
                (b"Content-Type", b"text/plain"),
                (b"Connection", b"close"),
                (b"Content-Length", b"5"),
            ],
            DEFAULTS,
        )
        assert fields == [(b"content-type", b"text/plain"), (b"content-length", b"5"), *DEFAULTS]
        assert length == b"5"


def test_app_date_and_server_replace_the_defaults() -> None:
    fields, length = response_fields([(b"Server", b"mine"), (b"date", b"x")], DEFAULTS)
    assert fields == [(b"server", b"mine"), (b"date", b"x")] and length is None
    fields, _ = response_fields([(b"server", b"mine")], DEFAULTS)
    assert fields == [(b"server", b"mine"), DEFAULTS[1]]


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"1"), (b"Content-Length", b"1")],
        [(b"content-length", b"-1")],
        [(b"bad name", b"v")],
        [(b"x", b"a\r\nb")],
        [("x", b"v")],
        [(bytearray(b"x"), b"v")],
        [(b"x", "v")],
    ],
)
def test_invalid_fields_are_refused(headers: list) -> None:
    for _ in range(2):
        with pytest.raises(InvalidHeader):
            response_fields(headers, DEFAULTS)


def test_trailers_get_no_defaults_and_no_length_check() -> None:
    fields, length = response_fields([(b"X-Checksum", b"c0ffee")], None)
    assert fields == [(b"x-checksum", b"c0ffee")] and length is None
