"""`coder-rl selfplay`: o1-Coder's loop. Each iteration
1. searches the problems with the current policy (pseudocode MCTS) for step-labelled trajectories,
2. refits the PRM on them (from the previous iteration's PRM),
3. warm-starts the policy on the search's correct paths, when it found any (optional),
4. runs RL (GRPO or PPO) with the sandbox's outcome and the new PRM's process reward,
5. measures the new policy's pass rate.

Everything lives in one run directory, an iteration per folder (`iter-1/mcts`, `iter-1/prm`, ...).
`selfplay.json` records each finished stage; a rerun skips them and resumes the stage in flight from
its own checkpoints (MCTS shards, trainer checkpoints), so an interruption at any point loses little.
A rerun with more `iterations` extends the loop; any other change of settings is refused (but for
`stage_processes`, which changes how stages run, not what they compute).

The loop sets each stage's model, data and directories; those keys in the stage sections are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from coder_rl.config import Section, given_keys
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.errors import UserError
from coder_rl.evaluate import PassRateConfig
from coder_rl.execution import open_sandbox
from coder_rl.mcts.synthesize import SynthesizeConfig
from coder_rl.prm.train import PRMTrainConfig
from coder_rl.rl.config import RLConfig
from coder_rl.rl.sft import PolicySFTConfig
from coder_rl.rundir import StageLog


class SelfPlayConfig(Section):
    iterations: int = Field(2, ge=1, description="a rerun with more iterations extends the loop")
    output_dir: str = "runs/selfplay"
    data: DataConfig = DataConfig()
    eval_data: DataConfig | None = Field(None, description="problems for the pass rate (default: data)")
    policy: str = Field("runs/tiny-model", description="the starting policy")
    prm_base: str | None = Field(
        None, description="the first PRM's base model (default: the starting policy)"
    )
    warm_start: PolicySFTConfig | None = Field(
        None,
        description="an SFT before iteration 1, e.g. source: references for a policy that solves nothing",
    )
    sft_on_solved: bool = Field(True, description="warm-start on each search's correct paths before RL")
    mcts: SynthesizeConfig = SynthesizeConfig()
    prm: PRMTrainConfig = PRMTrainConfig()
    sft: PolicySFTConfig = PolicySFTConfig()
    rl: RLConfig = RLConfig()
    eval: PassRateConfig = PassRateConfig()
    device: str = "auto"
    stage_processes: bool = Field(
        False, description="run each stage in a fresh process: it hands all its GPU memory back when it ends"
    )


def selfplay_log(cfg: SelfPlayConfig) -> StageLog:
    """The loop's state on disk: which stages finished, and what each reported."""
    return StageLog(
        Path(cfg.output_dir),
        "selfplay.json",
        cfg.model_dump(mode="json", exclude={"iterations", "stage_processes"}),
        may_change="iterations",
        announce=lambda key: print(f"selfplay: {key}", flush=True),
        fresh_process=cfg.stage_processes,
    )


# What the loop sets in each stage's section, from its own settings and the previous stage's output.
LOOP_SETS = {
    "warm_start": ["data", "model", "output_dir", "device"],
    "mcts": ["data", "policy.model", "policy.device", "output_dir"],
    "prm": ["trajectories", "model", "output_dir", "device"],
    "sft": ["source", "synthesized", "model", "output_dir", "device"],
    "rl": ["data", "model", "prm", "output_dir", "device"],
}


def check_loop_keys(cfg: SelfPlayConfig) -> None:
    """A stage key the loop sets itself is an error where the config gives it: it would be ignored."""
    for name, keys in LOOP_SETS.items():
        section = getattr(cfg, name)
        given = given_keys(section, keys) if section is not None else []
        if given:
            raise UserError(
                f"config error: {name}.{given[0]}: the loop sets it for every iteration (from data, policy, "
                "device and output_dir); remove it"
            )


