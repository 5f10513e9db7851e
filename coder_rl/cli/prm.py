"""`coder-rl prm train`: the process reward model, fit on the MCTS's labelled trajectories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coder_rl.cli.options import ConfigFile, Sets

app = typer.Typer(help="Process reward model: train on MCTS step labels.", no_args_is_help=True)


@app.command()
def train(
    config: ConfigFile = None,
    sets: Sets = None,
    trajectories: Annotated[Path | None, typer.Option(help="An `mcts synthesize` output directory.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write checkpoints and the final model.")] = None,
) -> None:
    """Fit P("+") at each step tag to the steps' soft (MC value) or hard labels; report the held-out AUC
    and the reward of best-of-N picks by the PRM against random picks on held-out problems."""
    from coder_rl.config import load_config
    from coder_rl.prm.train import PRMTrainConfig, run_prm_train

    flags = {
        "trajectories": str(trajectories) if trajectories else None,
        "output_dir": str(out) if out else None,
    }
    cfg = load_config(PRMTrainConfig, config, sets, flags)
    result = run_prm_train(cfg)
    loss = (
        f"loss {result.first_loss:.3f} -> {result.last_loss:.3f}"
        if result.first_loss is not None
        else "no loss"
    )
    held = f"{result.held_out_auc:.3f}" if result.held_out_auc is not None else "n/a (one class only)"
    pairs = f", {result.train_pairs} sibling pairs" if cfg.pairwise_weight else ""
    print(
        f"prm: {result.train_steps} labelled steps{pairs}, {loss}; "
        f"held-out AUC {held} on {result.held_out_steps} steps"
    )
    print(f"best-of-N by the PRM ({cfg.rerank_reduction} over steps): {_rerank_line(result.rerank)}")
    print(f"model: {result.model_dir}")


def _rerank_line(rerank: dict[str, float] | None) -> str:
    if rerank is None:
        return "n/a (no held-out problem has 2+ trajectories)"
    return (
        f"reward {rerank['selected']:.3f} vs {rerank['random']:.3f} for a random pick "
        f"(gain {rerank['gain']:+.3f}, oracle {rerank['oracle']:.3f}) on {rerank['problems']} held-out problems"
    )
