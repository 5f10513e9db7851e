"""Options every command shares: `--config` and `--set`, plus the dataset selection flags."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

ConfigFile = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config value: section.key=value (repeatable)."),
]
Dataset = Annotated[
    str | None,
    typer.Option(
        help="taco, apps, code_contests, humaneval, mbpp, evalplus, livecodebench, jsonl, sample or listops."
    ),
]
Split = Annotated[str | None, typer.Option(help="Dataset split, e.g. train or test.")]
DataPath = Annotated[
    str | None, typer.Option("--path", help="Local JSONL (.gz too)/Parquet/Arrow file or directory.")
]
Limit = Annotated[int | None, typer.Option(help="Stop after this many usable problems.")]

Difficulty = Annotated[
    str | None, typer.Option(help="Keep only these difficulties, comma-separated (EASY,MEDIUM).")
]


Since = Annotated[
    str | None, typer.Option(help="Keep problems from contests on or after this date (YYYY-MM-DD).")
]


_DATA_FLAGS = {
    "dataset": Dataset, "split": Split, "path": DataPath, "limit": Limit, "difficulty": Difficulty, "since": Since,
}  # fmt: skip


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the dataset selection flags, declared once here. The command takes them as
    one argument, `data`: the config overrides they make (`data.limit`, ...; None where not given)."""
    signature = inspect.signature(command)
    # resolved here, with their Annotated options: typer would not find the command's own globals
    hints = typing.get_type_hints(command, include_extras=True)
    kept = [p.replace(annotation=hints.get(name, p.annotation))
            for name, p in signature.parameters.items() if name != "data"]  # fmt: skip
    flags = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
             for name, annotation in _DATA_FLAGS.items()]  # fmt: skip

    @functools.wraps(command)
    def with_flags(*args: Any, **kwargs: Any) -> Any:
        data = {f"data.{name}": kwargs.pop(name) for name in _DATA_FLAGS}
        return command(*args, data=data, **kwargs)

    with_flags.__signature__ = signature.replace(parameters=kept + flags)  # type: ignore[attr-defined]
    annotations = {k: v for k, v in hints.items() if k != "data"}
    with_flags.__annotations__ = {**annotations, **_DATA_FLAGS}
    return with_flags
