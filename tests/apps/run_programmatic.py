"""Serve through the programmatic API: ``python run_programmatic.py FD MODE``."""

import asyncio
import sys

from testapp import app

import pounce

fd, mode = int(sys.argv[1]), sys.argv[2]
if mode == "run":
    pounce.run(app, fd=fd, http="h11", access_log=False)
else:
    server = pounce.Server(pounce.Config(app=app, fd=fd, access_log=False))
    pounce.logs.configure_logging(server.config)
    asyncio.run(server.serve())
