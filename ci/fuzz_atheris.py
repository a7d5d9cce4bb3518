#!/usr/bin/env python3
"""Longer coverage-guided fuzzing with atheris (libFuzzer), for manual runs.

    pip install atheris
    python ci/fuzz_atheris.py h1 -atheris_runs=200000      # HTTP/1.1, httptools and h11
    python ci/fuzz_atheris.py h2 -max_total_time=300        # HTTP/2 frames into H2Connection
    python ci/fuzz_atheris.py ws -max_total_time=300 corpus/ws

The targets and their invariants are the ones of the Hypothesis tests in tests/fuzz/
(``tests/fuzz/harness.py``): any input gives requests the app sees and well-formed responses,
or an error response and a close, or a protocol error; never an unhandled exception, a
logged error or an application call left hanging. A violation raises, and libFuzzer saves the
input as ``/tmp/pounce-fuzz-<target>-crash-*`` (``-artifact_prefix=`` to change); replay one
with ``python ci/fuzz_atheris.py h1 /tmp/pounce-fuzz-h1-crash-...``.

The pure-Python twins run by default, since atheris only sees coverage of Python code; pass
``--compiled`` to fuzz the compiled twins instead. Arguments after the target go to
libFuzzer; without a corpus directory, one is seeded (in a temporary directory) from the
smuggling corpus of tests/integration/test_h1_smuggling.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("h1", "h2", "ws")


def _seeds(target: str) -> list[bytes]:
    if target == "h1":
        from tests.integration.test_h1_smuggling import CASES

        # Two bytes choose the parser and the head limit.
        return [b"\x00\x00" + case.data.replace(b"@T", b"1") for case in CASES.values()]
    if target == "h2":
        from pounce.http2.constants import PREFACE
        from tests.fuzz.test_fuzz_h2 import SETTINGS

        return [b"\x00" * 4 + PREFACE + SETTINGS]  # 4 bytes choose the cuts
    from tests.fuzz.test_fuzz_ws import DEFLATE_FAULTS, FAULTS

    # A byte chooses permessage-deflate (odd: offered and agreed), 4 bytes the cuts.
    plain = [b"\x00" + b"\x00" * 4 + frame for frame, _ in FAULTS.values()]
    return plain + [b"\x01" + b"\x00" * 4 + frame for frame, _ in DEFLATE_FAULTS.values()]


def _chunks(fdp: object, data: bytes) -> list[bytes]:
    """Cut ``data`` at up to 3 points chosen by the fuzzer (TCP may deliver it so)."""
    cuts = sorted(fdp.ConsumeIntInRange(0, len(data)) for _ in range(fdp.ConsumeIntInRange(0, 3)))  # type: ignore[attr-defined]
    out, pos = [], 0
    for cut in [*cuts, len(data)]:
        if cut > pos:
            out.append(data[pos:cut])
            pos = cut
    return out


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [--compiled] [libFuzzer args]")
    target = sys.argv.pop(1)
    if "--compiled" in sys.argv:
        sys.argv.remove("--compiled")
    else:
        os.environ["POUNCE_NO_EXTENSIONS"] = "1"
    sys.path.insert(0, str(ROOT))

    import atheris

    with atheris.instrument_imports(include=["pounce", "h11", "h2", "hpack", "wsproto"]):
        from pounce.http1.protocol import H1Protocol
        from pounce.http2.connection import H2Connection
        from tests.fuzz.harness import run_h1, run_h2, run_ws, ws_close_code_ok

    def test_h1(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        parser = "h11" if fdp.ConsumeBool() else "httptools"
        head_limit = 256 if fdp.ConsumeBool() else 4096
        rest = fdp.ConsumeBytes(fdp.remaining_bytes())
        run_h1(
            H1Protocol,
            parser,
            _chunks(atheris.FuzzedDataProvider(rest[:4]), rest),
            max_head_size=head_limit,
        )

    def test_h2(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        cuts = fdp.ConsumeBytes(4)
        rest = fdp.ConsumeBytes(fdp.remaining_bytes())
        run_h2(H2Connection, _chunks(atheris.FuzzedDataProvider(cuts), rest))

    def test_ws(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        deflate = fdp.ConsumeBool()
        cuts = fdp.ConsumeBytes(4)
        rest = fdp.ConsumeBytes(fdp.remaining_bytes())
        outcome = run_ws(_chunks(atheris.FuzzedDataProvider(cuts), rest), deflate=deflate)
        if not ws_close_code_ok(outcome.close_code):
            raise AssertionError(f"unexpected close code {outcome.close_code}")

    args = sys.argv
    if not any(a.startswith("-max_len=") for a in args):
        args = [*args, "-max_len=4096"]  # libFuzzer would cap inputs at the longest seed
    if not any(a.startswith("-artifact_prefix=") for a in args):
        args = [*args, f"-artifact_prefix={tempfile.gettempdir()}/pounce-fuzz-{target}-"]
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = Path(tempfile.mkdtemp(prefix=f"pounce-fuzz-{target}-"))
        for i, seed in enumerate(_seeds(target)):
            (corpus / f"seed-{i}").write_bytes(seed)
        args = [*args, str(corpus)]
        print(f"seed corpus: {corpus}", file=sys.stderr)
    atheris.Setup(args, {"h1": test_h1, "h2": test_h2, "ws": test_ws}[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
