"""Options every command shares: `--config` and `--set`, plus the dataset selection flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

ConfigFile = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config value: section.key=value (repeatable)."),
]
Dataset = Annotated[
    str | None, typer.Option(help="taco, apps, code_contests, humaneval, mbpp, jsonl, sample or listops.")
]
Split = Annotated[str | None, typer.Option(help="Dataset split, e.g. train or test.")]
DataPath = Annotated[str | None, typer.Option("--path", help="Local JSONL/Parquet/Arrow file or directory.")]
Limit = Annotated[int | None, typer.Option(help="Stop after this many usable problems.")]

Difficulty = Annotated[
    str | None, typer.Option(help="Keep only these difficulties, comma-separated (EASY,MEDIUM).")
]


def data_flags(
    dataset: str | None, split: str | None, path: str | None, limit: int | None, difficulty: str | None
) -> dict[str, Any]:
    """The selection flags as config overrides (None means 'not given')."""
    return {
        "data.dataset": dataset,
        "data.split": split,
        "data.path": path,
        "data.limit": limit,
        "data.difficulty": difficulty,
    }
