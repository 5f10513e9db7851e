"""The sandbox as a config section: every command that runs programs (check, MCTS, RL, serve) opens it here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import Field

from coder_rl.config import Section
from coder_rl.errors import UserError
from sandbox.limits import Limits

if TYPE_CHECKING:
    from sandbox import ProgramResult, Sandbox, TestCase


_DEFAULT = Limits()  # one source for the defaults: sandbox.Limits


class LimitsSection(Section):
    """Per-test limits (see sandbox.Limits)."""

    time_s: float = Field(_DEFAULT.time_s, gt=0, description="CPU seconds per test")
    wall_s: float | None = Field(
        _DEFAULT.wall_s, gt=0, description="wall seconds per test (default 2 × time_s + 1)"
    )
    memory_mb: int = Field(_DEFAULT.memory_mb, gt=0)
    output_bytes: int = Field(_DEFAULT.output_bytes, gt=0)
    file_size_mb: int = Field(_DEFAULT.file_size_mb, gt=0)
    max_open_files: int = Field(_DEFAULT.max_open_files, gt=0)
    max_processes: int = Field(_DEFAULT.max_processes, gt=0)

    def to_limits(self) -> Limits:
        return Limits(**self.model_dump())


class SandboxConfig(Section):
    backend: Literal["local", "docker", "ray", "unsafe"] = "local"
    workers: int | None = Field(None, ge=1, description="warm workers (default: one per core)")
    limits: LimitsSection = LimitsSection()
    fail_fast: bool = False
    stdout_mode: Literal["tokens", "exact"] = "tokens"
    python: str | None = Field(None, description="interpreter inside the sandbox (local: default this one)")
    scratch_mb: int = Field(64, gt=0)
    image: str = "coder-rl-sandbox:latest"
    ray_address: str | None = None
    ray_actors: int | None = Field(None, ge=1)


def open_sandbox(cfg: SandboxConfig) -> Sandbox:
    """Start the configured sandbox; a backend that cannot start is a one-line UserError."""
    from sandbox import Sandbox, SandboxUnavailable

    try:
        return Sandbox(
            backend=cfg.backend,
            workers=cfg.workers,
            limits=cfg.limits.to_limits(),
            fail_fast=cfg.fail_fast,
            stdout_mode=cfg.stdout_mode,
            python=cfg.python,
            scratch_mb=cfg.scratch_mb,
            image=cfg.image,
            ray_address=cfg.ray_address,
            ray_actors=cfg.ray_actors,
        )
    except SandboxUnavailable as exc:
        raise UserError(str(exc)) from None


class BatchRunner(Protocol):
    """What running programs needs of a sandbox: a `Sandbox`, the `Verifier` holding one, or a wrapper
    that times or counts its batches."""

    def run_batch(
        self, batch: Sequence[tuple[str, Sequence[TestCase]]], *, fail_fast: bool | None = None
    ) -> list[ProgramResult]: ...
