"""`coder-rl search`: best-of-N, PRM beam search and MCTS at inference, each selection, the scaling curve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coder_rl.cli.options import ConfigFile, Sets, data_options


@data_options
def search(
    config: ConfigFile = None,
    sets: Sets = None,
    out: Annotated[Path | None, typer.Option(help="The output directory (default: output_dir).")] = None,
    *,
    data: dict[str, Any],
) -> None:
    """Sample candidates per budget with each method, select one with each aggregation, and report the
    selected programs' pass rate on the hidden tests against tokens generated.

    Writes OUT/results.json, OUT/scaling.png and OUT/rows.jsonl (rerun the same command to resume).
    """
    from rich.console import Console
    from rich.markdown import Markdown

    from coder_rl.config import load_config
    from coder_rl.search.run import SearchConfig, run_search, search_table

    flags = {**data, "output_dir": str(out) if out else None}
    cfg = load_config(SearchConfig, config, sets, flags)
    results = run_search(cfg)
    Console().print(Markdown(search_table(results)))
    print(
        f"{results['problems']} problems, selection tests: {results['selection_tests']}; "
        f"wrote {cfg.output_dir}/results.json and {cfg.output_dir}/scaling.png"
    )
