"""The request limits on HTTP/2: the same statuses as HTTP/1.1 on the stream concerned, the
connection and its other streams carry on; --limit-connections on TLS answers with GOAWAY.
Every limit holds whether the client's bytes arrive in one write, one byte per TCP segment,
cut at random (frames, frame headers and header blocks split anywhere), or with each header
block spread over CONTINUATION frames."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.h2support import H2Client, goaway_frames, reset_frames
from tests.integration.test_h1_limits import BODY, FIELD, FIELDS, LIMIT_OPTIONS, LINE
from tests.support import PounceProcess, get, request

pytestmark = pytest.mark.timeout(30)

NO_ERROR = 0x0
CANCEL = 0x8


@pytest.fixture(scope="module")
def limited_h2() -> Iterator[PounceProcess]:
    proc = PounceProcess(
        "testapp:app",
        "--no-access-log",
        *LIMIT_OPTIONS,
    )
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(params=["one-write", "bytewise", "random", "continuation"])
def delivery(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/" + "a" * LINE, [], 414),
        ("/", [(b"x-big", b"v" * FIELD)], 431),
        ("/", [(b"x-%d" % i, b"v") for i in range(FIELDS + 1)], 431),
    ],
    ids=["line", "field-size", "fields"],
)
def test_head_limits_answer_on_the_stream(limited_h2, delivery, path, headers, status):
    with H2Client(limited_h2.port, delivery=delivery) as client:
        refused = client.response(client.request(path, headers=headers))
        assert refused.status == status
        assert refused.ended
        assert client.get("/").status == 200  # the connection carries on


@pytest.mark.parametrize(
    ("trailers", "status"),
    [
        ([(b"x-big", b"v" * FIELD)], 431),
        ([(b"x-%d" % i, b"v") for i in range(FIELDS + 1)], 431),
        ([(b"x-%d" % i, b"v") for i in range(FIELDS)], 200),
    ],
    ids=["field-size", "fields", "at-limit"],
)
def test_trailers_are_held_to_the_field_limits(limited_h2, delivery, trailers, status):
    with H2Client(limited_h2.port, delivery=delivery) as client:
        sid = client.request("/echo", method="POST", body=b"hello", end_stream=False)
        client.conn.send_headers(sid, trailers, end_stream=True)
        client.flush()
        answered = client.response(sid)
        assert (answered.status, answered.ended) == (status, True)
        assert bytes(answered.body) == (b"hello" if status == 200 else b"")
        assert client.get("/").status == 200  # the connection carries on


def test_content_length_over_limit_gets_413_and_no_error_reset(limited_h2, delivery):
    with H2Client(limited_h2.port, delivery=delivery) as client:
        sid = client.request(
            "/echo",
            method="POST",
            headers=[(b"content-length", b"%d" % (BODY + 1))],
            end_stream=False,
        )
        client.wait(lambda: client.streams[sid].status != 0)
        assert client.streams[sid].status == 413
        client.wait(lambda: client.streams[sid].done)
        assert client.get("/").status == 200
        assert (sid, NO_ERROR) in reset_frames(client.raw_in) or client.streams[sid].ended


def test_body_crossing_the_limit_gets_413_and_app_sees_disconnect(limited_h2, delivery):
    key = f"h2-body-{time.monotonic_ns()}"
    with H2Client(limited_h2.port, delivery=delivery) as client:
        sid = client.request(f"/body-events?id={key}", method="POST", end_stream=False)
        client.send_body(sid, b"a" * 60, end_stream=False)
        time.sleep(0.2)
        client.send_body(sid, b"a" * 60, end_stream=False)
        client.wait(lambda: client.streams[sid].status != 0)
        assert client.streams[sid].status == 413
        assert client.get("/").status == 200
    deadline = time.monotonic() + 3
    seen: list[str] = []
    while "http.disconnect" not in seen and time.monotonic() < deadline:
        seen = json.loads(request(limited_h2.port, get(f"/events?id={key}")).body)
        time.sleep(0.05)
    assert seen == ["http.request", "http.disconnect"]


def test_body_within_limit_is_served(limited_h2, delivery):
    with H2Client(limited_h2.port, delivery=delivery) as client:
        sid = client.request("/echo", method="POST", body=b"b" * BODY)
        result = client.response(sid)
        assert result.status == 200
        assert bytes(result.body) == b"b" * BODY


def test_tls_h2_connection_past_the_limit_gets_goaway(pounce_server, certs):
    server = pounce_server(
        "testapp:app",
        "--no-access-log",
        "--ssl-certfile",
        str(certs.cert),
        "--ssl-keyfile",
        str(certs.key),
        "--limit-connections",
        "1",
    )
    with H2Client(server.port, tls=certs.client_context()) as first:
        assert first.get("/").status == 200
        second = H2Client(server.port, tls=certs.client_context(), timeout=5)
        try:
            assert second.wait_closed(timeout=5)
            assert goaway_frames(second.raw_in) == [(0, NO_ERROR)]
        finally:
            second.close()
        assert first.get("/").status == 200
