"""Load test of `coder-rl serve` on loopback: `POST /v1/execute` at 1, 8 and 32 concurrent clients, against a
naive server in the same run that answers the same request by starting one `python` subprocess per test
(SandboxFusion's way: no warm interpreter, nothing shared between tests).

    python scripts/bench_serve.py [--seconds 8] [--levels 1,8,32] [--workers 2] [--out bench-serve.json]

- payload: one stdin program (reads two ints, prints their sum) x 4 tests, identical for both servers;
  every answer is checked (all 4 tests passed) before the figures are taken;
- ours: `coder-rl serve` (local sandbox backend, `--workers` warm workers, `max_concurrency=64` so that
  32 clients are never refused); naive: a stdlib `ThreadingHTTPServer` in its own process, one thread per
  request, its 4 tests one after another, each `python program.py` with a timeout and nothing else
  (no rlimits, no isolation: what it skips is work the sandbox does, so the comparison favours it);
- load: closed-loop `httpx.AsyncClient` clients, each sending its next request when the last is answered,
  for `--seconds` per level and server after a warm-up; latency is per request, req/s counts 200s only;
  errors (transport failures, non-200 other than 429, wrong verdicts) and 429s are counted apart.

The load generator shares the machine with both servers (a 2-core box runs everything), as a co-located
client would. Prints a Markdown table; `--out` writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAM = "a, b = map(int, input().split())\nprint(a + b)\n"
TESTS = [
    {"kind": "stdin", "stdin": f"{a} {b}\n", "expected_stdout": f"{a + b}\n"}
    for a, b in ((1, 2), (40, 2), (-7, 7), (123456, 654321))
]
PAYLOAD = {"programs": [PROGRAM], "tests": TESTS}


# ---------------------------------------------------------------- the naive server (its own process)


def naive_execute(body: dict, timeout_s: float = 4.0) -> dict:
    """Each program into a file, then one `python` subprocess per test; stdout compared by tokens."""
    results = []
    for program in body["programs"]:
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(program)
        tests = []
        try:
            for test in body["tests"]:
                try:
                    run = subprocess.run(
                        [sys.executable, f.name], input=test.get("stdin", ""), capture_output=True, text=True,
                        timeout=timeout_s,
                    )  # fmt: skip
                except subprocess.TimeoutExpired:
                    tests.append({"verdict": "timeout"})
                    continue
                if run.returncode != 0:
                    verdict = "runtime_error"
                else:
                    same = run.stdout.split() == test["expected_stdout"].split()
                    verdict = "passed" if same else "wrong_answer"
                tests.append({"verdict": verdict, "stdout": run.stdout, "stderr": run.stderr[-2000:]})
        finally:
            os.unlink(f.name)
        passed = sum(t["verdict"] == "passed" for t in tests)
        failed = [t["verdict"] for t in tests if t["verdict"] != "passed"]
        verdict = failed[0] if failed else "passed"
        results.append({"verdict": verdict, "pass_fraction": passed / len(tests), "tests": tests})
    return {"results": results}


def serve_naive(port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn does

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            if self.path == "/health":
                return self._reply(200, {"status": "ok"})
            self._reply(404, {"detail": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/execute":
                return self._reply(404, {"detail": "not found"})
            try:
                request = json.loads(body)
            except ValueError:
                return self._reply(400, {"detail": "malformed JSON body"})
            self._reply(200, naive_execute(request))

        def log_message(self, *_: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024  # the stdlib's 5 would refuse 32 clients connecting at once
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


# ---------------------------------------------------------------- servers and load


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], url: str, log: Path, timeout_s: float = 120.0) -> subprocess.Popen:
    import httpx

    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{command[:4]} exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{command[:4]} not healthy in {timeout_s:g} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def answer_ok(body: dict) -> bool:
    results = body.get("results") or []
    return len(results) == 1 and results[0]["verdict"] == "passed" and len(results[0]["tests"]) == len(TESTS)


async def load(url: str, concurrency: int, seconds: float) -> dict:
    """`concurrency` closed-loop clients for `seconds`: latencies of the 200s, errors and 429s apart."""
    import httpx

    latencies: list[float] = []
    counts = {"errors": 0, "refused_429": 0}
    kinds: dict[str, int] = {}

    def error(kind: str) -> None:
        counts["errors"] += 1
        kinds[kind] = kinds.get(kind, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def one_client(deadline: float) -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    response = await client.post("/v1/execute", json=PAYLOAD)
                except httpx.HTTPError as exc:
                    error(type(exc).__name__)
                    continue
                elapsed = time.perf_counter() - start
                if response.status_code == 429:
                    counts["refused_429"] += 1
                    await asyncio.sleep(0.05)
                elif response.status_code != 200:
                    error(f"HTTP {response.status_code}")
                elif not answer_ok(response.json()):
                    error(
                        "verdicts " + ",".join(t["verdict"] for t in response.json()["results"][0]["tests"])
                    )
                else:
                    latencies.append(elapsed)

        began = time.perf_counter()
        await asyncio.gather(*(one_client(began + seconds) for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return {**figures(latencies, wall), **counts, "error_kinds": kinds}


def figures(latencies: list[float], wall: float) -> dict:
    """A closed-loop run's figures from the latencies of the requests answered right."""
    latencies = sorted(latencies)
    return {
        "requests": len(latencies), "wall_s": round(wall, 3), "req_per_s": round(len(latencies) / wall, 2),
        "p50_ms": round(1000 * percentile(latencies, 50), 1), "p99_ms": round(1000 * percentile(latencies, 99), 1),
    }  # fmt: skip


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank on sorted values (nan when there are none)."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n·q/100), at least 1
    return ordered[int(rank) - 1]


