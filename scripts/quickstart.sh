#!/usr/bin/env bash
# Set everything up and run the main job on the embedded defaults: the bundled sample problems,
# a tiny model built locally, CPU only. Outputs go under runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate

[ -f runs/tiny-model/config.json ] || coder-rl model init-tiny runs/tiny-model --config configs/model_init_tiny.yaml
coder-rl data inspect --config configs/data_quickstart.yaml
coder-rl model generate --config configs/generate_quickstart.yaml
coder-rl sandbox check --config configs/sandbox_check_quickstart.yaml
coder-rl tcg train --config configs/tcg_quickstart.yaml
coder-rl tcg generate --config configs/tcg_generate_quickstart.yaml
coder-rl tcg eval --config configs/tcg_eval_quickstart.yaml
coder-rl mcts synthesize --config configs/mcts_quickstart.yaml
coder-rl prm train --config configs/prm_quickstart.yaml
coder-rl rl run --config configs/rl_quickstart.yaml
coder-rl rl run --config configs/rl_ppo_quickstart.yaml
coder-rl rl sft --config configs/rl_sft_quickstart.yaml
coder-rl selfplay --config configs/selfplay_quickstart.yaml
coder-rl search --config configs/search_quickstart.yaml
