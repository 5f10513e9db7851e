"""The verifier over HTTP: `coder-rl serve` runs `create_app`; `VerifierClient` calls it."""

from coder_rl.serve.app import ServeConfig, create_app
from coder_rl.serve.client import VerifierClient, VerifierError

__all__ = ["ServeConfig", "VerifierClient", "VerifierError", "create_app"]
