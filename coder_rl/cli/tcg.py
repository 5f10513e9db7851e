"""`coder-rl tcg train|generate|eval`: the test-case generator."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options

app = typer.Typer(help="Test-case generator: SFT then DPO, generation, evaluation.", no_args_is_help=True)


class Stage(str, Enum):
    all = "all"
    sft = "sft"
    dpo = "dpo"


@app.command()
@data_options
def train(
    config: ConfigFile = None,
    sets: Sets = None,
    stage: Annotated[Stage, typer.Option(help="all: SFT then DPO; or one stage.")] = Stage.all,
    *,
    data: dict[str, Any],
) -> None:
    """SFT then DPO of a test-case generator. Rerun the same command to resume after an interruption."""
    from coder_rl.config import load_config
    from tcg.train import TCGTrainConfig, run_tcg_train

    cfg = load_config(TCGTrainConfig, config, sets, data)
    for result in run_tcg_train(cfg, stage.value):
        if result.skipped:
            print(f"{result.stage}: already trained ({result.model_dir}); remove it to train again")
            continue
        loss = (
            f"loss {result.first_loss:.3f} -> {result.last_loss:.3f}"
            if result.first_loss is not None
            else "no loss logged"
        )
        print(f"{result.stage}: {result.examples} examples, {loss}; model in {result.model_dir}")


@app.command()
@data_options
def generate(
    config: ConfigFile = None,
    sets: Sets = None,
    model: Annotated[str | None, typer.Option(help="TCG model (default: policy.model).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output JSONL (default: output.path).")] = None,
    *,
    data: dict[str, Any],
) -> None:
    """Sample test suites for each problem and parse them; resumable."""
    from coder_rl.config import load_config
    from tcg.generate import TCGGenerateConfig, run_tcg_generate

    flags = {
        **data,
        "policy.model": model,
        "output.path": str(out) if out else None,
    }
    cfg = load_config(TCGGenerateConfig, config, sets, flags)
    summary = run_tcg_generate(cfg)
    print(summary.line())
    print(f"generations: {cfg.output.path}")


@app.command("eval")
@data_options
def evaluate(
    config: ConfigFile = None,
    sets: Sets = None,
    generations: Annotated[Path | None, typer.Option(help="Output of `tcg generate`.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the JSON report.")] = None,
    *,
    data: dict[str, Any],
) -> None:
    """Pass rate, parse rate, distinct inputs and discriminative power of generated tests."""
    from rich.console import Console
    from rich.table import Table

    from coder_rl.config import load_config
    from tcg.evaluate import EvalConfig, run_tcg_eval

    flags = {
        **data,
        "generations": str(generations) if generations else None,
        "output.path": str(out) if out else None,
    }
    cfg = load_config(EvalConfig, config, sets, flags)
    report = run_tcg_eval(cfg)
    table = Table(title=f"TCG evaluation of {cfg.generations}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report["metrics"].items():
        table.add_row(name, f"{value:.1%}" if name.endswith(("rate", "power")) else f"{value:.0f}")
    Console().print(table)
    print(f"report: {cfg.output.path}")
