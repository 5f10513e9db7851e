"""`coder-rl sandbox run|check|bench`: run programs in the sandbox, check a dataset's references, benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options

if TYPE_CHECKING:
    from sandbox import TestCase

app = typer.Typer(
    help="Run untrusted programs in the sandbox; check datasets; benchmark.", no_args_is_help=True
)

Backend = Annotated[
    str | None, typer.Option(help="local (bubblewrap), docker, ray or unsafe (no isolation).")
]
Workers = Annotated[int | None, typer.Option(help="Warm workers (default: one per core).")]


def read_tests(path: Path) -> list[TestCase]:
    """A JSON list of test cases ({"kind": "stdin", "stdin": ..., "expected_stdout": ...}, ...), or a
    TACO-style {"inputs": [...], "outputs": [...], "fn_name"?: ...} object."""
    from coder_rl.data.adapters import taco_tests
    from coder_rl.errors import UserError
    from sandbox import case_from_dict

    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a JSON file ({exc})") from None
    try:
        if isinstance(data, dict) and "inputs" in data:
            return taco_tests(data)
        if isinstance(data, list):
            return [case_from_dict(item) for item in data]
    except ValueError as exc:  # BadRow is a ValueError
        raise UserError(f"{path}: {exc}") from None
    raise UserError(f"{path}: expected a list of test cases or a TACO input_output object")


@app.command()
def run(
    program: Annotated[Path, typer.Argument(help="The Python program to run.")],
    tests: Annotated[
        Path, typer.Option("--tests", "-t", help="JSON test cases (a list, or TACO's input_output).")
    ],
    config: ConfigFile = None,
    sets: Sets = None,
    backend: Backend = None,
    fail_fast: Annotated[
        bool | None, typer.Option("--fail-fast/--run-all", help="Stop at the first failure.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Run one program on its tests and print each verdict. Exits with status 1 unless every test passed."""
    from coder_rl.config import load_config
    from coder_rl.execution import SandboxConfig, open_sandbox
    from sandbox import Verdict

    source = program.read_text(encoding="utf-8")
    cases = read_tests(tests)
    cfg = load_config(SandboxConfig, config, sets, {"backend": backend, "fail_fast": fail_fast, "workers": 1})
    with open_sandbox(cfg) as box:
        result = box.run(source, cases)
    if as_json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        for i, test in enumerate(result.tests):
            detail = f"  {test.detail}" if test.detail else ""
            print(
                f"test {i:>3}  {test.verdict.value:<15} {test.wall_s * 1000:7.1f} ms {test.peak_memory_mb:7.1f} MB{detail}"
            )
        passed = sum(t.passed for t in result.tests)
        print(f"{result.verdict.value}: {passed}/{len(result.tests)} tests passed")
    if result.verdict is not Verdict.PASSED:
        raise typer.Exit(1)


@app.command()
@data_options
def check(
    config: ConfigFile = None,
    sets: Sets = None,
    backend: Backend = None,
    workers: Workers = None,
    out: Annotated[Path | None, typer.Option(help="Per-problem verdicts (JSONL, resumable).")] = None,
    write_passing: Annotated[
        Path | None, typer.Option(help="Write the problems whose reference passes here (problems JSONL).")
    ] = None,
    *,
    data: dict[str, Any],
) -> None:
    """Run every reference solution of a dataset against its own tests; report per-problem verdicts.

    Exits with status 1 if any problem's references all fail, or the sandbox failed on any.
    """
    from coder_rl.check import CheckConfig, run_check
    from coder_rl.config import load_config

    flags = {
        **data,
        "sandbox.backend": backend,
        "sandbox.workers": workers,
        "output.path": str(out) if out else None,
        "output.passing": str(write_passing) if write_passing else None,
    }
    cfg = load_config(CheckConfig, config, sets, flags)
    summary = run_check(cfg)
    outcomes = ", ".join(f"{k} {v}" for k, v in summary.outcomes.most_common()) or "no problem"
    verdicts = ", ".join(f"{k} {v}" for k, v in summary.verdicts.most_common())
    print(f"checked {summary.problems} problems ({summary.resumed} already done): {outcomes}")
    if summary.tests_run:
        print(f"tests: {verdicts} ({summary.tests_run / max(summary.seconds, 1e-9):.0f} tests/s)")
    print(f"verdicts: {cfg.output.path}")
    if summary.passing_written is not None:
        print(f"wrote {summary.passing_written} problems whose reference passes to {cfg.output.passing}")
    if summary.outcomes["failed"] or summary.outcomes["sandbox_error"]:
        raise typer.Exit(1)


@app.command()
def bench(
    backends: Annotated[
        str, typer.Option(help="Backends to measure beside the naive baseline.")
    ] = "local,docker",
    workers: Workers = None,
    humaneval_programs: Annotated[int, typer.Option(help="HumanEval-style programs, one test each.")] = 200,
    stdin_programs: Annotated[int, typer.Option(help="stdin programs in the many-tests workload.")] = 8,
    stdin_tests: Annotated[int, typer.Option(help="Tests per stdin program.")] = 100,
    overhead_tests: Annotated[
        int, typer.Option(help="Trivial tests run one after another on one worker.")
    ] = 300,
    repeats: Annotated[int, typer.Option(help="Runs of each measurement; the fastest counts.")] = 3,
    out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON.")] = None,
) -> None:
    """Tests/s and per-test overhead: naive subprocess-per-test vs each backend, in one run."""
    from sandbox.bench import run_bench, speedups

    rows, skipped = run_bench(
        [b.strip() for b in backends.split(",") if b.strip()],
        workers,
        humaneval_programs,
        stdin_programs,
        stdin_tests,
        overhead_tests,
        repeats,
    )
    ratio = speedups(rows)
    print("\nspeed-up over naive (tests/s):")
    for (workload, runner), value in ratio.items():
        print(f"  {workload:<10} {runner:<7} {value:5.1f}x")
    if out:
        figures = [
            {
                **vars(r),
                "tests_per_s": r.tests_per_s,
                "ms_per_test": r.ms_per_test,
                "speedup": ratio.get((r.workload, r.runner)),
            }
            for r in rows
        ]
        out.write_text(json.dumps({"rows": figures, "skipped": skipped}, indent=1))
