#!/usr/bin/env bash
# A virtualenv in .venv-trainers holding the trainers' own client code, side by side with coder-rl:
# veRL 0.9.1 (its SandboxFusion client, its custom_reward_function loader) and OpenRLHF 0.11.2 (its
# remote-reward client), so the tests call coder-rl the way those trainers do. It sees coder-rl and
# .venv's packages (torch, ray, transformers) through a .pth file rather than installing them again:
# both trainers pin whole GPU stacks (flash-attn, vLLM, CUDA torch) that a CPU machine cannot take,
# and the modules used here need none of them. Run after scripts/setup.sh; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-trainers
[ -x $venv/bin/python ] || python3 -m venv $venv
site=$($venv/bin/python -c "import site; print(site.getsitepackages()[0])")
printf '%s\n%s\n' "$(.venv/bin/python -c "import site; print(site.getsitepackages()[0])")" "$PWD" \
  > "$site/coder_rl_env.pth"
quiet() {  # pip's report of the pins left unmet (on purpose: see above) only when pip fails
  local out
  out=$("$@" 2>&1) || { echo "$out" >&2; return 1; }
}
if ! $venv/bin/python -c "import verl, openrlhf" 2>/dev/null; then
  quiet $venv/bin/pip install --no-deps verl==0.9.1 openrlhf==0.11.2
  # what `import verl` and OpenRLHF's agent module need beyond .venv's packages, in veRL's ranges
  quiet $venv/bin/pip install "tensordict>=0.8.0,!=0.9.0,<=0.10.0" omegaconf aiohttp codetiming
fi
