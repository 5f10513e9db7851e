"""Reading problems: pick a dataset, read its rows (hub or local file), adapt, filter, report.

Bad rows never stop a run and never vanish: each is counted under a reason, with the first
example of each reason kept for the report.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import Field, field_validator

from coder_rl.config import Section
from coder_rl.data.adapters import (
    Adapter,
    BadRow,
    code_contests_row,
    evalplus_row,
    humaneval_row,
    livecodebench_row,
    mbpp_row,
    problem_row,
    taco_row,
)
from coder_rl.data.listops import DIFFICULTY_WEIGHTS, SPLIT_SIZES, listops_row, listops_rows
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError, first_line

SAMPLE_PATH = Path(__file__).parent / "sample" / "problems.jsonl"


@dataclass(frozen=True)
class DatasetSpec:
    adapter: Adapter
    hub_id: str | None = None
    subset: str | None = None  # the hub config name
    # (builder, files under the repo): read the data files directly, for hub repos whose loading script
    # `datasets` no longer runs; "{split}" is replaced by the split's name.
    hub_files: tuple[str, str] | None = None


DATASETS: dict[str, DatasetSpec] = {
    "taco": DatasetSpec(taco_row, "BAAI/TACO", hub_files=("arrow", "{split}/*.arrow")),
    "apps": DatasetSpec(taco_row, "codeparrot/apps", hub_files=("json", "{split}.jsonl")),
    "code_contests": DatasetSpec(code_contests_row, "deepmind/code_contests"),
    "humaneval": DatasetSpec(humaneval_row, "openai/openai_humaneval"),
    "mbpp": DatasetSpec(mbpp_row, "google-research-datasets/mbpp", "full"),
    "jsonl": DatasetSpec(problem_row),
    # local files only: EvalPlus's releases (HumanEvalPlus.jsonl.gz, MbppPlus.jsonl.gz) and
    # LiveCodeBench's code_generation_lite JSONL
    "evalplus": DatasetSpec(evalplus_row),
    "livecodebench": DatasetSpec(livecodebench_row),
    "sample": DatasetSpec(taco_row),  # the bundled problems, in TACO's format
    "listops": DatasetSpec(listops_row),  # generated (coder_rl/data/listops.py), TACO's format + steps
}


class DataConfig(Section):
    """Which problems to read; the `data` section of a config."""

    dataset: str = Field("sample", description=f"one of {', '.join(DATASETS)} (case-insensitive)")
    split: str = "train"
    path: str | None = Field(
        None, description="a local JSONL/Parquet/Arrow file or directory instead of the hub"
    )
    hub_id: str | None = Field(None, description="override the dataset's hub id")
    subset: str | None = Field(None, description="hub config name, e.g. 'sanitized' for MBPP")
    skip: int = Field(0, ge=0, description="leave out the first this many usable problems (a held-out slice)")
    limit: int | None = Field(None, ge=1, description="stop after this many usable problems")
    difficulty: list[str] = Field(
        default_factory=list, description="keep only these difficulties, e.g. [EASY]"
    )
    seed: int = Field(0, description="the seed of a generated dataset (listops); other datasets ignore it")
    since: date | None = Field(
        None, description="keep problems from contests on or after this date (LiveCodeBench: contamination)"
    )

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        name = value.lower().replace("-", "_")
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {value!r}; known: {', '.join(DATASETS)}")
        return name

    @field_validator("difficulty", mode="before")
    @classmethod
    def _split_difficulty(cls, value: Any) -> Any:
        # `--difficulty EASY,MEDIUM` and `difficulty: EASY` both mean a list.
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


class DataCommandConfig(Section):
    """The config of commands that only read problems (`data inspect`, `data convert`)."""

    data: DataConfig = DataConfig()


@dataclass
class LoadReport:
    """What `load_problems` read: the problems, and every row it skipped, by reason."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> "row 7: detail"
    filtered_out: Counter[str] = field(default_factory=Counter)  # difficulty -> rows not selected
    left_out: int = 0  # usable problems before data.skip
    before_since: int = 0  # problems from contests before data.since (or of no known date)

    def skip(self, index: int, error: BadRow) -> None:
        self.skipped[error.reason] += 1
        self.examples.setdefault(
            error.reason, f"row {index}: {error.detail}" if error.detail else f"row {index}"
        )

    def summary(self) -> str:
        """One line: ``read 5 rows from X: 4 problems, 1 skipped (no_tests=1)``."""
        line = f"read {self.rows_read} rows from {self.source}: {len(self.problems)} problems"
        if self.skipped:
            reasons = ", ".join(f"{r}={n}" for r, n in self.skipped.most_common())
            line += f", {sum(self.skipped.values())} skipped ({reasons})"
        if self.filtered_out:
            line += f", {sum(self.filtered_out.values())} not matching the difficulty filter"
        if self.before_since:
            line += f", {self.before_since} dated before data.since or undated"
        if self.left_out:
            line += f", the first {self.left_out} left out (data.skip)"
        return line

    def require_problems(self) -> list[Problem]:
        """The problems, or a one-line error when there are none (for commands that need some)."""
        if not self.problems:
            raise UserError(f"no usable problems: {self.summary()}")
        return self.problems


