"""`coder-rl`: the command line. Only typer is imported at start-up; commands import what they need."""

from __future__ import annotations

import sys

import typer

from coder_rl.cli import bench, data, evaluate, mcts, model, prm, rl, sandbox, search, selfplay, serve, tcg

app = typer.Typer(
    name="coder-rl",
    help="Reinforcement learning for code generation: datasets, models, sandbox, TCG, MCTS, PRM, RL and self-play.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(tcg.app, name="tcg")
app.add_typer(mcts.app, name="mcts")
app.add_typer(prm.app, name="prm")
app.add_typer(rl.app, name="rl")
app.add_typer(bench.app, name="bench")
app.command()(selfplay.selfplay)
app.command()(search.search)
app.command()(serve.serve)
app.command("eval")(evaluate.evaluate)


def main() -> None:
    """Entry point: a `UserError` becomes one line on stderr and exit status 2, never a traceback."""
    from coder_rl.errors import UserError

    try:
        app()
    except UserError as exc:
        _fail(str(exc))
    except OSError as exc:  # a path the user gave that cannot be read or written (permissions, a full disk)
        _fail(f"{exc.strerror or exc.__class__.__name__}: {exc.filename}" if exc.filename else str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def _fail(message: str) -> None:
    print("error: " + " ".join(message.split()), file=sys.stderr)  # one line, whatever the message held
    sys.exit(2)


if __name__ == "__main__":
    main()
