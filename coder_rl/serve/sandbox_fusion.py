"""SandboxFusion's `POST /run_code`, for Python: its request and response, field for field (from
bytedance/SandboxFusion's `sandbox/server/sandbox_api.py` and `sandbox/datasets/types.py`), so that
veRL's `sandbox_fusion.url` and any other SandboxFusion client can point at `coder-rl serve`.

The one difference is the one that matters for a reward: a program's own failure (an exception, a
non-zero exit, a timeout, too much memory) is `Failed`, and `SandboxError` means only a fault of the
sandbox's that outlived its retry on a fresh worker. veRL scores SandboxError as an infrastructure fault.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field

from coder_rl.serve.schemas import LimitsIn, capped
from sandbox import Limits, TestResult, Verdict

MAX_CODE = 1_000_000  # characters of a program or its stdin
MAX_FILES = 64


class RunCodeRequest(BaseModel):
    """SandboxFusion's fields and defaults. Unknown keys are ignored, as SandboxFusion ignores them."""

    compile_timeout: float = Field(10, description="unused: Python has no compile step")
    run_timeout: float = Field(10, gt=0, description="seconds; the server's own limit caps it")
    memory_limit_MB: int | None = Field(
        -1, description="megabytes (-1 or null: the server's); capped by the server's"
    )
    code: str = Field(max_length=MAX_CODE)
    stdin: str | None = Field(None, max_length=MAX_CODE)
    language: Literal["python"] = Field(description="SandboxFusion runs 29; coder-rl runs python only")
    files: dict[str, str | None] = Field(
        default_factory=dict,
        max_length=MAX_FILES,
        description="path -> base64 content, written before the run",
    )
    fetch_files: list[str] = Field(
        default_factory=list, max_length=MAX_FILES, description="paths read back after the run (base64)"
    )


class CommandRunStatus(str, Enum):
    FINISHED = "Finished"
    ERROR = "Error"
    TIME_LIMIT_EXCEEDED = "TimeLimitExceeded"


class CommandRunResult(BaseModel):
    status: CommandRunStatus
    execution_time: float | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunStatus(str, Enum):
    SUCCESS = "Success"
    FAILED = "Failed"
    SANDBOX_ERROR = "SandboxError"


class RunCodeResponse(BaseModel):
    status: RunStatus
    message: str
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = Field(default_factory=dict)


def run_limits(body: RunCodeRequest, ceiling: Limits) -> Limits:
    """The request's time and memory, never above the server's (as for every endpoint: `capped`)."""
    memory = body.memory_limit_MB if body.memory_limit_MB and body.memory_limit_MB > 0 else None
    return capped(LimitsIn.model_construct(time_s=body.run_timeout, memory_mb=memory), ceiling)


def with_files(body: RunCodeRequest, marker: str) -> str:
    """The program to run: the request's code as it is, or, with `files` or `fetch_files`, inside a
    wrapper that writes the files into the working directory (the run's scratch, wiped after it), runs
    the code as `__main__` in a namespace of its own, and then (exit or exception included) prints the
    fetched files' base64 after `marker`, a secret of this request, at the end of stdout. Where the
    files go is the sandbox's to allow: a path it does not let the program write fails the run."""
    files = {
        path: data for path, data in body.files.items() if data is not None and "IGNORE_THIS_FILE" not in path
    }
    if not files and not body.fetch_files:
        return body.code
    return _WRAPPER.format(
        files=json.dumps(files), fetch=json.dumps(body.fetch_files), code=body.code, marker=json.dumps(marker)
    )


_WRAPPER = """import base64 as _b64, json as _json, os as _os, sys as _sys
for _path, _data in _json.loads({files!r}).items():
    if _os.path.dirname(_path):
        _os.makedirs(_os.path.dirname(_path), exist_ok=True)
    with open(_path, "wb") as _f:
        _f.write(_b64.b64decode(_data))
try:
    exec(compile({code!r}, "main.py", "exec"), {{"__name__": "__main__", "__builtins__": __builtins__}})
finally:
    _fetched = {{}}
    for _path in _json.loads({fetch!r}):
        if _os.path.isfile(_path):
            with open(_path, "rb") as _f:
                _fetched[_path] = _b64.b64encode(_f.read()).decode()
    _sys.stdout.write("\\n" + {marker} + _json.dumps(_fetched) + "\\n")
    _sys.stdout.flush()
"""


def fetched_files(result: TestResult, marker: str) -> dict[str, str]:
    """The files the wrapper printed, taken off the end of stdout (none when it printed nothing)."""
    at = result.stdout.rfind("\n" + marker)
    if at < 0:
        return {}
    tail = result.stdout[at + 1 + len(marker) :]
    result.stdout = result.stdout[:at]
    try:
        fetched = json.loads(tail)
    except ValueError:
        return {}
    return {k: v for k, v in fetched.items() if isinstance(k, str) and isinstance(v, str)}


def run_code_response(result: TestResult, files: dict[str, str] | None = None) -> RunCodeResponse:
    """SandboxFusion's answer for one captured run (`Sandbox.capture`)."""
    pod = os.environ.get("MY_POD_NAME")  # SandboxFusion reports the same variable
    if result.verdict is Verdict.SANDBOX_ERROR:
        return RunCodeResponse(status=RunStatus.SANDBOX_ERROR, message=result.detail, executor_pod_name=pod)
    timed_out = result.verdict is Verdict.TIMEOUT
    return_code = None if timed_out else result.exit_code
    stderr = result.stderr
    if result.verdict is Verdict.COMPILE_ERROR:  # Python reports it when it runs the file: exit status 1
        return_code, stderr = 1, result.detail + "\n"
    elif return_code is None and not timed_out:  # stopped for its output, or memory past the limit
        return_code = 1
    if result.verdict is not Verdict.PASSED and not stderr.strip():
        stderr = result.detail + "\n"  # say why where a client looks: a signal, a limit
    run = CommandRunResult(
        status=CommandRunStatus.TIME_LIMIT_EXCEEDED if timed_out else CommandRunStatus.FINISHED,
        execution_time=result.wall_s,
        return_code=return_code,
        stdout=result.stdout,
        stderr=stderr,
    )
    ok = result.verdict is Verdict.PASSED
    return RunCodeResponse(
        status=RunStatus.SUCCESS if ok else RunStatus.FAILED,
        message="",
        run_result=run,
        executor_pod_name=pod,
        files=files or {},
    )
