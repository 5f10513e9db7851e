#!/usr/bin/env bash
# Set everything up and run the main job on the embedded defaults: the generated `listops` problems,
# a tiny model built from random weights, CPU only. It trains every stage (SFT, MCTS, PRM, GRPO, PPO,
# TCG, self-play, search) and measures each on held-out problems: one line per stage, then the table.
# Outputs go under runs/; library output under runs/bench-learning-quickstart/logs/ (--verbose shows it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate

coder-rl sandbox check --dataset listops --limit 40
coder-rl bench learning --config configs/bench_learning_quickstart.yaml "$@"
