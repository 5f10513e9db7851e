"""`coder-rl rl run` (GRPO or PPO with outcome + process rewards) and `coder-rl rl sft` (the warm start)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options

app = typer.Typer(help="The policy: SFT warm start and RL.", no_args_is_help=True)


@app.command()
@data_options
def run(
    config: ConfigFile = None,
    sets: Sets = None,
    prm: Annotated[
        Path | None, typer.Option(help="A PRM from `coder-rl prm train` (adds the process reward).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Checkpoints and the final model (default: output_dir).")
    ] = None,
    *,
    data: dict[str, Any],
) -> None:
    """GRPO with TRL (or PPO: --set algorithm=ppo): reward φ = α(t)·outcome + (1 − α(t))·discounted PRM
    step scores, plus a format reward. Rerun the same command to resume from the last checkpoint."""
    from coder_rl.config import load_config
    from coder_rl.rl.config import RLConfig
    from coder_rl.rl.run import run_rl

    flags = {
        **data,
        "prm": str(prm) if prm else None,
        "output_dir": str(out) if out else None,
    }
    cfg = load_config(RLConfig, config, sets, flags)
    result = run_rl(cfg)
    rewards = [entry["reward"] for entry in result.log_history if "reward" in entry]
    if rewards:
        print(f"rl: {len(rewards)} logged steps, mean reward {rewards[0]:.3f} -> {rewards[-1]:.3f}")
    print(f"model: {result.model_dir}")


@app.command()
@data_options
def sft(
    config: ConfigFile = None,
    sets: Sets = None,
    source: Annotated[
        str | None, typer.Option(help="correct, journeys (from --synthesized) or references (from the data).")
    ] = None,
    synthesized: Annotated[Path | None, typer.Option(help="An `mcts synthesize` output directory.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Checkpoints and the final model (default: output_dir).")
    ] = None,
    *,
    data: dict[str, Any],
) -> None:
    """Warm-start the policy on the search's correct paths or journey traces, or on the dataset's
    reference solutions (source: references, a cold start)."""
    from coder_rl.config import load_config
    from coder_rl.rl.sft import PolicySFTConfig, run_policy_sft

    flags = {
        **data,
        "source": source,
        "synthesized": str(synthesized) if synthesized else None,
        "output_dir": str(out) if out else None,
    }
    cfg = load_config(PolicySFTConfig, config, sets, flags)
    final, losses = run_policy_sft(cfg)
    if losses:
        print(f"rl sft: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    print(f"model: {final}")
