"""Per-test resource limits, shared by every backend."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

# A worker's whole-memory cap (its cgroup) is the test's memory_mb plus this much for the worker itself.
WORKER_MEMORY_MB = 64


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits applied to each test run of a program.

    `time_s` is CPU time; `wall_s` (default: 2 × time_s + 1) catches programs that sleep or block.
    `memory_mb` caps the address space, `output_bytes` caps stdout and stderr (the run is stopped
    with output_limit past it), `file_size_mb` caps any file the program writes in its scratch.
    """

    time_s: float = 4.0
    wall_s: float | None = None
    memory_mb: int = 512
    output_bytes: int = 8 << 20
    file_size_mb: int = 16
    max_open_files: int = 256
    max_processes: int = 64

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"limits.{field.name} must be a positive number, got {value!r}")

    @property
    def wall(self) -> float:
        return self.wall_s if self.wall_s is not None else 2 * self.time_s + 1

    def to_wire(self) -> dict[str, Any]:
        """The form the worker reads."""
        return {**asdict(self), "wall_s": self.wall}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Limits:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown limits {unknown}")
        return cls(**data)


def cgroup_memory_bytes(limits: Limits) -> int:
    """The memory cgroup's cap for a worker running tests under `limits`: everything a test holds
    (address space, memfd pages, scratch files, pipe buffers) and the idle worker's own ~15 MB."""
    return (limits.memory_mb + WORKER_MEMORY_MB) << 20
