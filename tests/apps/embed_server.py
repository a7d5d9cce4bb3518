"""Embeds ``pounce.Server`` as uvicorn's docs show: ``python embed_server.py FD MODE``.

MODE ``previous``: the program's own SIGTERM handler is installed before ``serve()``; after
serve() the handler must be back and receive the SIGTERM that stopped the server (exit 7).
MODE ``after``: the server is stopped by ``should_exit`` from a thread once it has started;
then the program keeps running, and a later SIGTERM must end it (the default action).
"""

import asyncio
import signal
import sys
import threading
import time

from server_api_apps import slow_app

import pounce

fd, mode = int(sys.argv[1]), sys.argv[2]
config = pounce.Config(app=slow_app, fd=fd, access_log=False)
server = pounce.Server(config)
pounce.logs.configure_logging(config)


def previous_handler(sig, frame):
    print(f"previous handler got {signal.Signals(sig).name}", flush=True)
    sys.exit(7)


if mode == "previous":
    signal.signal(signal.SIGTERM, previous_handler)
else:

    def stop_once_started() -> None:
        while not server.started:
            time.sleep(0.01)
        server.should_exit = True

    threading.Thread(target=stop_once_started, daemon=True).start()

asyncio.run(server.serve())
print(f"serve returned; SIGTERM handler: {signal.getsignal(signal.SIGTERM)!r}", flush=True)
time.sleep(30)
print("still running after 30 s", flush=True)
