"""`coder-rl mcts synthesize`: search every problem of a dataset and write step-labelled data.

Problems are searched `problems_per_shard` at a time (they share each policy call and sandbox
batch). Each finished group becomes one shard of every output, written whole and then listed in
`manifest.json`, so a rerun skips finished problems and a `kill -9` loses only the group in flight.
A failure while searching a group (a policy timeout, say) is recorded on its problems, which are
written with their error, and the run goes on.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.errors import first_line
from coder_rl.execution import SandboxConfig, open_sandbox
from coder_rl.mcts.exports import correct_paths, journey, step_preferences, trajectories
from coder_rl.mcts.search import MCTSConfig, ProblemSearch, search
from coder_rl.mcts.tree import node_record
from coder_rl.policy.base import Completion, Policy, PolicyConfig, SamplingParams
from coder_rl.rundir import claim, save_json, without
from coder_rl.trajectory import PromptConfig, step_search_format
from sandbox import ProgramResult, Sandbox, TestCase
from tcg.reward_tests import RewardTestsConfig, with_reward_tests

OUTPUTS = ("trees", "trajectories", "correct", "preferences", "journeys")


class StepSamplingParams(SamplingParams):
    max_tokens: int = 256
    temperature: float = 0.8


class SynthesizeOutputSection(Section):
    problems_per_shard: int = Field(
        8, ge=1, description="problems searched together, and written as one shard"
    )
    label_threshold: float = Field(0.5, ge=0, le=1)
    label_rule: str = Field("any_correct", pattern="^(any_correct|threshold)$")
    preference_gap: float = Field(0.5, gt=0, le=1)


class RaySection(Section):
    actors: int = Field(
        0, ge=0, description="0: search here; N: N Ray actors, each with a policy and a sandbox"
    )
    address: str | None = Field(None, description="a running cluster ('auto'); none starts one on 127.0.0.1")


class SynthesizeConfig(Section):
    data: DataConfig = DataConfig()
    prompt: PromptConfig = PromptConfig()
    ray: RaySection = RaySection()
    tests: RewardTestsConfig = RewardTestsConfig()
    policy: PolicyConfig = PolicyConfig()
    sampling: StepSamplingParams = StepSamplingParams()
    mcts: MCTSConfig = MCTSConfig()
    sandbox: SandboxConfig = SandboxConfig()
    output_dir: str = "runs/mcts"
    output: SynthesizeOutputSection = SynthesizeOutputSection()


class CountingPolicy:
    """The policy, counting calls, tokens and seconds."""

    def __init__(self, policy: Policy) -> None:
        self.policy, self.calls, self.tokens, self.seconds = policy, 0, 0, 0.0

    def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        start = time.perf_counter()
        try:
            results = self.policy.generate(prompts, params)
        finally:
            self.seconds += time.perf_counter() - start
        self.calls += 1
        self.tokens += sum(c.num_tokens for samples in results for c in samples)
        return results

    def close(self) -> None:
        self.policy.close()


class TimedSandbox:
    """The sandbox, timing its batches (a `BatchRunner`)."""

    def __init__(self, box: Sandbox) -> None:
        self.box, self.seconds = box, 0.0

    def run_batch(
        self, batch: Sequence[tuple[str, Sequence[TestCase]]], *, fail_fast: bool | None = None
    ) -> list[ProgramResult]:
        start = time.perf_counter()
        try:
            return self.box.run_batch(batch, fail_fast=fail_fast)
        finally:
            self.seconds += time.perf_counter() - start


@dataclass
class Report:
    problems: int = 0
    resumed: int = 0
    solved: int = 0
    failed: int = 0  # problems whose search raised
    seconds: float = 0.0
    policy_calls: int = 0
    tokens: int = 0
    policy_seconds: float = 0.0
    sandbox_seconds: float = 0.0
    labels: Counter = field(default_factory=Counter)  # step hard labels: "correct" / "incorrect"

    def to_dict(self) -> dict[str, Any]:
        searched = max(self.problems, 1)
        steps = sum(self.labels.values())
        return {
            "problems": self.problems,
            "resumed": self.resumed,
            "solve_rate": self.solved / searched,
            "failed": self.failed,
            "problems_per_s": self.problems / self.seconds if self.seconds else 0.0,
            "policy_calls_per_problem": self.policy_calls / searched,
            "tokens_per_problem": self.tokens / searched,
            "policy_time_share": self.policy_seconds / self.seconds if self.seconds else 0.0,
            "sandbox_time_share": self.sandbox_seconds / self.seconds if self.seconds else 0.0,
            "step_labels": dict(self.labels),
            "correct_step_share": self.labels["correct"] / steps if steps else 0.0,
        }


class GroupSearcher:
    """A policy and a sandbox that search one group of problems at a time: in this process, or as a
    Ray actor on any node of a cluster (`ray.actors > 0`)."""

    def __init__(self, cfg: SynthesizeConfig) -> None:
        from coder_rl.policy import load_policy

        self.cfg = cfg
        self.policy = CountingPolicy(load_policy(cfg.policy))
        self._box = open_sandbox(cfg.sandbox)
        self.sandbox = TimedSandbox(self._box)

    def run(self, group: list[Problem]) -> tuple[list[ProblemSearch], str | None, dict[str, float]]:
        """The searched group, the error that stopped it (recorded, not raised), and usage counters."""
        calls, tokens = self.policy.calls, self.policy.tokens
        policy_seconds, sandbox_seconds = self.policy.seconds, self.sandbox.seconds
        try:
            group = with_reward_tests(group, self.cfg.tests, self.cfg.policy.backend, self.cfg.policy.device)
            states, error = (
                search(self.policy, self.sandbox, group, self.cfg.mcts, self.cfg.sampling, self.cfg.prompt),
                None,
            )
        except Exception as exc:  # a policy timeout, a dead server: recorded, the run goes on
            states, error = (
                [ProblemSearch(p) for p in group],
                f"{type(exc).__name__}: {first_line(exc)}"[:300],
            )
        usage = {
            "policy_calls": self.policy.calls - calls,
            "tokens": self.policy.tokens - tokens,
            "policy_seconds": self.policy.seconds - policy_seconds,
            "sandbox_seconds": self.sandbox.seconds - sandbox_seconds,
        }
        return states, error, usage

    def close(self) -> None:
        self.policy.close()
        self._box.close()


def searched_groups(
    cfg: SynthesizeConfig, groups: list[list[Problem]]
) -> Iterator[tuple[list[ProblemSearch], str | None, dict[str, float]]]:
    """Each group's results, as they finish: in order here, in completion order over Ray actors."""
    if not cfg.ray.actors:
        searcher = GroupSearcher(cfg)
        try:
            yield from map(searcher.run, groups)
        finally:
            searcher.close()
        return
    import ray

    owns_ray = not ray.is_initialized()
    if owns_ray:
        local = {"_node_ip_address": "127.0.0.1"} if cfg.ray.address is None else {}
        ray.init(address=cfg.ray.address, include_dashboard=False, log_to_driver=False, **local)
    remote = ray.remote(num_cpus=0, scheduling_strategy="SPREAD")(GroupSearcher)
    actors = [remote.remote(cfg) for _ in range(cfg.ray.actors)]
    try:
        pending, idle, queue = {}, list(actors), list(groups)
        while queue or pending:
            while queue and idle:  # keep every actor busy with one group
                actor = idle.pop()
                pending[actor.run.remote(queue.pop(0))] = actor
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            idle.append(pending.pop(ready))
            yield ray.get(ready)
    finally:
        for actor in actors:
            ray.kill(actor)
        if owns_ray:
            ray.shutdown()


