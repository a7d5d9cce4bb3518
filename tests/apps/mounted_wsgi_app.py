"""The Flask app of interface_apps mounted in a Starlette (ASGI 3) app with a2wsgi, as FastAPI's
docs show: a2wsgi calls the server's ``receive()`` from its WSGI thread (see _TakeBody in
pounce/_speedups/_http1.pyx). Kept apart so that interface_apps imports without a2wsgi."""

from __future__ import annotations

from a2wsgi import WSGIMiddleware
from interface_apps import flask_app
from starlette.applications import Starlette
from starlette.routing import Mount

app = Starlette(routes=[Mount("/flask", app=WSGIMiddleware(flask_app))])
