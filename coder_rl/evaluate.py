"""A policy's pass rate, as papers report it: n samples per problem in the RL prompt form, their programs
run on the tests, pass@1..k by the unbiased estimator (Chen et al. 2021), then by difficulty, verdict,
tokens, time and format. `coder-rl eval` runs it over a dataset and resumes; self-play and
`bench learning` report their pass rates with the same code (`pass_rate`), so the figures agree.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.execution import BatchRunner, SandboxConfig, open_sandbox
from coder_rl.integrations.scoring import NO_PROGRAM
from coder_rl.logs import output_to
from coder_rl.policy.base import Policy, PolicyConfig, SamplingParams
from coder_rl.rewards import RewardConfig, outcome, run_programs
from coder_rl.rundir import prepare_output, save_json, without
from coder_rl.trajectory import PromptConfig, PromptFormat, policy_prompt, read_completion
from pseudocode import fence

_FRACTION = RewardConfig(outcome="pass_fraction")


class PassRateConfig(Section):
    samples: int = Field(4, ge=1, description="completions per problem (n)")
    max_tokens: int = Field(512, ge=8)
    temperature: float = Field(0.8, ge=0, description="0: greedy (then one sample is enough)")
    seed: int = 0
    prompt: PromptConfig = PromptConfig()


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from n samples of which c pass (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k), the chance that k samples drawn without replacement hold a passing one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n and 0 <= c <= n (n={n}, c={c})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def judge_samples(
    box: BatchRunner,
    problems: Sequence[Problem],
    completions: Sequence[Sequence[tuple[str, int]]],
    format: PromptFormat = "steps",
) -> list[dict[str, Any]]:
    """One record per problem from its completions (text, tokens) in that prompt format: each sample's
    verdict, pass fraction (None: a sandbox fault), tokens and format, all programs in one sandbox batch."""
    trajectories = [read_completion(text, format) for group in completions for text, _ in group]
    repeated = [p for p, group in zip(problems, completions, strict=True) for _ in group]
    results = iter(run_programs(box, repeated, trajectories))
    formats = iter(t.well_formed for t in trajectories)
    records = []
    for problem, group in zip(problems, completions, strict=True):
        samples = []
        for _, tokens in group:
            result = next(results)
            samples.append({
                "verdict": result.verdict.value if result else NO_PROGRAM,
                "pass_fraction": outcome(result, _FRACTION), "tokens": tokens, "well_formed": next(formats),
            })  # fmt: skip
        records.append({"problem_id": problem.id, "difficulty": problem.difficulty, "samples": samples})
    return records


def sample_records(
    policy: Policy, problems: Sequence[Problem], box: BatchRunner, cfg: PassRateConfig
) -> list[dict[str, Any]]:
    """`cfg.samples` completions of every problem in one policy call, judged (`judge_samples`)."""
    params = SamplingParams(
        n=cfg.samples, max_tokens=cfg.max_tokens, temperature=cfg.temperature, seed=cfg.seed
    )
    groups = policy.generate([policy_prompt(p, cfg.prompt) for p in problems], params)
    texts = [[(c.text, c.num_tokens) for c in group] for group in groups]
    return judge_samples(box, problems, texts, cfg.prompt.format)


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """pass@1 (the share of samples whose program passes every test), pass@k for k = 1, 2, 4, ... up to
    the samples (the unbiased estimator, averaged over problems), the share of problems with a passing
    sample, the mean pass fraction, the share of well-formed completions, and the samples a sandbox
    fault left unjudged (`faults`: counted as not passing)."""
    flat = [s for r in records for s in r["samples"]]
    n = min((len(r["samples"]) for r in records), default=0)
    correct = [sum(s["pass_fraction"] == 1.0 for s in r["samples"]) for r in records]
    count, problems = max(len(flat), 1), max(len(records), 1)
    ks = [k for k in (2**j for j in range(n.bit_length())) if k <= n]
    return {
        "problems": len(records),
        "pass_at_1": sum(correct) / count,
        "pass_at": {str(k): sum(pass_at_k(n, c, k) for c in correct) / problems for k in ks},
        "solved": sum(c > 0 for c in correct) / problems,
        "pass_fraction": sum(s["pass_fraction"] or 0.0 for s in flat) / count,
        "format": sum(s["well_formed"] for s in flat) / count,
        "faults": sum(s["pass_fraction"] is None for s in flat),
    }


def breakdown(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Below the pass rate: pass@1 and problems by difficulty, samples by verdict, tokens, seconds, and
    the share of completions not in the expected format."""
    by_difficulty: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_difficulty[record["difficulty"] or "(none)"].append(record)
    flat = [s for r in records for s in r["samples"]]
    return {
        "by_difficulty": {
            name: {"problems": len(group), "pass_at_1": summarize(group)["pass_at_1"]}
            for name, group in sorted(by_difficulty.items())
        },
        "verdicts": dict(Counter(s["verdict"] for s in flat).most_common()),
        "mean_tokens": sum(s["tokens"] for s in flat) / max(len(flat), 1),
        "seconds": round(sum(r.get("seconds", 0.0) for r in records), 1),
        "format_failures": sum(not s["well_formed"] for s in flat) / max(len(flat), 1),
    }