def load_problems(cfg: DataConfig) -> LoadReport:
    """Read, adapt and select problems as `cfg` says."""
    spec = DATASETS[cfg.dataset]
    source, rows = _generated_rows(cfg) if cfg.dataset == "listops" else _read_rows(cfg, spec)
    report = LoadReport(source=source)
    wanted = {d.upper() for d in cfg.difficulty}
    seen: set[str] = set()
    for index, row in rows:
        report.rows_read += 1
        try:
            if isinstance(row, BadRow):
                raise row
            problem = spec.adapter(row, f"{cfg.dataset}/{cfg.split}", index)
            # Outputs and resumption are keyed by id: a repeat would be silently merged.
            if problem.id in seen:
                raise BadRow("duplicate_id", problem.id)
        except BadRow as error:
            report.skip(index, error)
            continue
        except (TypeError, AttributeError, KeyError, ValueError) as error:
            # A field of a shape no adapter check foresaw: still a bad row, counted, not a crash.
            report.skip(index, BadRow("malformed_row", f"{error.__class__.__name__}: {error}"))
            continue
        seen.add(problem.id)
        if wanted and problem.difficulty.upper() not in wanted:
            report.filtered_out[problem.difficulty or "(none)"] += 1
            continue
        if cfg.since and not _on_or_after(problem, cfg.since):
            report.before_since += 1
            continue
        if report.left_out < cfg.skip:
            report.left_out += 1
            continue
        report.problems.append(problem)
        if cfg.limit is not None and len(report.problems) >= cfg.limit:
            break
    return report


Row = dict[str, Any] | BadRow


def _on_or_after(problem: Problem, since: date) -> bool:
    """Whether the problem's contest was on or after `since`; an undated problem is not."""
    try:
        return date.fromisoformat(str(problem.metadata.get("contest_date", ""))[:10]) >= since
    except ValueError:
        return False


def _generated_rows(cfg: DataConfig) -> tuple[str, Iterator[tuple[int, Row]]]:
    """listops: data.limit sets the size (rows are generated until that many are selected), else the
    split's default size."""
    if cfg.path:
        raise UserError(f"listops is generated, there is no file to read: drop data.path ({cfg.path})")
    wanted = {d.upper() for d in cfg.difficulty}
    if wanted and not wanted & set(DIFFICULTY_WEIGHTS):
        # Generation would never end: no row can match.
        raise UserError(
            f"listops difficulties are {', '.join(DIFFICULTY_WEIGHTS)} (got {', '.join(cfg.difficulty)})"
        )
    size = None if cfg.limit is not None else SPLIT_SIZES.get(cfg.split)
    return f"listops ({cfg.split}, seed {cfg.seed})", listops_rows(cfg.seed, cfg.split, size)


def _read_rows(cfg: DataConfig, spec: DatasetSpec) -> tuple[str, Iterator[tuple[int, Row]]]:
    """The rows of a bundled, local or hub dataset, and where they come from."""
    if cfg.dataset == "sample":
        if cfg.path:
            raise UserError(
                f"data.path is set ({cfg.path}): say which format it holds with --dataset (taco, apps, jsonl, ...)"
            )
        if cfg.split != "train":
            raise UserError(f"the sample dataset has one split, 'train' (got {cfg.split!r})")
        path: Path | None = SAMPLE_PATH
    else:
        path = Path(cfg.path) if cfg.path else None
    hub_id = cfg.hub_id or spec.hub_id
    if path is None and hub_id is None:
        raise UserError(f"dataset {cfg.dataset!r} has no hub id: pass data.path (--path)")
    if path:
        rows = _local_rows(path, cfg.split)
    else:
        files = spec.hub_files if hub_id == spec.hub_id else None  # another repo: its own layout
        limit = cfg.limit + cfg.skip if cfg.limit is not None else None
        rows = _hub_rows(hub_id, cfg.subset or spec.subset, files, cfg.split, limit)
    return (str(path) if path else f"{hub_id} ({cfg.split})"), rows


_ROW_FILES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".parquet", ".arrow")


def _row_file_type(path: Path) -> str:
    """ ".jsonl.gz" for `HumanEval.jsonl.gz` (gzip-compressed JSON, as openai/human-eval and EvalPlus ship
    their files), else the suffix."""
    return "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix


def _local_rows(path: Path, split: str) -> Iterator[tuple[int, Row]]:
    if not path.exists():
        raise UserError(f"no such file or directory: {path}")
    if path.is_dir():
        yield from _directory_rows(path, split)
    elif _row_file_type(path) in (".jsonl", ".json", ".jsonl.gz", ".json.gz"):
        yield from enumerate(_json_rows(path))
    elif path.suffix == ".parquet":
        yield from enumerate(_parquet_rows(path))
    elif path.suffix == ".arrow":
        yield from enumerate(_arrow_rows(path))
    else:
        raise UserError(
            f"{path}: unsupported file type {_row_file_type(path)!r} (use {', '.join(_ROW_FILES)} or a directory)"
        )


