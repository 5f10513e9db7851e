"""RL benchmarks on CPU: the reward of a GRPO batch and PRM scoring, each against a naive baseline in the
same run, then the seconds per step of GRPO and PPO with the tiny model.

    python scripts/bench_rl.py [--model runs/tiny-model] [--completions 64] [--steps 3] [--out bench-rl.json]

- reward: the outcome of `--completions` completions (half with a sample problem's reference, half
  with a wrong program), as one sandbox batch (`outcome_rewards`, the sandbox run inside `RewardScorer`),
  against the naive way: one `python` subprocess per test, one completion after another;
- PRM: step scores of `--completions` 3-step trajectories in length-sorted batches of 8 with the label
  rows of the LM head alone, against one trajectory at a time through the whole LM head;
- GRPO and PPO: `--steps` steps each, 4 completions of at most 64 tokens per step (GRPO: 1 prompt x
  4, PPO: 4 prompts x 1), model loading included (no baseline: the figure is the cost of a step on
  this machine, for scale).

Prints a Markdown table (the figures in the README come from it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stdin_problems():
    from coder_rl.data import DataConfig, load_problems

    problems = load_problems(DataConfig(dataset="sample")).require_problems()
    return [p for p in problems if p.kind == "stdin" and p.solutions]


def completions_for(problems, count: int):
    """(problem, completion) pairs: even ones hold the reference, odd ones a program that prints 0."""
    from pseudocode import Action, Step, format_steps

    pairs = []
    for i in range(count):
        problem = problems[(i // 2) % len(problems)]
        code = problem.solutions[0] if i % 2 == 0 else "print(0)"
        steps = [Step(Action.DEFINE, "read, solve, print"), Step(Action.GENERATE, f"```python\n{code}\n```")]
        pairs.append((problem, format_steps(steps)))
    return pairs


def naive_outcome(problem, completion: str) -> float:
    """TACO's way: write the program, run `python` once per test, compare the stripped output."""
    from coder_rl.trajectory import read_trajectory

    code = read_trajectory(completion).program
    passed = 0
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code or "")
    try:
        for case in problem.tests:
            try:
                run = subprocess.run(
                    [sys.executable, f.name], input=case.stdin, capture_output=True, text=True, timeout=4
                )
                passed += run.stdout.split() == case.expected_stdout.split()
            except subprocess.TimeoutExpired:
                pass
    finally:
        os.unlink(f.name)
    return passed / len(problem.tests)


def bench_reward(count: int) -> list[tuple[str, str, str]]:
    from coder_rl.rewards import RewardConfig, outcome_rewards
    from coder_rl.trajectory import read_trajectory
    from sandbox import Sandbox

    pairs = completions_for(stdin_problems(), count)
    problems, completions = [p for p, _ in pairs], [read_trajectory(c) for _, c in pairs]
    with Sandbox(backend="local", workers=2) as box:
        outcome_rewards(box, problems[:2], completions[:2], RewardConfig())  # warm-up
        start = time.perf_counter()
        ours = outcome_rewards(box, problems, completions, RewardConfig())
        batched = time.perf_counter() - start
    start = time.perf_counter()
    naive = [naive_outcome(p, c) for p, c in pairs]
    sequential = time.perf_counter() - start
    assert ours == naive, "the sandbox and the naive runner disagree"
    tests = sum(len(p.tests) for p in problems)
    return [
        (f"reward of a GRPO batch: {count} completions, {tests} tests, one sandbox batch",
         f"{batched:.2f} s ({count / batched:.1f} completions/s)", ""),
        ("baseline: one `python` subprocess per test, one completion after another",
         f"{sequential:.2f} s ({count / sequential:.1f} completions/s)", f"{sequential / batched:.1f}x slower"),
    ]  # fmt: skip


def naive_prm_scores(prm, items) -> list[list[float]]:
    """OpenR's way: each trajectory alone through the whole model, then the two label logits at its tags."""
    import torch

    from coder_rl.prm.model import build_input, step_scores

    out = []
    for prompt, steps in items:
        item = build_input(prm.tokenizer, prompt, steps, prm.tag_id, prm.max_length)
        with torch.no_grad():
            logits = prm.model(input_ids=torch.tensor([item.input_ids])).logits[0]
        out.append(step_scores(logits, item.tag_positions, prm.good_id, prm.bad_id).tolist())
    return out


def bench_prm(model: str, count: int, work: Path) -> list[tuple[str, str, str]]:
    from coder_rl.prm import PRM
    from coder_rl.prm.model import init_prm
    from pseudocode import Action, Step
    from pseudocode.prompts import problem_prompt

    problems = stdin_problems()
    items = [
        (problem_prompt(problems[i % len(problems)]),
         [Step(Action.DEFINE, "read the numbers"), Step(Action.REFINE, "sum them in one pass"),
          Step(Action.GENERATE, f"```python\n{problems[i % len(problems)].solutions[0]}\n```")])
        for i in range(count)
    ]  # fmt: skip
    path = str(init_prm(model, work / "prm"))
    prm = PRM(path, batch_size=8)
    prm.score_batch(items[:2])  # warm-up
    start = time.perf_counter()
    prm.score_batch(items)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    naive_prm_scores(prm, items)
    slow = time.perf_counter() - start
    return [
        (f"PRM step scores, {count} trajectories of 3 steps, length-sorted batches of 8, label rows only", f"{count / fast:.1f} trajectories/s", ""),
        ("baseline: one trajectory per forward pass, the whole vocabulary's logits", f"{count / slow:.1f} trajectories/s",
         f"{slow / fast:.1f}x slower"),
    ]  # fmt: skip


def bench_steps(model: str, steps: int, work: Path) -> list[tuple[str, str, str]]:
    from coder_rl.rl import RLConfig, run_rl

    rows = []
    for algorithm, section in (
        ("grpo", {"max_steps": steps, "per_device_train_batch_size": 4, "num_generations": 4,
                  "max_completion_length": 64, "save_steps": 1000}),
        ("ppo", {"max_steps": steps, "batch_size": 4, "mini_batch_size": 2, "num_ppo_epochs": 2,
                 "max_completion_length": 64, "save_steps": 1000}),
    ):  # fmt: skip
        cfg = RLConfig(
            algorithm=algorithm, data={"dataset": "sample", "limit": 4}, model=model, device="cpu",
            output_dir=str(work / algorithm), sandbox={"workers": 2}, **{algorithm: section},
        )  # fmt: skip
        start = time.perf_counter()
        run_rl(cfg)
        seconds = (time.perf_counter() - start) / steps
        shape = "1 prompt x 4 completions" if algorithm == "grpo" else "4 prompts x 1 completion"
        rows.append((f"{algorithm.upper()} step on CPU, tiny model, {shape}, <= 64 tokens (model load included)",
                     f"{seconds:.2f} s/step", ""))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/tiny-model")
    parser.add_argument("--completions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not (Path(args.model) / "config.json").is_file():
        from coder_rl.models import TinyModelConfig, build_tiny_model

        build_tiny_model(Path(args.model), TinyModelConfig())
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_reward(args.completions) + bench_prm(args.model, args.completions, Path(tmp))
        rows += bench_steps(args.model, args.steps, Path(tmp))
    print("| measurement | figure | note |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.out:
        args.out.write_text(
            json.dumps([dict(zip(("measurement", "figure", "note"), r, strict=True)) for r in rows], indent=1)
        )


if __name__ == "__main__":
    main()
