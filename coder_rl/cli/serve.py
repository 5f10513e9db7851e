"""`coder-rl serve`: the verifier API (sandbox, TCG, PRM) over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coder_rl.cli.options import ConfigFile, Sets


def serve(
    config: ConfigFile = None,
    sets: Sets = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="CODER_RL_API_KEY", help="Bearer token; required off loopback.")
    ] = None,
    tcg: Annotated[
        Path | None, typer.Option(help="A TCG from `coder-rl tcg train` (/v1/tests/generate).")
    ] = None,
    prm: Annotated[
        Path | None, typer.Option(help="A PRM from `coder-rl prm train` (/v1/score_steps).")
    ] = None,
) -> None:
    """Serve /v1/execute, /v1/tests/generate, /v1/verify, /v1/score_steps, /health and /metrics
    (OpenAPI at /docs). Models load once at start-up; SIGTERM lets requests in flight finish."""
    import uvicorn

    from coder_rl.config import load_config
    from coder_rl.serve.app import ServeConfig, check_bind, create_app

    flags = {
        "host": host, "port": port, "api_key": api_key,
        "verifier.tcg_model": str(tcg) if tcg else None, "verifier.prm": str(prm) if prm else None,
    }  # fmt: skip
    cfg = load_config(ServeConfig, config, sets, flags)
    check_bind(cfg)
    uvicorn.run(
        create_app(cfg), host=cfg.host, port=cfg.port, timeout_graceful_shutdown=cfg.graceful_shutdown_s,
        log_level="info",
    )  # fmt: skip
