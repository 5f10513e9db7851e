"""`coder-rl data inspect|convert|filter`: look at a dataset through its adapter, rewrite it, or keep the
problems a policy solves sometimes."""

from __future__ import annotations

import json
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options

if TYPE_CHECKING:
    from coder_rl.data import LoadReport

app = typer.Typer(help="Inspect and convert datasets of programming problems.", no_args_is_help=True)


def _load(config: Path | None, sets: list[str] | None, flags: dict) -> LoadReport:
    from coder_rl.config import load_config
    from coder_rl.data.load import DataCommandConfig, load_problems

    cfg = load_config(DataCommandConfig, config, sets, flags)
    return load_problems(cfg.data)


def _print_report(report: LoadReport) -> None:
    # plain print: these lines are read by scripts and must not be wrapped at the terminal's width
    print(report.summary())
    for reason, count in report.skipped.most_common():
        print(f"  skipped {reason}: {count} (first: {report.examples[reason]})")


@app.command()
@data_options
def inspect(
    config: ConfigFile = None,
    sets: Sets = None,
    *,
    data: dict[str, Any],
) -> None:
    """Print one row per problem (tests, kind, fn_name, solutions) and the rows skipped, by reason.

    Exits with status 1 when a row was skipped or no problem was found, so it can gate a data pipeline.
    """
    from rich.console import Console
    from rich.table import Table

    report = _load(config, sets, data)
    table = Table(title=report.source, title_justify="left")
    for column in ("id", "difficulty", "kind", "tests", "fn_name", "solutions"):
        table.add_column(column, justify="right" if column in ("tests", "solutions") else "left")
    for p in report.problems:
        table.add_row(p.id, p.difficulty, p.kind, str(len(p.tests)), p.fn_name or "-", str(len(p.solutions)))
    Console().print(table)
    _print_report(report)
    if report.skipped or not report.problems:
        raise typer.Exit(1)


class Format(str, Enum):
    problems = "problems"
    taco = "taco"


@app.command()
@data_options
def convert(
    out: Annotated[Path, typer.Argument(help="Output JSONL file.")],
    to: Annotated[
        Format, typer.Option(help="problems: coder-rl's JSONL (any test kind); taco: TACO's field format.")
    ] = Format.problems,
    config: ConfigFile = None,
    sets: Sets = None,
    *,
    data: dict[str, Any],
) -> None:
    """Read problems through their adapter and write them as JSONL, one problem per line.

    Writes every problem it can; exits with status 1 when a row was skipped or a problem could not be written.
    """
    from coder_rl.data.adapters import problem_to_taco_row
    from coder_rl.errors import UserError

    if out.is_dir():
        raise UserError(f"output {out} is a directory; give a file path such as {out}/problems.jsonl")
    report = _load(config, sets, data)
    problems = report.require_problems()
    rows, unwritable = [], Counter()
    for problem in problems:
        try:
            rows.append(problem_to_taco_row(problem) if to is Format.taco else problem.to_dict())
        except ValueError as exc:  # e.g. assert-based tests have no place in TACO's format
            unwritable[str(exc)] += 1
    _write_rows(out, rows)
    _print_report(report)
    for reason, count in unwritable.items():
        print(f"  not written ({to.value} format): {count} problems: {reason}")
    print(f"wrote {len(rows)} problems to {out}")
    if report.skipped or unwritable:  # written what could be, but the output is not the whole input
        raise typer.Exit(1)


@app.command("filter")
@data_options
def filter_by_pass_rate(
    out: Annotated[Path, typer.Argument(help="Output JSONL file (coder-rl's format) of the problems kept.")],
    model: Annotated[str | None, typer.Option(help="The starting policy (policy.model).")] = None,
    samples: Annotated[int | None, typer.Option("-n", "--samples", help="Completions per problem.")] = None,
    band: Annotated[str, typer.Option(help="Keep pass rates from LOW to HIGH, inclusive.")] = "0.2,0.8",
    config: ConfigFile = None,
    sets: Sets = None,
    *,
    data: dict[str, Any],
) -> None:
    """Keep the problems the starting policy solves sometimes but not always: n samples each (as
    `coder-rl eval` draws and judges them, in OUT.eval/, resumable), then those whose share of passing
    samples lies in the band (PRIME's 0.2-0.8). Problems always or never solved carry no GRPO signal."""
    from coder_rl.config import load_config
    from coder_rl.data.load import load_problems
    from coder_rl.errors import UserError
    from coder_rl.evaluate import EvalConfig, in_band, read_records, run_eval

    try:
        low, high = (float(x) for x in band.split(","))
    except ValueError:
        raise UserError(f"--band {band!r}: give LOW,HIGH such as 0.2,0.8") from None
    if not 0 <= low <= high <= 1:
        raise UserError(f"--band {band!r}: need 0 <= LOW <= HIGH <= 1")
    if out.is_dir():
        raise UserError(f"output {out} is a directory; give a file path such as {out}/problems.jsonl")
    flags = {**data, "policy.model": model, "eval.samples": samples, "output_dir": f"{out}.eval"}
    cfg = load_config(EvalConfig, config, sets, flags)
    run_eval(
        cfg, progress=lambda done, total: print(f"sampled {done}/{total} problems", flush=True), quiet=True
    )
    records = read_records(cfg.output_dir)
    kept = set(in_band(records, low, high))
    problems = [p for p in load_problems(cfg.data).problems if p.id in kept]
    _write_rows(out, [p.to_dict() for p in problems])
    print(
        f"kept {len(problems)} of {len(records)} problems with a pass rate in [{low:g}, {high:g}]; wrote {out}"
    )


def _write_rows(out: Path, rows: list[dict[str, Any]]) -> None:
    """JSONL written whole, then renamed into place: never a half-written file under the real name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out)
