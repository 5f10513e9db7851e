"""`coder-rl eval`: a policy's pass@k on a dataset, as papers report it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options


@data_options
def evaluate(
    config: ConfigFile = None,
    sets: Sets = None,
    model: Annotated[
        str | None, typer.Option(help="The policy: a local path or hub id (policy.model).")
    ] = None,
    backend: Annotated[str | None, typer.Option(help="hf, vllm or openai (policy.backend).")] = None,
    samples: Annotated[int | None, typer.Option("-n", "--samples", help="Completions per problem.")] = None,
    prompt_format: Annotated[
        str | None,
        typer.Option(
            help="steps, or chat for a chat model: its template, reasoning then code (eval.prompt.format)."
        ),
    ] = None,
    reference: Annotated[
        bool | None,
        typer.Option(help="Judge each problem's reference solution instead of sampling (checks the data)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The output directory (default: output_dir).")] = None,
    verbose: Annotated[bool, typer.Option(help="Show library output too (else in OUT/eval.log).")] = False,
    *,
    data: dict[str, Any],
) -> None:
    """Sample n completions per problem, run their programs on the tests, and report pass@1..k (the
    unbiased estimator), then by difficulty, verdict, tokens, time and format.

    Writes OUT/samples.jsonl (one record per problem, as each batch ends) and OUT/eval.json; rerun the
    same command to resume.
    """
    from rich.console import Console
    from rich.markdown import Markdown

    from coder_rl.config import load_config
    from coder_rl.evaluate import EvalConfig, eval_table, run_eval

    flags = {
        **data, "policy.model": model, "policy.backend": backend, "eval.samples": samples,
        "eval.prompt.format": prompt_format,
        "reference": reference, "output_dir": str(out) if out else None,
    }  # fmt: skip
    cfg = load_config(EvalConfig, config, sets, flags)
    report = run_eval(
        cfg,
        progress=lambda done, total: print(f"eval {done}/{total} problems", flush=True),
        quiet=not verbose,
    )
    Console().print(Markdown(eval_table(report)))
    print(f"wrote {cfg.output_dir}/eval.json and {cfg.output_dir}/samples.jsonl")
