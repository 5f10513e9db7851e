"""`coder-rl search`: inference-time search, and the test-time scaling curve it draws.

For each group of problems, each method and each budget N: generate candidates (`candidates.py`),
measure what selection may use (their behaviour and pass vectors on the selection tests, the PRM's
scores), let each aggregation pick one (`select.py`), and run the pick on the problem's own tests,
which nothing before this step sees (hidden). The selection tests are the TCG's, written from the
statement when a TCG is loaded, else none (a `Problem` does not tell public tests from hidden ones).

Outputs, under `output_dir`: `rows.jsonl` (one record per problem, appended as groups finish: a rerun
with the same settings resumes), `results.json` (accuracy and mean tokens per method × aggregation ×
budget, plus the per-problem records) and `scaling.png` (accuracy against tokens generated, one line
per method and aggregation, as in OpenR's figure). The `oracle` line counts a problem when any
candidate passes: the ceiling of every aggregation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.mcts.search import MCTSConfig
from coder_rl.policy.base import Policy, PolicyConfig, SamplingParams
from coder_rl.rundir import prepare_output
from coder_rl.search.candidates import BeamConfig, Generation, Method, beam_search, best_of_n, mcts, merge
from coder_rl.search.select import NEEDS_PRM, AggregationName, Evidence, behaviour, pick
from coder_rl.trajectory import PromptConfig
from coder_rl.verify import Candidate, Verifier, VerifierConfig, as_steps
from sandbox import TestCase, all_passed

METHODS: list[Method] = ["best_of_n", "beam", "mcts"]
ALL_AGGREGATIONS: list[AggregationName] = [
    "majority_vote", "codet", "orm_max", "orm_vote", "prm_min_max", "prm_last_max", "prm_min_vote", "prm_last_vote",
]  # fmt: skip


class SearchSamplingSection(Section):
    max_tokens: int = Field(512, ge=8, description="a whole completion (best-of-N)")
    step_max_tokens: int = Field(256, ge=8, description="one step (beam search, MCTS)")
    temperature: float = Field(0.8, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = 0

    def whole(self) -> SamplingParams:
        return SamplingParams(
            max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p, seed=self.seed
        )

    def step(self) -> SamplingParams:
        return self.whole().model_copy(update={"max_tokens": self.step_max_tokens})


class SearchConfig(Section):
    data: DataConfig = DataConfig()
    prompt: PromptConfig = PromptConfig()
    policy: PolicyConfig = PolicyConfig()
    sampling: SearchSamplingSection = SearchSamplingSection()
    methods: list[Method] = Field(default_factory=lambda: list(METHODS), min_length=1)
    aggregations: list[AggregationName] = Field(default_factory=lambda: list(ALL_AGGREGATIONS), min_length=1)
    budgets: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [1, 2, 4, 8],
        min_length=1,
        description="N: samples, beam expansions or rollouts",
    )
    beam: BeamConfig = BeamConfig()
    mcts: MCTSConfig = Field(MCTSConfig(), description="the search's settings; rollouts is the budget")
    generated_tests: int = Field(
        4, ge=0, description="selection tests asked of the TCG per sample (verifier.tcg_model); 0: none"
    )
    problems_per_batch: int = Field(
        8, ge=1, description="problems searched together (one policy call a round)"
    )
    verifier: VerifierConfig = VerifierConfig()
    output_dir: str = "runs/search"

    @field_validator("methods", "aggregations", "budgets")
    @classmethod
    def _unique(cls, value: list[Any]) -> list[Any]:
        return list(dict.fromkeys(value))  # first occurrence wins, order kept

    @field_validator("budgets")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        return sorted(value)


def resolved(cfg: SearchConfig) -> SearchConfig:
    """The config as it will run, checked for what it asks but cannot have, before any model loads. A
    copy: `cfg` itself is left as given."""
    cfg.verifier.check_models()
    # The defaults keep what can run (`coder-rl search --dataset sample` just runs); what the config asked
    # for by name is an error instead. Beam search and MCTS ask for one step at a time: the steps format.
    unusable = [] if cfg.prompt.format == "steps" else ["beam", "mcts"]
    if not cfg.verifier.prm:
        unusable.append("beam")
    update: dict[str, Any] = {}
    if "methods" not in cfg.model_fields_set:
        update["methods"] = [m for m in cfg.methods if m not in unusable]
    stepwise = [m for m in update.get("methods", cfg.methods) if m in ("beam", "mcts")]
    if cfg.prompt.format != "steps" and stepwise:
        raise UserError(
            f"methods {', '.join(stepwise)} search step by step, which needs prompt.format steps; "
            f"with {cfg.prompt.format} prompts use best_of_n"
        )
    if cfg.verifier.prm:
        return cfg.model_copy(update=update)
    if "aggregations" not in cfg.model_fields_set:
        update["aggregations"] = [a for a in cfg.aggregations if a not in NEEDS_PRM]
    runs = cfg.model_copy(update=update)
    needs = (["method beam"] if "beam" in runs.methods else []) + [
        f"aggregation {name}" for name in runs.aggregations if name in NEEDS_PRM
    ]
    if needs:
        raise UserError(
            f"{', '.join(needs)} need{'s' if len(needs) == 1 else ''} a PRM: set verifier.prm to a model "
            "from `coder-rl prm train`, or leave them out of methods/aggregations"
        )
    return runs


def run_search(cfg: SearchConfig, show_progress: bool = True) -> dict[str, Any]:
    """Search every problem (resuming `output_dir/rows.jsonl`), then write results.json and scaling.png."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cfg = resolved(cfg)
    problems = [p for p in load_problems(cfg.data).require_problems() if p.tests]
    if not problems:
        raise UserError("no problem has tests to measure the selected programs on")
    out = Path(cfg.output_dir)
    rows_path = out / "rows.jsonl"
    settings = cfg.model_dump(
        mode="json", exclude={"data": True, "output_dir": True, "problems_per_batch": True,
                              "verifier": {"sandbox": {"workers"}}, "policy": {"batch_size"}}
    )  # fmt: skip
    done = prepare_output(rows_path, settings, "search")
    todo = [p for p in problems if p.id not in done]
    if todo:
        from coder_rl.policy import load_policy

        verifier = Verifier(cfg.verifier)
        try:
            policy = load_policy(cfg.policy)
            try:
                progress = Progress(
                    TextColumn("search {task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=not show_progress,
                )  # fmt: skip
                with progress, rows_path.open("a") as rows:
                    task = progress.add_task("", total=len(todo) * len(cfg.methods) * len(cfg.budgets))
                    for start in range(0, len(todo), cfg.problems_per_batch):
                        group = todo[start : start + cfg.problems_per_batch]
                        for record in search_group(cfg, policy, verifier, group, progress, task):
                            rows.write(json.dumps(record) + "\n")
                        rows.flush()
            finally:
                policy.close()
        finally:
            verifier.close()
    wanted = {p.id: i for i, p in enumerate(problems)}
    records = sorted(
        (r for r in map(json.loads, rows_path.read_text().splitlines()) if r["problem_id"] in wanted),
        key=lambda r: wanted[r["problem_id"]],
    )
    results = {
        "problems": len(records),
        "selection_tests": "generated" if cfg.verifier.tcg_model and cfg.generated_tests else "none",
        "methods": cfg.methods,
        "aggregations": cfg.aggregations,
        "budgets": cfg.budgets,
        "table": summarize(records, cfg.methods, cfg.aggregations, cfg.budgets),
        "per_problem": records,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "scaling.png")
    return results


def search_group(
    cfg: SearchConfig, policy: Policy, verifier: Verifier, group: list[Problem], progress: Any, task: Any
) -> list[dict[str, Any]]:
    """One record per problem: every method at every budget, and what each aggregation picked."""
    progress.update(task, description="selection tests")
    selection = [selection_tests(cfg, verifier, p) for p in group]
    judge = Judge(verifier, group, selection)
    records = [
        {"problem_id": p.id, "selection_tests": len(tests), "runs": []}
        for p, tests in zip(group, selection, strict=True)
    ]
    for method in cfg.methods:
        progress.update(task, description=method)
        for budget, generations in generate(cfg, method, policy, verifier, group, selection):
            for i, generation in enumerate(generations):
                records[i]["runs"].append(judge.record(i, method, budget, generation, cfg.aggregations))
            progress.advance(task, len(group))
    return records


def selection_tests(cfg: SearchConfig, verifier: Verifier, problem: Problem) -> list[TestCase]:
    """The tests selection (and MCTS's reward) may use: the TCG's, never the problem's own."""
    if not verifier.has_tcg or not cfg.generated_tests:
        return []
    return verifier.generate_tests(problem, cfg.generated_tests)


def generate(
    cfg: SearchConfig,
    method: Method,
    policy: Policy,
    verifier: Verifier,
    group: list[Problem],
    selection: list[list[TestCase]],
) -> Iterator[tuple[int, list[Generation]]]:
    """(budget, one Generation per problem) for every budget, smallest first."""
    if method == "best_of_n":  # the first k samples of the largest budget are best-of-k
        samples = best_of_n(policy, group, cfg.budgets[-1], cfg.sampling.whole(), cfg.prompt)
        for budget in cfg.budgets:
            yield budget, [merge(s[:budget]) for s in samples]
        return
    step = cfg.sampling.step()
    if method == "mcts":  # one search, its tree read after each budget's rollouts
        yield from mcts(policy, verifier, group, selection, cfg.budgets, cfg.mcts, step, cfg.prompt)
        return
    for budget in cfg.budgets:
        yield budget, beam_search(policy, verifier.score_steps, group, budget, cfg.beam, step, cfg.prompt)


class Judge:
    """Runs and scores each distinct program (and trajectory) of a problem once, whatever method or
    budget produced it: best-of-N's budgets share their samples."""

    def __init__(self, verifier: Verifier, problems: list[Problem], selection: list[list[TestCase]]) -> None:
        self.verifier, self.problems, self.selection = verifier, problems, selection
        self.seen: list[dict[str, tuple[tuple[str, ...], tuple[bool, ...], bool]]] = [{} for _ in problems]
        self.orm: list[dict[str, float]] = [{} for _ in problems]
        self.steps: list[dict[str, list[float]]] = [{} for _ in problems]

    def record(
        self, i: int, method: str, budget: int, generation: Generation, aggregations: Sequence[str]
    ) -> dict[str, Any]:
        candidates = generation.candidates
        self._measure(i, candidates)
        run: dict[str, Any] = {"method": method, "budget": budget, "tokens": generation.tokens,
                               "candidates": len(candidates)}  # fmt: skip
        hidden = [self.seen[i][c.code][2] for c in candidates]
        run["oracle"] = any(hidden)
        run["passed"] = sum(hidden)  # candidates passing every hidden test: a random pick's odds
        if not candidates:
            run["selected"] = {name: {"index": None, "passed": False} for name in aggregations}
            return run
        evidence = Evidence(
            # no selection tests: the only behaviour left to compare is the program text itself
            signatures=[self.seen[i][c.code][0] if self.selection[i] else " ".join(c.code.split()) for c in candidates],
            pass_vectors=[self.seen[i][c.code][1] for c in candidates],
            orm=[self.orm[i][c.code] for c in candidates] if self.verifier.has_prm else None,
            steps=[self.steps[i][_key(c)] for c in candidates] if self.verifier.has_prm else None,
        )  # fmt: skip
        run["selected"] = {}
        for name in aggregations:
            index = pick(name, evidence)
            run["selected"][name] = {"index": index, "passed": hidden[index]}
        return run

    def _measure(self, i: int, candidates: list[Candidate]) -> None:
        """Run the new programs on the selection and the hidden tests and score new trajectories and
        programs with the PRM: one batch each."""
        problem, selection = self.problems[i], self.selection[i]
        codes = list(dict.fromkeys(c.code for c in candidates if c.code not in self.seen[i]))
        if codes:
            runnable = [problem.runnable(code) for code in codes]
            chosen_results = self.verifier.run_batch([(code, selection) for code in runnable])
            # only all-pass counts on the hidden tests: stop at a program's first failure
            hidden_results = self.verifier.run_batch(
                [(code, problem.tests) for code in runnable], fail_fast=True
            )
            for code, chosen, hidden in zip(codes, chosen_results, hidden_results, strict=True):
                self.seen[i][code] = (
                    behaviour(chosen, selection),
                    tuple(t.passed for t in chosen.tests),
                    all_passed(hidden) == 1.0,
                )
        if not self.verifier.has_prm:
            return
        new = list({_key(c): c for c in candidates if _key(c) not in self.steps[i]}.values())
        if new:
            for c, scores in zip(
                new, self.verifier.score_steps(problem, [as_steps(c) for c in new]), strict=True
            ):
                self.steps[i][_key(c)] = scores
        # The outcome reward: the PRM reading the bare program, as the verifier scores a candidate
        # without reasoning, so orm_* judge the code alone and prm_* the reasoning that led to it.
        bare = [code for code in dict.fromkeys(c.code for c in candidates) if code not in self.orm[i]]
        if bare:
            scored = self.verifier.score_steps(problem, [as_steps(Candidate(code)) for code in bare])
            for code, scores in zip(bare, scored, strict=True):
                self.orm[i][code] = scores[-1] if scores else 0.0


def _key(candidate: Candidate) -> str:
    return json.dumps([s.to_dict() for s in as_steps(candidate)])


def summarize(
    records: list[dict[str, Any]], methods: Sequence[str], aggregations: Sequence[str], budgets: Sequence[int]
) -> list[dict[str, Any]]:
    """Accuracy (share of problems whose pick passes every hidden test) and mean tokens per problem,
    per method × aggregation × budget; aggregation `oracle` is any candidate passing."""
    table = []
    for method in methods:
        for budget in budgets:
            runs = [
                r for rec in records for r in rec["runs"] if r["method"] == method and r["budget"] == budget
            ]
            count = max(len(runs), 1)
            tokens = sum(r["tokens"] for r in runs) / count
            for name in [*aggregations, "oracle"]:
                passed = [r["oracle"] if name == "oracle" else r["selected"][name]["passed"] for r in runs]
                table.append({"method": method, "aggregation": name, "budget": budget,
                              "accuracy": sum(passed) / count, "mean_tokens": tokens, "problems": len(runs)})  # fmt: skip
    return table


def search_table(results: dict[str, Any]) -> str:
    """Markdown: a row per method × aggregation, a column per budget; each method's first row is the
    mean tokens it generated per problem."""
    budgets = results["budgets"]
    cell = {(r["method"], r["aggregation"], r["budget"]): r for r in results["table"]}
    lines = [
        "| method | aggregation | " + " | ".join(f"N={b}" for b in budgets) + " |",
        "|---|---|" + "---|" * len(budgets),
    ]
    for method in results["methods"]:
        tokens = [f"{cell[(method, 'oracle', b)]['mean_tokens']:.0f}" for b in budgets]
        lines.append(f"| {method} | *tokens/problem* | " + " | ".join(tokens) + " |")
        for name in [*results["aggregations"], "oracle"]:
            values = [f"{cell[(method, name, b)]['accuracy']:.3f}" for b in budgets]
            lines.append(f"| {method} | {name} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    """Accuracy against mean tokens generated per problem (log scale): a colour per aggregation, a line
    style per method, the oracle in black."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    palette = [plt.get_cmap("tab10")(k) for k in (0, 1, 2, 3, 4, 5, 6, 8, 9)]  # tab10 without its grey
    colours = {name: palette[k % len(palette)] for k, name in enumerate(results["aggregations"])}
    colours["oracle"] = "black"
    styles = dict(zip(METHODS, [("-", "o"), ("--", "s"), (":", "^")], strict=True))
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for method in results["methods"]:
        line, marker = styles[method]
        for name in [*results["aggregations"], "oracle"]:
            points = sorted(
                (r["mean_tokens"], r["accuracy"])
                for r in results["table"]
                if r["method"] == method and r["aggregation"] == name and r["mean_tokens"] > 0
            )
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, line, marker=marker, color=colours[name], label=f"{method} {name}",
                        markersize=4, linewidth=1.0 if name == "oracle" else 1.5)  # fmt: skip
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    # label 2x and 5x ticks too: a curve rarely spans a whole decade
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:g}" if f"{x:.0e}"[0] in "25" else ""))
    ax.set_xlabel("tokens generated per problem (mean)")
    ax.set_ylabel("accuracy (selected program passes every hidden test)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"test-time scaling, {results['problems']} problems (budgets {results['budgets']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=1 + len(results["methods"]) // 2,
              title="method, aggregation", title_fontsize=7)  # fmt: skip
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
