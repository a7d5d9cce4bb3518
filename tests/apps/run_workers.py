"""``python run_workers.py FD``: the programmatic API with two workers on an inherited socket."""

import sys

from testapp import app

import pounce

if __name__ == "__main__":
    pounce.run(app, fd=int(sys.argv[1]), workers=2, access_log=False)
