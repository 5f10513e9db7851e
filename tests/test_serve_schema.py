"""Schemathesis against a live `coder-rl serve` (real HTTP on 127.0.0.1, TCG and PRM loaded): requests
generated from the server's own OpenAPI schema, valid and invalid, never get a 5xx, and every response
is one the schema declares (status code, content type and body).

Bounded: 25 generated requests per operation and mode, derandomized, no shrinking (a failure prints its
curl command), fuzzing only (schemathesis's coverage phase, boundary values such as 64 programs x 256
tests, is not run). The operations are listed here and checked against the live schema rather than
collected with `schemathesis.pytest.from_fixture`, which fails on pytest 9.2 (it sets `node._nodeid`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from coder_rl.prm.model import init_prm  # noqa: E402

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25
# Every request valid by the schema must be accepted (positive_data_acceptance), none may get a 5xx.
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
    positive_data_acceptance,
]  # fmt: skip
CONFIG = {"request-timeout": 120}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`coder-rl serve` in a subprocess with the tiny model as TCG and a tiny PRM, short sandbox limits and
    room for every sequential request (no 429); its log is shown if it dies."""
    work = tmp_path_factory.mktemp("serve-schema")
    # scoring at most 256 tokens of a trajectory, so that fuzzed 100k-character steps stay cheap
    prm = init_prm(tiny_model_dir, work / "prm", max_length=256)
    port = _free_port()
    sets = [
        "verifier.sandbox.workers=2", "verifier.sandbox.limits.time_s=1", "verifier.sandbox.limits.wall_s=3",
        "verifier.tcg_samples=1", "verifier.tcg_max_tokens=16", "verifier.device=cpu",
        "max_concurrency=64", "request_timeout_s=300", "graceful_shutdown_s=5",
    ]  # fmt: skip
    command = [
        sys.executable, "-m", "coder_rl.cli.main", "serve", "--port", str(port),
        "--tcg", str(tiny_model_dir), "--prm", str(prm), *[arg for s in sets for arg in ("--set", s)],
    ]  # fmt: skip
    log_path = work / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited {process.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not healthy in 180 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.25)
        health = httpx.get(f"{url}/health").json()
        assert health["tcg"] and health["prm"], health
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def api_schema(server_url: str):
    """The live server's own schema (`/openapi.json`); a 5xx serving it fails every test here."""
    response = httpx.get(f"{server_url}/openapi.json", timeout=30)
    assert response.status_code == 200, f"GET /openapi.json: {response.status_code} {response.text[:300]}"
    return schemathesis.openapi.from_url(
        f"{server_url}/openapi.json", config=schemathesis.Config.from_dict(CONFIG)
    )


def test_schema_lists_every_endpoint(api_schema) -> None:
    """A new endpoint must join OPERATIONS below, or it would go unfuzzed."""
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == {(method, path) for method, path, _ in OPERATIONS}


# (method, path, generation modes): GET endpoints take no input, so only valid requests exist for them.
OPERATIONS = [
    ("GET", "/health", ["positive"]),
    ("GET", "/metrics", ["positive"]),
    ("POST", "/v1/execute", ["positive", "negative"]),
    ("POST", "/v1/tests/generate", ["positive", "negative"]),
    ("POST", "/v1/verify", ["positive", "negative"]),
    ("POST", "/v1/score_steps", ["positive", "negative"]),
    ("POST", "/run_code", ["positive", "negative"]),
    ("GET", "/v1/ping", ["positive"]),
    ("POST", "/get_reward", ["positive", "negative"]),
]
# A label's meaning (TACO's input_output, or a known problem's id) is beyond a schema: a valid request may
# still name no tests, and gets a 400 saying so. Everything else is checked there too.
SEMANTIC = {"/get_reward"}


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(method, path, mode) for method, path, modes in OPERATIONS for mode in modes],
)
def test_no_server_error_and_schema_conformance(api_schema, method: str, path: str, mode: str) -> None:
    """Generated requests (valid ones, or each with something invalid) never get a 5xx, and every response
    is one the schema declares, in its content type and shape."""
    from schemathesis import GenerationMode

    strategy = api_schema[path][method].as_strategy(GenerationMode(mode))
    checks = [c for c in CHECKS if not (path in SEMANTIC and c is positive_data_acceptance)]

    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=strategy)
    def check(case) -> None:
        case.call_and_validate(checks=checks)

    check()
