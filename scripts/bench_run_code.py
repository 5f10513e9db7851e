"""Load test of SandboxFusion's `POST /run_code` as veRL sends it: `coder-rl serve` against, in the same
run, SandboxFusion's own server when one is given.

    python scripts/bench_run_code.py [--seconds 60] [--concurrency 64] [--workers 2]
                                     [--sandbox-fusion-url http://127.0.0.1:8080] [--out bench-run-code.json]

- requests: veRL's (`verl.utils.reward_score.sandbox_fusion.utils.call_sandbox_api`), field for field:
  one reference program of a bundled stdin problem with one of its tests as `stdin`, `run_timeout` 10,
  `memory_limit_MB` 1024, `files` {} and `fetch_files` []; the answer is judged as veRL judges it
  (`status` Success, `run_result.status` Finished, stdout equal after `rstrip("\\n")`);
- load: `--concurrency` closed-loop clients (veRL's reward workers keep 64 in flight each), each sending its
  next request when the last is answered, for `--seconds` per server after a warm-up;
- counted apart: SandboxError answers, 5xx, other non-200s, transport errors, and wrong answers (any of
  them costs veRL a sample: it scores it -1 or 0).

SandboxFusion is not on PyPI: start its server from its repository (`make run`, or
`uvicorn sandbox.server.server:app --port 8080` in its directory, after its `pip install` of the
dependencies in its pyproject) and pass its URL. Its default configuration runs programs without
isolation; ours runs them in the local sandbox. Prints a Markdown table; `--out` writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import figures, free_port, start, stop  # noqa: E402  (a sibling script)


def workload() -> list[dict]:
    """(program, stdin, expected) from the bundled problems' stdin tests and references."""
    from coder_rl.data import DataConfig, load_problems
    from sandbox import StdioCase

    out = []
    for problem in load_problems(DataConfig(dataset="sample")).problems:
        for case in problem.tests:
            if isinstance(case, StdioCase) and problem.solutions:
                out.append(
                    {"code": problem.solutions[0], "stdin": case.stdin, "expected": case.expected_stdout}
                )
    return out


def request(item: dict) -> dict:
    return {
        "compile_timeout": 10, "run_timeout": 10, "code": item["code"], "stdin": item["stdin"],
        "memory_limit_MB": 1024, "language": "python", "files": {}, "fetch_files": [],
    }  # fmt: skip


def verl_judges_it_right(answer: dict, expected: str) -> bool:
    run = answer.get("run_result") or {}
    return (
        answer.get("status") == "Success" and run.get("status") == "Finished"
        and str(run.get("stdout")).rstrip("\n") == expected.rstrip("\n")
    )  # fmt: skip


async def load(url: str, items: list[dict], concurrency: int, seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    counts = {"sandbox_error": 0, "http_5xx": 0, "http_other": 0, "transport": 0, "wrong": 0}
    wrong: dict[str, int] = {}  # the wrong answers by status / run status
    queue = itertools.cycle(items)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:  # veRL's: 10 + 10 + 10 s

        async def one_client(deadline: float) -> None:
            while time.perf_counter() < deadline:
                item = next(queue)
                began = time.perf_counter()
                try:
                    response = await client.post("/run_code", json=request(item))
                except httpx.HTTPError:
                    counts["transport"] += 1
                    continue
                if response.status_code >= 500:
                    counts["http_5xx"] += 1
                elif response.status_code != 200:
                    counts["http_other"] += 1
                elif response.json().get("status") == "SandboxError":
                    counts["sandbox_error"] += 1
                elif not verl_judges_it_right(response.json(), item["expected"]):
                    counts["wrong"] += 1
                    answer = response.json()
                    kind = f"{answer.get('status')}/{(answer.get('run_result') or {}).get('status')}"
                    wrong[kind] = wrong.get(kind, 0) + 1
                else:
                    latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(one_client(began + seconds) for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return {**figures(latencies, wall), **counts, "wrong_kinds": wrong}


async def warm(url: str, items: list[dict]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for item in items[:8]:
            answer = await client.post("/run_code", json=request(item))
            if answer.status_code != 200 or not verl_judges_it_right(answer.json(), item["expected"]):
                raise SystemExit(
                    f"{url}: wrong answer to a reference: {answer.status_code} {answer.text[:500]}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="load per server")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="our sandbox's warm workers")
    parser.add_argument("--sandbox-fusion-url", help="a running SandboxFusion server, measured alike")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    items = workload()
    port = free_port()
    ours_url = f"http://127.0.0.1:{port}"
    targets = [("coder-rl", ours_url)] + (
        [("SandboxFusion", args.sandbox_fusion_url)] if args.sandbox_fusion_url else []
    )
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        ours = start(
            [sys.executable, "-m", "coder_rl.cli.main", "serve", "--port", str(port),
             "--set", f"verifier.sandbox.workers={args.workers}"],
            ours_url, Path(tmp) / "ours.log",
        )  # fmt: skip
        try:
            for name, url in targets:
                asyncio.run(warm(url, items))
                rows[name] = asyncio.run(load(url, items, args.concurrency, args.seconds))
                print(f"  {name}: {rows[name]}", file=sys.stderr, flush=True)
        finally:
            stop(ours)
    print(f"\n`POST /run_code` as veRL sends it: {args.concurrency} concurrent clients, {args.seconds:g} s per "
          f"server, {len(items)} (program, stdin) pairs of the bundled problems, {os.cpu_count()} CPU cores, "
          f"our sandbox: {args.workers} warm workers\n")  # fmt: skip
    print(
        "| server | right answers/s | p50 ms | p99 ms | SandboxError | 5xx | other non-200 | transport | wrong |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['req_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['sandbox_error']} "
              f"| {r['http_5xx']} | {r['http_other']} | {r['transport']} | {r['wrong']} |")  # fmt: skip
    for name, r in rows.items():
        if r["wrong_kinds"]:
            print(f"\n{name}'s wrong answers to reference programs, by status/run status: {r['wrong_kinds']}")
    if args.out:
        args.out.write_text(
            json.dumps({"concurrency": args.concurrency, "seconds": args.seconds, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