def _directory_rows(path: Path, split: str) -> Iterator[tuple[int, Row]]:
    """A `save_to_disk` directory, a split subdirectory (TACO's hub layout), or a folder of shards."""
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        from datasets import DatasetDict, load_from_disk

        try:
            data = load_from_disk(str(path))
        except Exception as exc:  # a damaged dataset_dict.json / state.json, missing shards, ...
            raise UserError(f"{path}: not a readable `save_to_disk` directory ({first_line(exc)})") from None
        if isinstance(data, DatasetDict):
            if split not in data:
                raise UserError(f"{path}: no split {split!r} (has {', '.join(data)})")
            data = data[split]
        yield from enumerate(data)
        return
    if (path / split).is_dir():
        path = path / split
    shards = sorted(p for p in path.iterdir() if _row_file_type(p) in _ROW_FILES)
    if not shards:
        raise UserError(f"{path}: no {', '.join(_ROW_FILES)} files")
    offset = 0
    for shard in shards:
        count = 0
        for index, row in _local_rows(shard, split):
            count = index + 1
            yield offset + index, row
        offset += count


def _json_rows(path: Path) -> Iterator[Row]:
    """JSON Lines; a `.json` file may instead hold one array of rows (as HumanEval and MBPP are often shared).

    Rows are decoded one line at a time, so a line that is not UTF-8 or not JSON is one bad row, not a
    failed file.
    """
    if _row_file_type(path) in (".json", ".json.gz"):
        rows = _json_array(path)
        if rows is not None:
            yield from (_as_row(row) for row in rows)
            return
    with _open_bytes(path) as lines:
        number = 0
        try:
            for number, raw in enumerate(lines):
                if number == 0:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a BOM is not part of row 0
                if not raw.strip():
                    continue
                try:
                    yield _as_row(json.loads(raw.decode("utf-8")))
                except UnicodeDecodeError as exc:
                    yield BadRow("invalid_utf8", f"byte {exc.start} of the line is not UTF-8")
                except (json.JSONDecodeError, RecursionError) as exc:
                    yield BadRow("invalid_json", exc.__class__.__name__)
        except (OSError, EOFError) as exc:  # a gzip file cut short or damaged: the rows before it stand
            yield BadRow("unreadable_file", f"after line {number + 1}: {first_line(exc)}")


def _json_array(path: Path) -> list[Any] | None:
    """The rows of a file that is one JSON array, else None (it is then read as JSON Lines)."""
    try:
        with _open_bytes(path) as f:
            if f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"[":
                return None
        with _open_bytes(path) as f:
            rows = json.loads(f.read().decode("utf-8-sig"))
    except (OSError, EOFError) as exc:  # a gzip file cut short: one array cannot be read in part
        raise UserError(f"{path}: the file is cut short or damaged ({first_line(exc)})") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return rows if isinstance(rows, list) else None


def _open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is gzip's. A damaged archive is a one-line error."""
    if path.suffix != ".gz":
        return path.open("rb")
    import gzip

    stream = gzip.open(path, "rb")
    try:
        stream.peek(1)
    except (OSError, EOFError) as exc:
        stream.close()
        raise UserError(f"{path}: not a readable gzip file ({first_line(exc)})") from None
    return stream  # type: ignore[return-value]


def _as_row(value: Any) -> Row:
    return (
        value
        if isinstance(value, dict)
        else BadRow("invalid_json", f"a row must be an object, got {type(value).__name__}")
    )


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=256)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged file
        raise UserError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from None
    for batch in batches:
        yield from batch.to_pylist()


def _arrow_rows(path: Path) -> Iterator[dict[str, Any]]:
    from datasets import Dataset

    try:
        data = Dataset.from_file(str(path))
    except Exception as exc:
        raise UserError(f"{path}: not a readable Arrow file ({exc.__class__.__name__})") from None
    yield from data


def _hub_rows(
    hub_id: str, subset: str | None, files: tuple[str, str] | None, split: str, limit: int | None
) -> Iterator[tuple[int, Row]]:
    import datasets

    streaming = limit is not None  # then only the rows `limit` needs are read, not the whole dataset
    try:
        if files:
            builder, pattern = files
            data_files = {split: f"hf://datasets/{hub_id}/{pattern.format(split=split)}"}
            data = datasets.load_dataset(builder, data_files=data_files, split=split, streaming=streaming)
        else:
            data = datasets.load_dataset(hub_id, subset, split=split, streaming=streaming)
        rows = iter(data)
        first = next(rows, None)
    except Exception as exc:  # the hub's errors are many and long; one line is what the user needs
        raise UserError(
            f"cannot load {hub_id!r} split {split!r} from the hub ({first_line(exc)[:200]}); download it and pass --path"
        ) from None
    if first is None:
        return
    yield 0, first
    yield from enumerate(rows, start=1)
