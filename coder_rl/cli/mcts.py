"""`coder-rl mcts synthesize`: tree search over pseudocode steps, writing step-labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options

app = typer.Typer(help="Pseudocode MCTS: synthesize step-labelled reasoning data.", no_args_is_help=True)


@app.command()
@data_options
def synthesize(
    config: ConfigFile = None,
    sets: Sets = None,
    workers: Annotated[int | None, typer.Option(help="Sandbox workers on this machine.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default: output_dir).")] = None,
    *,
    data: dict[str, Any],
) -> None:
    """Search every problem and write trees, labelled trajectories and the datasets made from them.

    Rerun the same command to resume: finished problems are skipped.
    """
    import json

    from coder_rl.config import load_config
    from coder_rl.mcts.synthesize import SynthesizeConfig, run_synthesize

    flags = {
        **data,
        "sandbox.workers": workers,
        "output_dir": str(out) if out else None,
    }
    cfg = load_config(SynthesizeConfig, config, sets, flags)
    report = run_synthesize(cfg)
    print(f"searched {report.problems} problems ({report.resumed} already done)")
    if report.problems:
        for key, value in report.to_dict().items():
            shown = json.dumps(value) if isinstance(value, dict) else f"{value:.3g}"
            print(f"  {key:<26} {shown}")
    print(f"outputs and report.json: {cfg.output_dir}")
