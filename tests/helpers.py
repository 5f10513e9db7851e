"""Helpers shared by several test modules (one place, so no test module imports another)."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from coder_rl.data import Problem
from coder_rl.mcts import Tree, backup
from coder_rl.policy.base import Completion
from pseudocode import Action, Step
from sandbox import Limits, Sandbox, StdioCase, TestResult, Verdict

if TYPE_CHECKING:
    from coder_rl.policy.hf import HFPolicy

# ---------------------------------------------------------------- the `coder-rl` command, run as users run it

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coder_rl.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.stderr


# ---------------------------------------------------------------- data

TACO_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "taco_sample" / "train.jsonl"


# ---------------------------------------------------------------- sandbox: one test's verdict, the box's health, processes


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


# ---------------------------------------------------------------- policies


def greedy_alone(policy: HFPolicy, prompt: str, max_tokens: int) -> tuple[list[int], float]:
    """Greedy token ids of `prompt` generated on its own, and the smallest top-2 logit gap on the way."""
    import torch

    batch = policy.tokenizer(prompt, return_tensors="pt")
    out = policy.model.generate(
        **batch, do_sample=False, max_new_tokens=max_tokens, return_dict_in_generate=True, output_logits=True
    )
    top2 = torch.stack(out.logits)[:, 0].float().topk(2).values
    return out.sequences[0, batch["input_ids"].shape[1] :].tolist(), (top2[:, 0] - top2[:, 1]).min().item()


def tie_free(policy: HFPolicy, prompts: list[str], max_tokens: int) -> list[str]:
    """The prompts whose greedy completion never has its top two logits within 1e-3 of each other.

    Padding or another batch shape moves logits by float noise (~1e-6): enough to flip the greedy choice
    at a near tie, after which two runs part ways. Greedy runs of these prompts cannot, so they may be
    compared exactly. Which prompts qualify depends on the trained weights, so it is checked, not assumed.
    """
    return [p for p in prompts if greedy_alone(policy, p, max_tokens)[1] >= 1e-3]


# ---------------------------------------------------------------- search


def small_tree():
    """root -> A, B (define); A -> A1 (reward 1), A2 (reward 0); B -> B1 (reward 0.5); one backup each."""
    tree = Tree()
    a = tree.add_child(tree.root, Step(Action.DEFINE, "a"), prior=0.75)
    b = tree.add_child(tree.root, Step(Action.DEFINE, "b"), prior=0.25)
    a1 = tree.add_child(a, Step(Action.GENERATE, "print(1)"), prior=0.5)
    a2 = tree.add_child(a, Step(Action.GENERATE, "print(2)"), prior=0.5)
    b1 = tree.add_child(b, Step(Action.GENERATE, "print(3)"))
    for leaf, reward in ((a1, 1.0), (a2, 0.0), (b1, 0.5)):
        leaf.terminal, leaf.reward = True, reward
        backup(leaf, reward)
    return tree, a, b, a1, a2, b1


PROBLEM = Problem(
    id="double",
    question="Print twice the integer on the input.",
    tests=[StdioCase("2\n", "4\n"), StdioCase("5\n", "10\n")],
    solutions=["print(2 * int(input()))"],
)


class ScriptedPolicy:
    """Writes steps from a script keyed by the requested action and what the steps so far contain:
    one plan leads to a correct program, the others to wrong ones. Records every call."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.counter = 0

    def generate(self, prompts, params):
        self.calls.append(len(prompts))
        return [[self._complete(prompt)] for prompt in prompts]

    def _complete(self, prompt: str) -> Completion:
        self.counter += 1
        action = re.search(r'<step action="(\w+)">\n$', prompt).group(1)
        trajectory = prompt.split("### Steps", 1)[1]
        if action == "define":
            plan = ["plan: double the number", "plan: add one", "plan: square it"][self.counter % 3]
            text = plan
        elif action == "refine":
            text = "read n, then compute"
        else:
            good = "double the number" in trajectory
            text = (
                "```python\n" + ("print(2 * int(input()))" if good else "print(int(input()) + 1)") + "\n```"
            )
        return Completion(text + "\n</step>", num_tokens=5, finish_reason="stop", token_logprobs=[-0.5] * 5)

    def close(self) -> None:
        pass
