"""Small apps for CLI tests: a factory, env reading, import failures."""

import os

from testapp import app as testapp_app


def create_app():
    return testapp_app


async def env_app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = os.environ.get("POUNCE_TEST_VALUE", "unset").encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


not_callable = 42
