"""`coder-rl selfplay`: search, PRM refit and RL, repeated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options


@data_options
def selfplay(
    config: ConfigFile = None,
    sets: Sets = None,
    iterations: Annotated[
        int | None, typer.Option(help="Iterations in all (a rerun with more extends).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The run directory (default: output_dir).")] = None,
    *,
    data: dict[str, Any],
) -> None:
    """Each iteration: MCTS with the current policy, PRM refit, SFT on what it solved, RL, pass rate.

    Every stage's output is kept under the run directory; rerun the same command to resume.
    """
    from rich.console import Console
    from rich.markdown import Markdown

    from coder_rl.config import load_config
    from coder_rl.selfplay import SelfPlayConfig, run_selfplay, selfplay_table

    flags = {
        **data,
        "iterations": iterations,
        "output_dir": str(out) if out else None,
    }
    cfg = load_config(SelfPlayConfig, config, sets, flags)
    rows = run_selfplay(cfg)
    Console().print(Markdown(selfplay_table(rows)))
    print(f"run directory: {cfg.output_dir} (summary.md, summary.json, selfplay.json)")
