"""Answers every request with its scope as JSON."""

import json

from testapp import read_body, scope_json, send_response


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    data = scope_json(scope)
    data["body_length"] = len(body)
    await send_response(send, 200, json.dumps(data).encode())
