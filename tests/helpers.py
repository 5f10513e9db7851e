"""Helpers shared by several test modules, so no test module imports another (the sandbox's own are in
tests/sandbox_helpers.py)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from coder_rl.data import Problem
from coder_rl.mcts import Tree, backup
from coder_rl.policy.base import Completion
from pseudocode import Action, Step
from sandbox import StdioCase

if TYPE_CHECKING:
    from coder_rl.policy.hf import HFPolicy
    from coder_rl.verify import Verifier

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


# ---------------------------------------------------------------- a real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(verifier: Verifier, **settings) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread, around the shared verifier."""
    import uvicorn

    from coder_rl.serve import ServeConfig, create_app

    cfg = ServeConfig(port=free_port(), verifier=verifier.cfg, **settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(cfg, verifier), host="127.0.0.1", port=cfg.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{cfg.port}"
    finally:
        server.should_exit = True
        thread.join(30)
