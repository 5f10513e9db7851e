"""`coder-rl model generate`: sample completions for a dataset's problems with any policy backend.

Output is JSONL, one line per problem, appended as each batch finishes and resumable (see
`coder_rl.rundir`): the sidecar records the policy and sampling settings.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.policy.base import PolicyConfig, SamplingParams
from coder_rl.prompts import CODE_FENCE_STOP, code_prompt
from coder_rl.rundir import prepare_output


class CodeSamplingParams(SamplingParams):
    """Sampling for whole programs: by default the completion ends where the model closes the code block."""

    stop: list[str] = Field(default_factory=lambda: [CODE_FENCE_STOP])


class GenerateOutputSection(Section):
    path: str = "runs/generate/completions.jsonl"
    problems_per_call: int = Field(8, ge=1, description="problems sent to the policy in one generate() call")


class GenerateConfig(Section):
    data: DataConfig = DataConfig()
    policy: PolicyConfig = PolicyConfig()
    sampling: CodeSamplingParams = CodeSamplingParams()
    output: GenerateOutputSection = GenerateOutputSection()


@dataclass
class GenerateSummary:
    problems: int
    resumed: int
    completions: int
    tokens: int
    seconds: float  # generation only, model loading excluded
    data_report: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def run_generate(cfg: GenerateConfig, show_progress: bool = True) -> GenerateSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from coder_rl.policy import load_policy

    report = load_problems(cfg.data)
    problems = report.require_problems()
    out = Path(cfg.output.path)
    done = _prepare_output(out, cfg)
    todo = [p for p in problems if p.id not in done]
    resumed = len(problems) - len(todo)
    tokens = completions = 0
    if not todo:
        return GenerateSummary(0, resumed, 0, 0, 0.0, report.summary())
    policy = load_policy(cfg.policy)
    progress = Progress(
        TextColumn("generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
        disable=not show_progress,
    )
    start = time.perf_counter()
    try:
        with progress, out.open("a", encoding="utf-8") as f:
            task = progress.add_task("generate", total=len(todo), rate="")
            step = cfg.output.problems_per_call
            for i in range(0, len(todo), step):
                chunk = todo[i : i + step]
                results = policy.generate([code_prompt(p) for p in chunk], cfg.sampling)
                for problem, samples in zip(chunk, results, strict=True):
                    record = {
                        "problem_id": problem.id,
                        "prompt_tokens": samples[0].prompt_tokens if samples else 0,
                        "completions": [
                            {
                                "text": c.text,
                                "num_tokens": c.num_tokens,
                                "finish_reason": c.finish_reason,
                                "logprob": c.logprob,
                            }
                            for c in samples
                        ],
                    }
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
                    tokens += sum(c.num_tokens for c in samples)
                    completions += len(samples)
                f.flush()
                elapsed = time.perf_counter() - start
                progress.update(task, advance=len(chunk), rate=f"{tokens / max(elapsed, 1e-9):.0f} tok/s")
    finally:
        policy.close()
    return GenerateSummary(
        len(todo), resumed, completions, tokens, time.perf_counter() - start, report.summary()
    )


def _prepare_output(out: Path, cfg: GenerateConfig) -> set[str]:
    """Check or write the settings sidecar; return the problem ids the output already holds."""
    # What decides the samples; throughput knobs (batch sizes, concurrency, timeouts) may change on resume.
    settings = {
        "policy": cfg.policy.model_dump(include={"backend", "model", "dtype"}),
        "sampling": cfg.sampling.model_dump(),
    }
    return prepare_output(out, settings, "model generate")
