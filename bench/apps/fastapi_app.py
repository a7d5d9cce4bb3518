"""fastapi: a typical FastAPI route (path and query parameters validated by pydantic, a response
model serialized to JSON). Most of the time is the framework's; the server's share shows in how
much of the gap to the plain scenarios survives."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


class Item(BaseModel):
    id: int
    name: str
    query: str | None = None
    price: float


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> Item:
    return Item(id=item_id, name=f"item-{item_id}", query=q, price=item_id * 1.25)
