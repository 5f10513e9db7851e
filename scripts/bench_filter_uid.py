"""What the seccomp filter and the unprivileged uid cost alone: per-test time of one warm local worker.

    sudo .venv/bin/python scripts/bench_filter_uid.py [--rounds 4] [--tests 150]

Runs as root (the uid change only happens there). Four variants of the same local backend, in one
run, alternating round by round: as shipped; without the seccomp filter; with bubblewrap's user
namespace instead of the leased uid (the layout before the hardening); without either. Each round
times `--tests` trivial stdin tests one after another on one worker (best of 3 passes); the table
shows each variant's median over the rounds and its ratio to "neither". Everything else (the cgroup,
the checks after each test) is the same in all four, so this isolates the filter and the uid.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sandbox.backends.local as local  # noqa: E402
from sandbox import Limits, Sandbox, StdioCase  # noqa: E402

VARIANTS = ("shipped", "no filter", "user namespace", "neither")
SHIPPED = local.bwrap_command


def command_for(variant: str):
    def command(python, scratch_mb, extra_ro_binds=(), counters=None, run_as=None):
        keep_uid = variant in ("shipped", "no filter")
        args = SHIPPED(python, scratch_mb, extra_ro_binds, counters, run_as=run_as if keep_uid else None)
        if variant in ("no filter", "neither"):  # the worker installs the filter only when given one
            at = args.index("CODER_RL_SECCOMP")
            del args[at - 1 : at + 2]
        return args

    return command


def ms_per_test(variant: str, tests: int) -> float:
    local.bwrap_command = command_for(variant)
    with Sandbox(backend="local", workers=1, limits=Limits(time_s=2)) as box:
        box.run("print(1)", [StdioCase("", "1\n")])  # warm
        passes = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(tests):
                box.run("print(int(input()) * 2)", [StdioCase("21\n", "42\n")])
            passes.append((time.perf_counter() - start) / tests * 1e3)
    return min(passes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tests", type=int, default=150)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_filter_uid: run as root (the leased uid is a root host's)", file=sys.stderr)
        return 2
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            times[variant].append(ms_per_test(variant, args.tests))
    base = statistics.median(times["neither"])
    print(f"ms/test, one warm local worker, median of {args.rounds} rounds (each the best of 3 passes)")
    for variant in VARIANTS:
        median = statistics.median(times[variant])
        rounds = " ".join(f"{t:.2f}" for t in times[variant])
        print(f"{variant:<15} {median:6.2f}   x{median / base:5.2f} vs neither   rounds: {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
