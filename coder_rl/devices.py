"""Which device a model goes on: the one choice every stage makes the same way (core; imports torch
only when called)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from coder_rl.errors import UserError, first_line

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """The device named `name`, checked to exist on this machine. "auto" is this process's GPU (under
    `accelerate launch` each rank's own, from LOCAL_RANK), else the CPU. A bad name is a UserError now,
    before any model loads."""
    import torch

    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        rank = int(os.environ.get("LOCAL_RANK", 0))
        # a launcher that shows each rank only its own GPU still sets LOCAL_RANK: then it is cuda:0
        return torch.device(f"cuda:{rank}" if rank < torch.cuda.device_count() else "cuda:0")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UserError(f"device {name!r} is not available: {torch.cuda.device_count()} CUDA devices visible")
    try:
        torch.empty(0, device=device)  # fail now, rather than after loading the model
    except Exception as exc:  # mps on a machine without it, ...
        raise UserError(f"device {name!r} is not available: {first_line(exc)}") from exc
    return device