def run_selfplay(cfg: SelfPlayConfig, show_progress: bool = True) -> list[dict[str, Any]]:
    """Run (or resume, or extend) the loop; return the summary table's rows, one per iteration."""
    check_loop_keys(cfg)
    loop = selfplay_log(cfg)
    policy = cfg.policy
    if cfg.warm_start is not None:
        warm = cfg.warm_start.model_copy(
            update={
                "data": cfg.data,
                "model": policy,
                "output_dir": str(loop.dir / "warm-start"),
                "device": cfg.device,
            }
        )
        policy = loop.stage("warm-start", _sft, warm)["model"]
    prm_model = cfg.prm_base or policy
    rows = [{"iteration": 0, **loop.stage("iter-0/eval", _pass_rate, cfg, policy)}]
    for k in range(1, cfg.iterations + 1):
        here = loop.dir / f"iter-{k}"
        mcts = cfg.mcts.model_copy(deep=True)
        mcts.data, mcts.policy.model, mcts.output_dir = cfg.data, policy, str(here / "mcts")
        mcts.policy.device = cfg.device
        searched = loop.stage(f"iter-{k}/mcts", synthesize_stage, mcts, show_progress)
        prm = cfg.prm.model_copy(
            update={
                "trajectories": mcts.output_dir,
                "model": prm_model,
                "output_dir": str(here / "prm"),
                "device": cfg.device,
            }
        )
        fitted = loop.stage(f"iter-{k}/prm", _prm, prm)
        prm_model = fitted["model"]
        if cfg.sft_on_solved and searched["solve_rate"] > 0:
            sft = cfg.sft.model_copy(
                update={"source": "correct", "synthesized": mcts.output_dir, "model": policy,
                        "output_dir": str(here / "sft"), "device": cfg.device}
            )  # fmt: skip
            policy = loop.stage(f"iter-{k}/sft", _sft, sft)["model"]
        rl = cfg.rl.model_copy(
            update={
                "data": cfg.data,
                "model": policy,
                "prm": prm_model,
                "output_dir": str(here / "rl"),
                "device": cfg.device,
            }
        )
        trained = loop.stage(f"iter-{k}/rl", _rl, rl)
        policy = trained["model"]
        measured = loop.stage(f"iter-{k}/eval", _pass_rate, cfg, policy)
        rows.append(
            {"iteration": k, **measured, "mcts_solve_rate": searched["solve_rate"],
             "correct_step_share": searched["correct_step_share"], "prm_auc": fitted["held_out_auc"],
             "rl_reward": trained["reward"], "rl_pass_rate": trained["pass_rate"]}
        )  # fmt: skip
    (loop.dir / "summary.json").write_text(json.dumps(rows, indent=1))
    (loop.dir / "summary.md").write_text(selfplay_table(rows))
    return rows


def selfplay_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: the policy's pass rate, the search's yield, the PRM's AUC and the RL reward."""
    columns = [
        ("iter", "iteration"), ("pass@1", "pass_at_1"), ("solved", "solved"), ("format", "format"),
        ("MCTS solve rate", "mcts_solve_rate"), ("correct steps", "correct_step_share"), ("PRM AUC", "prm_auc"),
        ("RL reward", "rl_reward"), ("RL pass rate", "rl_pass_rate"),
    ]  # fmt: skip

    def shown(value: Any) -> str:
        if value is None:
            return "n/a"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(shown(row.get(key, "–")) for _, key in columns) + " |")
    return "\n".join(lines) + "\n"


def synthesize_stage(cfg: SynthesizeConfig, show_progress: bool) -> dict[str, Any]:
    from coder_rl.mcts.synthesize import run_synthesize

    run_synthesize(cfg, show_progress)
    # Counted from the shards on disk: the whole search, also when this call only finished a resumed one.
    out = Path(cfg.output_dir)
    trees = [json.loads(line) for f in sorted((out / "trees").glob("*.jsonl")) for line in f.open()]
    labels = [
        label for f in sorted((out / "trajectories").glob("*.jsonl")) for line in f.open()
        for label in json.loads(line)["labels"]
    ]  # fmt: skip
    return {
        "problems": len(trees),
        "solve_rate": sum(t["solved"] for t in trees) / max(len(trees), 1),
        "correct_step_share": sum(labels) / max(len(labels), 1),
    }


def _prm(cfg: PRMTrainConfig) -> dict[str, Any]:
    from coder_rl.prm.train import run_prm_train

    result = run_prm_train(cfg)
    return {
        "model": str(result.model_dir),
        "held_out_auc": result.held_out_auc,
        "train_steps": result.train_steps,
    }


def _sft(cfg: PolicySFTConfig) -> dict[str, Any]:
    from coder_rl.rl.sft import run_policy_sft

    final, losses = run_policy_sft(cfg)
    return {
        "model": str(final),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


def _rl(cfg: RLConfig) -> dict[str, Any]:
    from coder_rl.rl.run import run_rl

    result = run_rl(cfg)

    def mean(key: str) -> float | None:
        values = [entry[key] for entry in result.log_history if key in entry]
        return sum(values) / len(values) if values else None

    return {"model": str(result.model_dir), "reward": mean("reward"), "pass_rate": mean("reward/pass_rate")}


def _pass_rate(cfg: SelfPlayConfig, model: str) -> dict[str, Any]:
    from coder_rl.evaluate import pass_rate

    problems = [p for p in load_problems(cfg.eval_data or cfg.data).require_problems() if p.tests]
    # sampled by the engine the search uses (vLLM on a GPU, say)
    policy = cfg.mcts.policy.model_copy(update={"model": model, "device": cfg.device})
    with open_sandbox(cfg.rl.sandbox) as box:
        return pass_rate(policy, problems, box, cfg.eval)
