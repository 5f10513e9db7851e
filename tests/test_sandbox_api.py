"""The Sandbox API on real isolating backends: verdicts, batches, fail-fast, async, crashes, clean close."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from sandbox import (
    AssertCase,
    CallCase,
    Limits,
    Sandbox,
    SandboxUnavailable,
    StdioCase,
    Verdict,
    all_passed,
    pass_fraction,
)
from tests.sandbox_helpers import descendants

ADD = "a, b = map(int, input().split())\nprint(a + b)\n"


def test_stdin_verdicts_and_measurements(box):
    result = box.run(ADD, [StdioCase("1 2\n", "3\n"), StdioCase("2 2\n", "5\n")])
    passed, wrong = result.tests
    assert (passed.verdict, wrong.verdict) == (Verdict.PASSED, Verdict.WRONG_ANSWER)
    assert wrong.detail == "line 1 token 1: expected '5', got '4'"
    assert passed.stdout == "3\n" and 0 < passed.wall_s < 3 and passed.cpu_s > 0 and passed.peak_memory_mb > 1
    assert result.verdict is Verdict.WRONG_ANSWER
    assert (pass_fraction(result), all_passed(result)) == (0.5, 0.0)


def test_runtime_error_names_the_exception_and_keeps_the_traceback(box):
    test = box.run("def f(x):\n    return 1 // x\nprint(f(int(input())))", [StdioCase("0\n", "")]).tests[0]
    assert test.verdict is Verdict.RUNTIME_ERROR
    assert test.detail == "ZeroDivisionError: integer division or modulo by zero"
    assert 'File "main.py", line 2, in f' in test.stderr


def test_exit_status_is_the_answer_of_a_stdin_program(box):
    ok, failed = box.run(
        "import sys\nprint(1)\nsys.exit(int(input()))", [StdioCase("0\n", "1\n"), StdioCase("3\n", "1\n")]
    ).tests
    assert ok.verdict is Verdict.PASSED
    assert (failed.verdict, failed.detail) == (Verdict.RUNTIME_ERROR, "exit status 3")


def test_compile_error_marks_every_test(box):
    result = box.run("def f(:\n  pass", [StdioCase("", ""), StdioCase("", "")])
    assert [t.verdict for t in result.tests] == [Verdict.COMPILE_ERROR] * 2
    assert result.tests[0].detail.startswith("SyntaxError") and "(line 1)" in result.tests[0].detail


def test_call_cases_function_and_solution_class(box):
    function = "def add(a, b):\n    return (a + b, [a, b])"
    method = "class Solution:\n    def add(self, a, b):\n        return a + b"
    cases = [CallCase("add", [1, 2], [3, [1, 2]]), CallCase("add", [1, 1], [3, [1, 1]])]
    first, second = box.run(function, cases).tests
    assert first.verdict is Verdict.PASSED  # a tuple result equals a list
    assert (second.verdict, second.detail) == (Verdict.WRONG_ANSWER, "expected [3, [1, 1]], got [2, [1, 1]]")
    assert box.run(method, [CallCase("add", [2, 3], 5)]).tests[0].verdict is Verdict.PASSED
    missing = box.run("x = 1", [CallCase("add", [1], [1])]).tests[0]
    assert missing.verdict is Verdict.RUNTIME_ERROR and missing.detail.startswith(
        "NameError: no function 'add'"
    )


def test_unserialisable_result_gets_a_clear_verdict(box):
    test = box.run("def f():\n    return {1, 2}", [CallCase("f", [], [[1, 2]])]).tests[0]
    assert test.verdict is Verdict.WRONG_ANSWER
    assert test.detail == "returned a set, which is not JSON-serialisable"


def test_numpy_results_cross_as_json(box):
    test = box.run(
        "import numpy as np\ndef f(n):\n    return np.arange(n) * 0.5", [CallCase("f", [3], [0.0, 0.5, 1.0])]
    )
    assert test.tests[0].verdict is Verdict.PASSED, test.tests[0].detail


def test_assert_case(box):
    program = "def inc(x):\n    return x + 1"
    good, bad = box.run(
        program, [AssertCase("assert inc(1) == 2"), AssertCase("assert inc(1) == 3, 'off'")]
    ).tests
    assert good.verdict is Verdict.PASSED
    assert (bad.verdict, bad.detail) == (Verdict.WRONG_ANSWER, "AssertionError: off")


def test_fail_fast_skips_the_rest(box):
    cases = [StdioCase("1 1\n", "2\n"), StdioCase("1 1\n", "3\n"), StdioCase("1 1\n", "2\n")]
    fast = box.run(ADD, cases, fail_fast=True)
    assert [t.verdict for t in fast.tests] == [Verdict.PASSED, Verdict.WRONG_ANSWER, Verdict.SKIPPED]
    assert [t.verdict for t in box.run(ADD, cases).tests][2] is Verdict.PASSED  # run-all is the default


def test_batch_keeps_order_and_spreads_tests(box):
    programs = [f"print(int(input()) + {k})" for k in range(5)]
    batch = [(p, [StdioCase(f"{i}\n", f"{i + k}\n") for i in range(7)]) for k, p in enumerate(programs)]
    results = box.run_batch(batch)
    assert [len(r.tests) for r in results] == [7] * 5
    assert all(r.verdict is Verdict.PASSED for r in results)
    one = box.run_batch([(programs[1], [StdioCase(f"{i}\n", f"{i + 1}\n") for i in range(20)])])[0]
    assert [t.stdout for t in one.tests] == [f"{i + 1}\n" for i in range(20)]  # split over workers, in order


def test_program_without_tests(box):
    assert box.run(ADD, []).tests == []


def test_async_batches_run_concurrently(box):
    async def main():
        return await asyncio.gather(
            box.arun(ADD, [StdioCase("1 2\n", "3\n")]),
            box.arun_batch([(ADD, [StdioCase("2 2\n", "4\n")])] * 3),
        )

    single, batch = asyncio.run(main())
    assert single.verdict is Verdict.PASSED and [r.verdict for r in batch] == [Verdict.PASSED] * 3


def test_limits_are_validated():
    with pytest.raises(ValueError, match="limits.time_s must be a positive number"):
        Limits(time_s=0)
    with pytest.raises(ValueError, match="unknown limits"):
        Limits.from_dict({"time": 1})
    with pytest.raises(ValueError, match="unknown sandbox backend 'bwrap'"):
        Sandbox(backend="bwrap")


def test_missing_bubblewrap_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        Sandbox(backend="local", workers=1)


def test_crashed_worker_costs_one_test_and_close_leaves_nothing():
    before = descendants()
    box = Sandbox(backend="local", workers=1, limits=Limits(time_s=2))
    started = descendants() - before
    assert started, "the worker runs below this process"

    def kill_worker_soon():
        time.sleep(0.6)
        for pid in descendants() - before:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "bwrap":
                    os.kill(pid, 9)
            except OSError:
                pass

    killer = threading.Thread(target=kill_worker_soon)
    killer.start()
    slow = "import time\ntime.sleep(1.5)\nprint(1)"
    results = box.run_batch(
        [(slow, [StdioCase("", "1\n"), StdioCase("", "1\n")]), (ADD, [StdioCase("1 2\n", "3\n")])]
    )
    killer.join()
    first, second = results[0].tests
    # the test in flight runs again on a fresh worker, which takes over the rest
    assert first.verdict is Verdict.PASSED, first.detail
    assert first.detail == "(retried on a fresh worker: worker exited)"
    assert second.verdict is Verdict.PASSED
    assert results[1].verdict is Verdict.PASSED
    box.close()
    assert descendants() - before == set()


@pytest.mark.skipif(os.geteuid() != 0, reason="the pids cgroup is used only when running as root")
def test_root_workers_get_a_pids_cgroup():
    with Sandbox(backend="local", workers=1, limits=Limits(max_processes=16)) as box:
        result = box.run(
            "import os\nn = 0\ntry:\n    while n < 200:\n        if os.fork() == 0:\n            import time; time.sleep(5); os._exit(0)\n        n += 1\nexcept OSError:\n    pass\nprint(n < 40)",
            [StdioCase("", "True\n")],
        )
        assert result.tests[0].verdict is Verdict.PASSED, result.tests[0].stdout


def test_unsafe_backend_runs_only_when_asked():
    assert Sandbox.__init__.__defaults__[0] == "local"  # never the default
    with Sandbox(backend="unsafe", workers=1) as box:
        assert box.run(ADD, [StdioCase("1 2\n", "3\n")]).verdict is Verdict.PASSED


def test_docker_close_removes_its_containers():
    from tests.conftest import _docker_engine_reason, _ensure_sandbox_image

    reason = _docker_engine_reason()
    if reason:
        pytest.skip(reason)
    _ensure_sandbox_image()
    import docker

    from sandbox.backends.docker_containers import LABEL

    client = docker.from_env()

    def ours() -> set[str]:
        return {c.id for c in client.containers.list(all=True, filters={"label": LABEL})}

    before = ours()
    with Sandbox(backend="docker", workers=2) as box:
        assert len(ours() - before) == 2
        assert box.run(ADD, [StdioCase("1 2\n", "3\n")]).verdict is Verdict.PASSED
    assert ours() - before == set()


def test_queued_tests_survive_a_worker_replacement(box):
    """A test leaves a daemon behind, so its worker is replaced while the next test is already queued there."""
    program = (
        "import os, sys\nn = int(input())\n"
        "if n == 0 and os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(30)\n"
        "print(n)\nsys.stdout.flush()"
    )
    result = box.run(program, [StdioCase(f"{i}\n", f"{i}\n") for i in range(4)])
    assert [t.verdict for t in result.tests] == [Verdict.PASSED] * 4
    assert "worker replaced: left 1 process(es) running" in result.tests[0].detail


def test_big_inputs_and_outputs_over_many_tests_do_not_deadlock(box):
    """Requests bigger than a pipe's buffer are not queued ahead, so big stdin and big stdout can't jam."""
    echo = "import sys\nsys.stdout.write(sys.stdin.read())"
    cases = [StdioCase(f"{i} " * 60_000 + "\n", f"{i} " * 60_000 + "\n") for i in range(6)]
    assert [t.verdict for t in box.run(echo, cases).tests] == [Verdict.PASSED] * 6


def test_docker_containers_of_a_dead_process_are_removed(docker_client):
    """A process killed before close() leaves its containers; the next docker sandbox on the host removes them."""
    import subprocess
    import sys

    from sandbox.backends.docker_containers import LABEL

    dies = "import os\nfrom sandbox import Sandbox\nbox = Sandbox(backend='docker', workers=2)\nprint(os.getpid())\nos._exit(0)"
    pid = subprocess.run(
        [sys.executable, "-c", dies], capture_output=True, text=True, check=True
    ).stdout.strip()

    def left() -> list:
        return [
            c
            for c in docker_client.containers.list(all=True, filters={"label": LABEL})
            if c.labels[LABEL].endswith(f":{pid}")
        ]

    assert len(left()) == 2
    Sandbox(backend="docker", workers=1).close()
    assert left() == []


def test_a_sandbox_never_closed_stops_its_workers_when_collected():
    import gc

    before = descendants()
    box = Sandbox(backend="local", workers=1)
    assert descendants() - before
    del box
    gc.collect()
    assert descendants() - before == set()


def test_a_program_killed_by_a_realtime_signal_is_judged_and_the_worker_stays_in_step(box):
    program = "import os\nos.kill(os.getpid(), 40)"
    test = box.run(program, [StdioCase("", ""), StdioCase("", "")]).tests[0]
    assert (test.verdict, test.detail) == (Verdict.RUNTIME_ERROR, "killed by signal 40")
    huge = box.run("def f():\n    return 1.5", [CallCase("f", [], 10**400)]).tests[0]
    assert huge.verdict is Verdict.WRONG_ANSWER
    assert box.run(ADD, [StdioCase("1 2\n", "3\n")]).verdict is Verdict.PASSED  # replies still in order


def test_a_failing_judge_costs_one_test_not_the_batch(box, monkeypatch):
    import sandbox.pool

    real = sandbox.pool.judge

    def judge_with_a_bug(case, *rest):
        if case.stdin == "1 2\n":
            raise RuntimeError("judge bug")
        return real(case, *rest)

    monkeypatch.setattr(sandbox.pool, "judge", judge_with_a_bug)
    first, second = box.run(ADD, [StdioCase("1 2\n", "3\n"), StdioCase("2 2\n", "4\n")]).tests
    assert first.verdict is Verdict.SANDBOX_ERROR and "the judge failed: RuntimeError" in first.detail
    assert second.verdict is Verdict.PASSED


def test_escaped_stdin_does_not_overflow_the_queue(box):
    """Queued requests are budgeted in bytes on the wire: '\\n' takes two, so 46 k characters of stdin
    take 69 kB, more than a pipe holds, while the previous test writes a big reply."""
    program = "import sys\ndata = sys.stdin.read()\nprint('x' * 300_000 if not data else len(data))"
    cases = [StdioCase("", "x" * 300_000 + "\n"), StdioCase("1\n" * 23_000, "46000\n")]
    assert [t.verdict for t in box.run(program, cases).tests] == [Verdict.PASSED] * 2


def test_running_on_a_closed_sandbox_is_an_error_not_a_hang():
    box = Sandbox(backend="local", workers=1)
    box.close()
    with pytest.raises(RuntimeError, match="the sandbox is closed"):
        box.run(ADD, [StdioCase("1 2\n", "3\n")])
    box.close()  # twice is harmless


@pytest.mark.skipif(os.geteuid() != 0, reason="the pids cgroup is used only when running as root")
def test_pids_cgroups_of_dead_processes_are_removed():
    from pathlib import Path

    base = Path("/sys/fs/cgroup/pids")
    if not base.is_dir():
        base = Path("/sys/fs/cgroup")
    orphan = base / "coder-rl-sandbox-4194000-0"  # above any pid this host hands out
    orphan.mkdir()
    with Sandbox(backend="local", workers=1):
        assert not orphan.exists()
