"""`coder-rl bench`: benchmarks that measure what the project's stages achieve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coder_rl.cli.options import ConfigFile, Sets

app = typer.Typer(no_args_is_help=True, help="Benchmarks: what each stage achieves, measured.")


@app.command()
def learning(
    config: ConfigFile = None,
    sets: Sets = None,
    seed: Annotated[int | None, typer.Option(help="The first seed (family, weights, sampling).")] = None,
    seeds: Annotated[int | None, typer.Option(help="How many seeds; several report mean ± std.")] = None,
    out: Annotated[Path | None, typer.Option(help="The output directory (default: out).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show library output too.")] = False,
) -> None:
    """Train every o1-Coder stage from a randomly initialised tiny model on the `listops` family and
    measure each on held-out problems, beside the figure it should beat.

    Writes OUT/learning.json, OUT/learning.md, OUT/rl_curves.png and OUT/search_scaling.png; each
    stage's library output goes to OUT/logs/. Rerun the same command to resume.
    """
    from coder_rl.bench.learning import LearningBenchConfig, results_table, run_learning_bench
    from coder_rl.config import load_config

    flags = {
        "seed": seed,
        "seeds": seeds,
        "output_dir": str(out) if out else None,
        "verbose": verbose or None,
    }
    cfg = load_config(LearningBenchConfig, config, sets, flags)
    results = run_learning_bench(cfg, say=lambda line: print(line, flush=True))
    print("\n" + results_table(results))
    print(f"wrote {cfg.output_dir}/learning.json, learning.md, rl_curves.png, search_scaling.png")
