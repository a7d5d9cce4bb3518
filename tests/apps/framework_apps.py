"""A Starlette app and a FastAPI app: routing, JSON, streaming, background tasks, lifespan."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

DONE: list[str] = []


@asynccontextmanager
async def lifespan(app):
    yield {"db": "connected"}


async def chunks():
    for i in range(5):
        await asyncio.sleep(0.01)
        yield f"chunk{i};"


async def background_job(name: str) -> None:
    await asyncio.sleep(0.05)
    DONE.append(name)


# Starlette -----------------------------------------------------------------------------------


async def s_json(request: Request):
    return JSONResponse({"hello": request.path_params["name"], "db": request.state.db})


async def s_echo(request: Request):
    return JSONResponse({"got": (await request.body()).decode(), "q": request.query_params["q"]})


async def s_stream(request: Request):
    return StreamingResponse(chunks(), media_type="text/plain")


async def s_background(request: Request):
    return PlainTextResponse("queued", background=BackgroundTask(background_job, "starlette"))


async def s_done(request: Request):
    return JSONResponse(DONE)


starlette_app = Starlette(
    routes=[
        Route("/hello/{name}", s_json),
        Route("/echo", s_echo, methods=["POST"]),
        Route("/stream", s_stream),
        Route("/background", s_background),
        Route("/done", s_done),
    ],
    lifespan=lifespan,
)

# FastAPI -------------------------------------------------------------------------------------

fastapi_app = FastAPI(lifespan=lifespan)


@fastapi_app.get("/hello/{name}")
async def f_json(name: str, request: Request):
    return {"hello": name, "db": request.state.db}


@fastapi_app.get("/sync")
def f_sync():  # a sync endpoint runs in the threadpool
    return {"sync": True}


@fastapi_app.post("/items")
async def f_items(item: dict):
    return {"received": item}


@fastapi_app.get("/stream")
async def f_stream():
    return StreamingResponse(chunks(), media_type="text/plain")


@fastapi_app.get("/background")
async def f_background():
    return PlainTextResponse("queued", background=BackgroundTask(background_job, "fastapi"))


@fastapi_app.get("/done")
async def f_done():
    return DONE
