"""One pounce ``Server`` (no supervisor) on the hello app, with or without the metrics'
counting: what bench/RESULTS.md "Metrics" measured under callgrind, metrics on against off in
one process (``--metrics-bind`` itself runs a supervisor, whose fork callgrind would mix in).

    python bench/metrics_server.py PORT on|off
"""

from __future__ import annotations

import sys

from pounce import Config
from pounce.server import Server


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    config = Config(
        app="bench.apps.hello:app",
        port=port,
        access_log=False,
        use_colors=False,
        # Counted by the worker's state; no listener is bound without the supervisor.
        metrics_bind="127.0.0.1:1" if mode == "on" else None,
    )
    server = Server(config)
    server.reraise_signals = False
    server.run()


if __name__ == "__main__":
    main()
