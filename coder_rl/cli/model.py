"""`coder-rl model init-tiny|generate`: make a tiny local model, sample from any policy backend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options

app = typer.Typer(help="Tiny local models and sampling from a policy.", no_args_is_help=True)


@app.command("init-tiny")
def init_tiny(
    out_dir: Annotated[Path, typer.Argument(help="Where to save the model and tokenizer (save_pretrained).")],
    config: ConfigFile = None,
    sets: Sets = None,
) -> None:
    """Build a tiny causal LM with a tokenizer trained on the bundled sample, loadable by path.

    Nothing can be downloaded on an offline machine; this model stands in for a hub model in quickstarts and tests.
    """
    from rich.progress import Progress

    from coder_rl.config import load_config
    from coder_rl.models.tiny import InitTinyConfig, build_tiny_model

    cfg = load_config(InitTinyConfig, config, sets)
    with Progress(*Progress.get_default_columns(), "loss {task.fields[loss]}") as progress:
        task = progress.add_task("pre-train", total=cfg.model.pretrain_steps, loss="-")
        path = build_tiny_model(
            out_dir,
            cfg.model,
            on_step=lambda step, loss: progress.update(task, completed=step, loss=f"{loss:.2f}"),
        )
    print(f"saved a tiny {cfg.model.arch} model to {path}")


@app.command()
@data_options
def generate(
    config: ConfigFile = None,
    sets: Sets = None,
    out: Annotated[Path | None, typer.Option(help="Output JSONL (default: output.path).")] = None,
    *,
    data: dict[str, Any],
) -> None:
    """Sample n completions per problem with the configured policy backend; resumable."""
    from coder_rl.config import load_config
    from coder_rl.generate import GenerateConfig, run_generate

    flags = data | {"output.path": str(out) if out else None}
    cfg = load_config(GenerateConfig, config, sets, flags)
    summary = run_generate(cfg)
    print(summary.data_report)
    print(
        f"generated {summary.completions} completions for {summary.problems} problems "
        f"({summary.resumed} already done): {summary.tokens} tokens in {summary.seconds:.1f}s "
        f"= {summary.tokens_per_s:.0f} tokens/s -> {cfg.output.path}"
    )
