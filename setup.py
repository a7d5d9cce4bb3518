"""Build script: compiles pounce/_speedups/*.pyx with Cython, and the one-source modules.

A one-source module is a ``.py`` in pounce/_speedups with a ``.pxd`` beside it: a link to the
pure module's file (``_cycle.py`` -> ``../asgi/_cycle.py``) that Cython compiles a second
time in pure-Python mode, typed by the ``.pxd``.

POUNCE_NO_EXTENSIONS=1 at build time gives a pure-Python build. Otherwise every extension must
compile: a failed compile fails the install (we never ship a silent fallback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent
PURE = os.environ.get("POUNCE_NO_EXTENSIONS", "") not in ("", "0")


def extensions() -> list[Extension]:
    if PURE:
        print("pounce build: pure Python (POUNCE_NO_EXTENSIONS is set)", file=sys.stderr)
        return []
    try:
        from Cython.Build import cythonize  # noqa: PLC0415  # optional: not in a pure build
    except ImportError as exc:  # pragma: no cover - Cython is a build requirement
        raise SystemExit(
            "pounce build: Cython is required to compile the speedups "
            "(set POUNCE_NO_EXTENSIONS=1 for a pure-Python build)"
        ) from exc
    speedups = HERE / "pounce" / "_speedups"
    one_source = [p for p in speedups.glob("*.py") if p.with_suffix(".pxd").exists()]
    sources = sorted([*speedups.glob("*.pyx"), *one_source])
    exts = [
        Extension(
            f"pounce._speedups.{src.stem}",
            [str(src.relative_to(HERE))],
            extra_compile_args=["-O3"],
        )
        for src in sources
    ]
    print(
        "pounce build: compiled speedups: " + ", ".join(e.name for e in exts),
        file=sys.stderr,
    )
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )


setup(ext_modules=extensions())
