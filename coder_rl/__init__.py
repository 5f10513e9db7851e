"""coder-rl: reinforcement learning for code generation, o1-Coder style.

Kept import-free so that `coder-rl --help` starts fast; the user-facing names live in the subpackages:
`coder_rl.data` (Problem, load_problems), `coder_rl.policy` (load_policy, SamplingParams),
`coder_rl.models` (build_tiny_model), `coder_rl.config` (load_config).
"""

__version__ = "0.1.0"
