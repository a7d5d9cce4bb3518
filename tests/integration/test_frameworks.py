"""Real Starlette and FastAPI apps under pounce, with both parsers."""

from __future__ import annotations

import time

import httpx
import pytest


@pytest.fixture(params=["starlette_app", "fastapi_app"])
def framework(request, pounce_server, parser):
    server = pounce_server(f"framework_apps:{request.param}", "--http", parser)
    server.name = request.param
    return server


def test_routing_json_and_lifespan_state(framework):
    r = httpx.get(framework.url + "/hello/pounce", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"hello": "pounce", "db": "connected"}
    assert httpx.get(framework.url + "/nope", timeout=5).status_code == 404


def test_request_body(framework):
    if framework.name == "starlette_app":
        r = httpx.post(framework.url + "/echo?q=1", content=b"payload", timeout=5)
        assert r.json() == {"got": "payload", "q": "1"}
    else:
        r = httpx.post(framework.url + "/items", json={"a": [1, 2]}, timeout=5)
        assert r.json() == {"received": {"a": [1, 2]}}
        assert httpx.post(framework.url + "/items", content=b"{bad", timeout=5).status_code == 422


def test_streaming_response(framework):
    with httpx.stream("GET", framework.url + "/stream", timeout=5) as r:
        assert r.headers["transfer-encoding"] == "chunked"
        assert b"".join(r.iter_raw()) == b"chunk0;chunk1;chunk2;chunk3;chunk4;"


def test_background_task_runs_after_response(framework):
    r = httpx.get(framework.url + "/background", timeout=5)
    assert r.text == "queued"
    name = "starlette" if framework.name == "starlette_app" else "fastapi"
    deadline = time.monotonic() + 5
    while name not in httpx.get(framework.url + "/done", timeout=5).json():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_fastapi_sync_endpoint(framework):
    if framework.name != "fastapi_app":
        pytest.skip("FastAPI only")
    assert httpx.get(framework.url + "/sync", timeout=5).json() == {"sync": True}


def test_keep_alive_client_reuses_connection(framework):
    with httpx.Client(base_url=framework.url, timeout=5) as client:
        for _ in range(20):
            assert client.get("/hello/x").status_code == 200
