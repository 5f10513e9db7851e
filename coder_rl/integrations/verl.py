"""A veRL reward module, loaded by veRL's own `custom_reward_function` loader:

    reward:
      custom_reward_function:
        path: pkg://coder_rl.integrations.verl
        name: compute_score          # or compute_score_async
        reward_kwargs: {}            # or {url: http://HOST:8000} for a `coder-rl serve`; {workers: 4} and
                                     # {python: /path/bin/python} for the sandbox this process starts;
                                     # {format: chat} for a chat model's answers (reasoning, then code)

`ground_truth` is TACO's `input_output` (JSON text or object, stdin or call-based), as veRL's code
datasets carry it, and is judged natively: call-based tests call the function with its arguments and
compare the value (veRL's own SandboxFusion path sends `str(args)` as stdin and scores those 0). The
program is the last fenced block of `solution_str` after its reasoning (`format: chat`), or its last
generate step (coder-rl's pseudocode-step format, the default, which falls back on the last fenced
block). The answer is a dict with the same keys for every sample, as veRL's reward loop
needs: `score`, `pass_fraction`, and a count per verdict.

It scores on a sandbox this process owns for the whole run (started at the first call, stopped at exit),
or, with `url`, on a `coder-rl serve` through its `/get_reward`. Either way the reward is the one `rl run`
trains with (`coder_rl.integrations.scoring`).

Why no reward manager of our own: veRL 0.9 scores each sample in one of 8 reward-loop workers, and only
a manager registered in veRL's code takes a batch. A sandbox's warm workers already run concurrent calls
in parallel, so one call per sample loses little; the async form lets one worker keep many in flight.

A sandbox fault is retried (the sandbox retries on a fresh worker, then this module twice more). veRL has
no "no reward": a None or NaN score would reach the advantages. So a fault that persists raises
`SandboxFault` and stops the step, rather than hand veRL a forged 0.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

from coder_rl.errors import UserError
from coder_rl.integrations.scoring import Judged, label_problem, local_scorer, verdict_counts
from coder_rl.trajectory import PromptFormat

ATTEMPTS = 3  # scorings of a sample before a persistent fault is raised


class SandboxFault(RuntimeError):
    """A sample could not be judged: the sandbox failed on it every time, for reasons of its own."""


def compute_score(
    data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None, *, url: str | None = None,
    api_key: str | None = None, workers: int | None = None, python: str | None = None, timeout_s: float = 300.0,
    format: PromptFormat = "steps", **_: Any,
) -> dict[str, Any]:  # fmt: skip
    """veRL's `compute_score`: the reward of one response and what to log beside it."""
    for _attempt in range(ATTEMPTS):
        if url:
            if format != "steps":  # the server reads answers as its reward.format says
                raise UserError("reward_kwargs.format is the server's reward.format when url is set")
            answer = _remote(url, api_key, solution_str, ground_truth, timeout_s)
        else:
            problem = label_problem(ground_truth)
            answer = _answer(local_scorer(workers, python, format).score([problem], [solution_str])[0])
        if answer is not None:
            return answer
    raise SandboxFault(f"a {data_source} sample hit a sandbox fault {ATTEMPTS} times; see the sandbox's logs")


async def compute_score_async(
    data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """The same, for veRL's async reward loop: the sandbox run waits in a thread, not on the loop."""
    return await asyncio.to_thread(
        compute_score, data_source, solution_str, ground_truth, extra_info, **kwargs
    )


def _answer(judged: Judged) -> dict[str, Any] | None:
    """veRL's dict (None for a fault, to be retried)."""
    if judged.reward is None:
        return None
    return {"score": judged.reward, "pass_fraction": judged.pass_fraction, **verdict_counts(judged)}


def _remote(
    url: str, api_key: str | None, solution: str, label: Any, timeout_s: float
) -> dict[str, Any] | None:
    """The sample scored by a coder-rl server's /get_reward; None on its 503 for a sandbox fault. A busy
    server (429) or a passed deadline (504) is asked again, a second later, until `timeout_s` is spent."""
    body = json.dumps({"query": [solution], "prompts": [""], "labels": [label]}).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url.rstrip("/") + "/get_reward", body, headers, method="POST")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                answer = json.loads(response.read())
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 503:
                return None
            if exc.code not in (429, 504) or time.monotonic() > deadline:
                raise RuntimeError(
                    f"coder-rl server at {url}: HTTP {exc.code}: {exc.read()[:300]!r}"
                ) from None
            time.sleep(1.0)
    logs = answer["extra_logs"]
    counts = {key: int(values[0]) for key, values in logs.items() if key.startswith("verdict/")}
    return {"score": answer["rewards"][0], "pass_fraction": logs["pass_fraction"][0], **counts}
