"""Helpers shared by the sandbox's test modules: one test's verdict, the box's health, host processes.
Imports nothing but `sandbox`, so the sandbox's suites also run from a copy holding only it
(scripts/test_unprivileged.sh)."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from pathlib import Path

from sandbox import Limits, Sandbox, StdioCase, TestResult, Verdict


def run1(box: Sandbox, program: str, case, limits: Limits | None = None) -> TestResult:
    """Run `program` on one test case; its one result."""
    result = box.run(program, [case], limits=limits)
    assert len(result.tests) == 1
    return result.tests[0]


def explain(result: TestResult) -> str:
    return (
        f"verdict={result.verdict} detail={result.detail!r}\n"
        f"stdout={result.stdout[-400:]!r}\nstderr={result.stderr[-800:]!r}"
    )


def assert_verdict(result: TestResult, verdict: Verdict, *in_detail: str) -> None:
    """The verdict is exactly `verdict`, and the detail contains each of `in_detail`."""
    assert result.verdict is verdict, explain(result)
    for part in in_detail:
        assert part in result.detail, explain(result)


def assert_healthy(box: Sandbox) -> None:
    """The box still judges an ordinary program correctly."""
    result = run1(box, "print(int(input()) * 2)", StdioCase("21\n", "42\n"))
    assert_verdict(result, Verdict.PASSED)


def with_limits(box: Sandbox, **changes) -> Limits:
    return dataclasses.replace(box.limits, **changes)


def new_marker() -> str:
    """A number no other process on the host has in its command line: `sleep <marker>` is findable."""
    return "1000" + str(uuid.uuid4().int)[:14]


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (containers' processes are visible here too)."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def wait_until_gone(marker: str, timeout: float = 10.0) -> list[int]:
    """Processes still carrying `marker` after up to `timeout` seconds (killed ones take a moment to go)."""
    deadline = time.monotonic() + timeout
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def descendants() -> set[int]:
    """Pids of every process below this one (workers, bubblewrap, their children)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found