def pass_rate(
    policy_cfg: PolicyConfig, problems: Sequence[Problem], box: BatchRunner, cfg: PassRateConfig
) -> dict[str, Any]:
    """`summarize` of every problem's samples, drawn in one policy call (self-play, `bench learning`)."""
    from coder_rl.policy import load_policy

    policy = load_policy(policy_cfg)
    try:
        return summarize(sample_records(policy, problems, box, cfg))
    finally:
        policy.close()


# ---------------------------------------------------------------- `coder-rl eval`


# What a rerun may change without changing a sample: which problems are asked for (the report reads those
# asked), throughput, and secrets (never written to the state file).
RESUME_MAY_CHANGE = (
    "problems_per_batch", "data.limit", "sandbox.workers", "policy.batch_size", "policy.max_concurrency",
    "policy.api_key",
)  # fmt: skip


class EvalConfig(Section):
    data: DataConfig = DataConfig()
    policy: PolicyConfig = PolicyConfig()
    eval: PassRateConfig = PassRateConfig()
    sandbox: SandboxConfig = SandboxConfig()
    output_dir: str = "runs/eval"
    problems_per_batch: int | None = Field(
        None, ge=1, description="problems sampled per policy call, each batch saved as it ends (default: all)"
    )
    reference: bool = Field(
        False,
        description="judge each problem's first reference solution instead of sampling (checks the data)",
    )


def run_eval(cfg: EvalConfig, progress: Any = None, quiet: bool = False) -> dict[str, Any]:
    """Sample, judge and summarize every problem, appending each batch's records to
    output_dir/samples.jsonl (a rerun skips the problems there), then write output_dir/eval.json.
    `progress(done, total)` is called after each batch; `quiet` sends the libraries' output (progress
    bars, warnings) to output_dir/eval.log."""
    from coder_rl.policy import load_policy

    log = Path(cfg.output_dir) / "eval.log" if quiet else None
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples_path = out / "samples.jsonl"
    problems = load_problems(cfg.data).require_problems()
    settings = without(cfg.model_dump(mode="json"), RESUME_MAY_CHANGE)
    done = prepare_output(samples_path, settings, "eval")
    todo = [p for p in problems if p.id not in done]
    size = cfg.problems_per_batch or max(len(todo), 1)
    with open_sandbox(cfg.sandbox) as box:
        with output_to(log):  # nothing left to sample (a rerun): no model to load
            policy = None if cfg.reference or not todo else load_policy(cfg.policy)
        try:
            for start in range(0, len(todo), size):
                batch, began = todo[start : start + size], time.perf_counter()
                if policy is None:
                    completions = [[(fence(p.solutions[0]) if p.solutions else "", 0)] for p in batch]
                    records = judge_samples(box, batch, completions, cfg.eval.prompt.format)
                else:
                    with output_to(log):
                        records = sample_records(policy, batch, box, cfg.eval)
                seconds = (time.perf_counter() - began) / len(batch)
                with samples_path.open("a", encoding="utf-8") as f:
                    for record in records:
                        f.write(json.dumps({**record, "seconds": round(seconds, 3)}) + "\n")
                if progress is not None:
                    progress(len(done) + start + len(batch), len(problems))
        finally:
            if policy is not None:
                policy.close()
    wanted = {p.id for p in problems}
    records = [r for r in read_records(out) if r["problem_id"] in wanted]
    report = {"source": str(cfg.data.path or cfg.data.dataset), **summarize(records), **breakdown(records)}
    save_json(out / "eval.json", report)
    return report


def eval_table(report: dict[str, Any]) -> str:
    """The report as Markdown: pass@k first, then what lies below it."""
    ks = " | ".join(f"pass@{k}" for k in report["pass_at"])
    values = " | ".join(f"{v:.3f}" for v in report["pass_at"].values())
    lines = [
        f"| problems | {ks} | solved | pass fraction | format failures | faults |",
        "|---|" + "---|" * (len(report["pass_at"]) + 4),
        f"| {report['problems']} | {values} | {report['solved']:.3f} | {report['pass_fraction']:.3f} "
        f"| {report['format_failures']:.3f} | {report['faults']} |",
        "",
        "| difficulty | problems | pass@1 |",
        "|---|---|---|",
        *(f"| {name} | {row['problems']} | {row['pass_at_1']:.3f} |" for name, row in report["by_difficulty"].items()),
        "",
        "verdicts: " + ", ".join(f"{v} {n}" for v, n in report["verdicts"].items())
        + f"; mean tokens {report['mean_tokens']:.1f}; {report['seconds']:g} s",
    ]  # fmt: skip
    return "\n".join(lines)


def read_records(output_dir: str | Path) -> list[dict[str, Any]]:
    """The per-problem records of an eval run (`output_dir/samples.jsonl`)."""
    with (Path(output_dir) / "samples.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def in_band(records: Sequence[dict[str, Any]], low: float, high: float) -> list[str]:
    """The problems a policy solves neither always nor never: low <= c/n <= high, c of its n judged
    samples passing (PRIME's difficulty filter keeps 0.2 to 0.8). A sample a fault left unjudged is not
    counted; a problem with none judged is not kept."""
    kept = []
    for record in records:
        judged = [s for s in record["samples"] if s["pass_fraction"] is not None]
        if judged and low <= sum(s["pass_fraction"] == 1.0 for s in judged) / len(judged) <= high:
            kept.append(record["problem_id"])
    return kept
