"""A Starlette app for HTTP/2 framework tests: JSON echo, streaming, cookies, form upload."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


async def echo_json(request: Request) -> JSONResponse:
    data = await request.json()
    return JSONResponse(
        {"got": data, "cookies": request.cookies, "http": request.scope["http_version"]}
    )


async def stream(request: Request) -> StreamingResponse:
    async def gen():
        for i in range(100):
            yield b"%04d," % i

    return StreamingResponse(gen(), media_type="text/plain")


async def upload(request: Request) -> JSONResponse:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    return JSONResponse({"size": total})


app = Starlette(
    routes=[
        Route("/json", echo_json, methods=["POST"]),
        Route("/stream", stream),
        Route("/upload", upload, methods=["POST"]),
    ]
)
