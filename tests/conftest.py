"""Shared fixtures. Session-scoped ones are built once per test run, in pytest's temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests are offline by construction: never wait on the Hugging Face hub (subprocesses inherit this too).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 model + tokenizer, briefly pretrained on the bundled sample (~8 s on 2 CPU cores).

    Load it like a hub model: `AutoModelForCausalLM.from_pretrained(tiny_model_dir)`, or
    `load_policy(PolicyConfig(model=str(tiny_model_dir)))`.
    """
    from coder_rl.models import TinyModelConfig, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), TinyModelConfig(pretrain_steps=60))


@pytest.fixture(scope="session")
def tiny_prm_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with the step tag added: a PRM in shape (untrained, its scores are arbitrary)."""
    from coder_rl.prm.model import init_prm

    return init_prm(tiny_model_dir, tmp_path_factory.mktemp("tiny-prm"))


# ---------------------------------------------------------------- sandboxes, shared by the sandbox tests

REPO = Path(__file__).resolve().parents[1]
TEST_LIMITS = {"time_s": 1.0, "wall_s": 3.0, "memory_mb": 256, "output_bytes": 1 << 20}


def _docker_engine_reason() -> str | None:
    """None if a Docker engine answers, else why not."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:  # no SDK, no socket, engine down: all mean the same here
        return f"no Docker engine answers ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
    return None


def _ensure_sandbox_image() -> None:
    """Build the sandbox image offline if the engine lacks it (CI builds it before the tests)."""
    import subprocess

    import docker

    from sandbox.sandbox import DEFAULT_IMAGE

    try:
        docker.from_env().images.get(DEFAULT_IMAGE)
    except docker.errors.ImageNotFound:
        subprocess.run([str(REPO / "docker" / "build-offline.sh"), DEFAULT_IMAGE], check=True)


@pytest.fixture(scope="session")
def docker_client():
    """A client of a running Docker engine that has the sandbox image; skips, saying why, without an engine."""
    reason = _docker_engine_reason()
    if reason:
        pytest.skip(reason)
    _ensure_sandbox_image()
    import docker

    return docker.from_env()


@pytest.fixture(scope="session", params=["local", "docker"])
def box(request: pytest.FixtureRequest):
    """A warm sandbox for each isolating backend, with short limits (tests skip docker only without an engine)."""
    from sandbox import Limits, Sandbox

    if request.param == "docker":
        request.getfixturevalue("docker_client")
    with Sandbox(backend=request.param, workers=2, limits=Limits(**TEST_LIMITS)) as box:
        yield box


@pytest.fixture(scope="session")
def local_box():
    from sandbox import Limits, Sandbox

    with Sandbox(backend="local", workers=2, limits=Limits(**TEST_LIMITS)) as box:
        yield box