def run_synthesize(cfg: SynthesizeConfig, show_progress: bool = True) -> Report:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    step_search_format(cfg.prompt, "mcts synthesize")
    problems = load_problems(cfg.data).require_problems()
    cfg.tests.check()
    out = Path(cfg.output_dir)
    manifest = _manifest(out, cfg)
    done = {pid for shard in manifest["shards"] for pid in shard["problems"]}
    todo = [p for p in problems if p.id not in done]
    report = Report(problems=len(todo), resumed=len(problems) - len(todo))
    if not todo:
        return report
    size = cfg.output.problems_per_shard
    groups = [todo[first : first + size] for first in range(0, len(todo), size)]
    start = time.perf_counter()
    progress = Progress(
        TextColumn("mcts"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
        disable=not show_progress,
    )  # fmt: skip
    with progress:
        task = progress.add_task("mcts", total=len(todo), status="")
        for states, error, usage in searched_groups(cfg, groups):
            _write_shard(out, manifest, states, cfg, error, report)
            report.failed += len(states) if error else 0
            report.solved += sum(s.solved for s in states)
            report.policy_calls += int(usage["policy_calls"])
            report.tokens += int(usage["tokens"])
            report.policy_seconds += usage["policy_seconds"]
            report.sandbox_seconds += usage["sandbox_seconds"]
            report.seconds = time.perf_counter() - start
            rate = report.tokens / max(report.seconds, 1e-9)
            progress.update(task, advance=len(states), status=f"solved {report.solved} · {rate:.0f} tok/s")
    report.seconds = time.perf_counter() - start
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
    return report


def _manifest(out: Path, cfg: SynthesizeConfig) -> dict[str, Any]:
    """Read or start the manifest; a run with other settings is refused, not mixed in."""
    settings = cfg.model_dump(mode="json", include={"data", "tests", "policy", "sampling", "mcts", "output"})
    settings["policy"] = {k: settings["policy"][k] for k in ("backend", "model", "dtype")}
    settings = without(settings, ["output.problems_per_shard"])  # a throughput knob: may change on resume
    return claim(out / "manifest.json", settings, "use another output_dir or remove it", shards=[])


def _write_shard(
    out: Path, manifest: dict[str, Any], states: list[ProblemSearch], cfg: SynthesizeConfig, error: str | None,
    report: Report,
) -> None:  # fmt: skip
    """Write every output's lines for these problems, then list the shard: all or nothing."""
    name = f"{len(manifest['shards']):05d}"
    lines: dict[str, list[dict[str, Any]]] = {kind: [] for kind in OUTPUTS}
    rule = cfg.output.label_rule
    for state in states:
        problem, root = state.problem, state.tree.root
        lines["trees"].append(
            {
                "problem_id": problem.id,
                "rollouts": state.rollouts,
                "solved": state.solved,
                "errors": dict(state.errors),
                "error": error,
                "nodes": [node_record(n) for n in root.walk()],
            }
        )
        records = trajectories(problem, root, cfg.output.label_threshold, rule)  # type: ignore[arg-type]
        lines["trajectories"] += records
        report.labels.update("correct" if label else "incorrect" for r in records for label in r["labels"])
        lines["correct"] += correct_paths(problem, root)
        lines["preferences"] += step_preferences(problem, root, cfg.output.preference_gap)
        trace = journey(problem, root)
        lines["journeys"] += [trace] if trace else []
    for kind, records in lines.items():
        directory = out / kind
        directory.mkdir(exist_ok=True)
        tmp = directory / f"{name}.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        tmp.replace(directory / f"{name}.jsonl")
    manifest["shards"].append({"name": name, "problems": [s.problem.id for s in states]})
    save_json(out / "manifest.json", manifest)
