"""The ray backend on a real local Ray instance (loopback): same verdicts as the local pool, nothing left after close."""

from __future__ import annotations

import pytest

from sandbox import CallCase, Limits, Sandbox, StdioCase, Verdict

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'coder-rl[ray]')")


@pytest.mark.slow
def test_ray_backend_matches_the_local_backend(local_box):
    programs = [
        ("print(sum(map(int, input().split())))", [StdioCase(f"{i} {i}\n", f"{2 * i}\n") for i in range(30)]),
        ("def f(x):\n    return [x, x * 0.5]", [CallCase("f", [3], [3, 1.5])]),
        ("while True:\n    pass", [StdioCase("", "")]),
        ("import socket\nsocket.create_connection(('10.0.0.1', 80), timeout=1)", [StdioCase("", "")]),
    ]
    with Sandbox(backend="ray", workers=2, limits=Limits(time_s=1)) as box:
        assert ray.is_initialized()
        remote = box.run_batch(programs)
    assert not ray.is_initialized()  # the sandbox started the local instance, so it shut it down
    local = local_box.run_batch(programs, limits=Limits(time_s=1))
    assert [[t.verdict for t in r.tests] for r in remote] == [[t.verdict for t in r.tests] for r in local]
    assert [r.verdict for r in remote] == [
        Verdict.PASSED,
        Verdict.PASSED,
        Verdict.TIMEOUT,
        Verdict.RUNTIME_ERROR,
    ]