async def warm(url: str, requests: int = 16) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for response in await asyncio.gather(*(client.post("/v1/execute", json=PAYLOAD) for _ in range(4))):
            if response.status_code != 200 or not answer_ok(response.json()):
                raise SystemExit(
                    f"{url}: wrong answer to the payload: {response.status_code} {response.text[:500]}"
                )
        for _ in range(requests):
            await client.post("/v1/execute", json=PAYLOAD)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="load per level and server")
    parser.add_argument("--levels", default="1,8,32", help="concurrent clients, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="our sandbox's warm workers")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--naive-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_server:
        return serve_naive(args.naive_server)
    levels = [int(x) for x in args.levels.split(",")]

    ours_port, naive_port = free_port(), free_port()
    ours_url, naive_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{naive_port}"
    env_sets = [f"verifier.sandbox.workers={args.workers}", f"max_concurrency={max(64, max(levels))}"]
    with tempfile.TemporaryDirectory() as tmp:
        ours = start(
            [sys.executable, "-m", "coder_rl.cli.main", "serve", "--port", str(ours_port),
             *[a for s in env_sets for a in ("--set", s)]],
            ours_url, Path(tmp) / "ours.log",
        )  # fmt: skip
        try:
            naive = start(
                [sys.executable, __file__, "--naive-server", str(naive_port)],
                naive_url,
                Path(tmp) / "naive.log",
            )
            try:
                rows = []
                for url in (ours_url, naive_url):
                    asyncio.run(warm(url))
                for level in levels:
                    row = {"concurrency": level}
                    for name, url in (("ours", ours_url), ("naive", naive_url)):
                        row[name] = asyncio.run(load(url, level, args.seconds))
                        print(f"  {name:5} x{level:<3} {row[name]}", file=sys.stderr, flush=True)
                    row["speedup"] = round(row["ours"]["req_per_s"] / max(row["naive"]["req_per_s"], 1e-9), 2)
                    rows.append(row)
            finally:
                stop(naive)
        finally:
            stop(ours)

    print(f"\n`POST /v1/execute`, 1 program x {len(TESTS)} stdin tests, {args.seconds:g} s per level and server, "
          f"{os.cpu_count()} CPU cores, our sandbox: {args.workers} warm workers\n")  # fmt: skip
    print("| concurrency | ours req/s | p50 ms | p99 ms | naive req/s | p50 ms | p99 ms | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        o, n = row["ours"], row["naive"]
        print(
            f"| {row['concurrency']} | {o['req_per_s']:.1f} | {o['p50_ms']:.0f} | {o['p99_ms']:.0f} "
            f"| {n['req_per_s']:.1f} | {n['p50_ms']:.0f} | {n['p99_ms']:.0f} | {row['speedup']:.1f}x |"
        )
    bad = [
        f"{name} x{row['concurrency']}: {row[name]['errors']} errors, {row[name]['refused_429']} x 429"
        for row in rows for name in ("ours", "naive") if row[name]["errors"] or row[name]["refused_429"]
    ]  # fmt: skip
    print("\nerrors / 429s: " + ("; ".join(bad) or "none"))
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "payload": PAYLOAD,
                    "seconds": args.seconds,
                    "workers": args.workers,
                    "cpu_count": os.cpu_count(),
                    "rows": rows,
                },
                indent=1,
            )  # fmt: skip
        )


if __name__ == "__main__":
    main()
