"""A real framework (Starlette) over HTTP/2 through httpx."""

from __future__ import annotations

import asyncio

import httpx


def test_starlette_over_h2c(pounce_server):
    server = pounce_server("h2_starlette:app", "--no-access-log")

    async def main() -> None:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=20) as client:
            r = await client.post(
                f"{server.url}/json", json={"a": [1, 2]}, headers={"cookie": "x=1; y=2"}
            )
            assert r.status_code == 200 and r.http_version == "HTTP/2"
            assert r.json() == {"got": {"a": [1, 2]}, "cookies": {"x": "1", "y": "2"}, "http": "2"}
            streams = await asyncio.gather(*(client.get(f"{server.url}/stream") for _ in range(10)))
            expected = b"".join(b"%04d," % i for i in range(100))
            assert all(s.status_code == 200 and s.content == expected for s in streams)
            big = await client.post(f"{server.url}/upload", content=b"z" * (3 * 1024 * 1024))
            assert big.json() == {"size": 3 * 1024 * 1024}

    asyncio.run(main())
