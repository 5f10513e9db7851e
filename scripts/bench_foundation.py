"""Foundation benchmarks: CLI start-up and batched generation, each against a naive baseline in the same run.

    python scripts/bench_foundation.py [--model runs/tiny-model] [--prompts 16] [--n 4] [--max-tokens 128]

Prints a Markdown table (the figures in the README come from it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def median_seconds(cmd: list[str], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_cli() -> list[tuple[str, str, str]]:
    ours = median_seconds([sys.executable, "-m", "coder_rl.cli.main", "--help"])
    eager = median_seconds([sys.executable, "-c", "import torch, transformers, datasets, trl"])
    return [
        ("`coder-rl --help` (median of 7)", f"{ours * 1000:.0f} ms", ""),
        (
            "baseline: a CLI importing torch/transformers/datasets/trl at start-up",
            f"{eager * 1000:.0f} ms",
            f"{eager / ours:.0f}x slower",
        ),
    ]


def bench_generation(model: str, num_prompts: int, n: int, max_tokens: int) -> list[tuple[str, str, str]]:
    from coder_rl.data import DataConfig, load_problems
    from coder_rl.policy import PolicyConfig, SamplingParams, load_policy
    from coder_rl.prompts import CODE_FENCE_STOP, code_prompt

    problems = load_problems(DataConfig(dataset="sample", limit=num_prompts)).problems
    prompts = [code_prompt(p) for p in problems]
    params = SamplingParams(n=n, max_tokens=max_tokens, temperature=1.0, seed=0, stop=[CODE_FENCE_STOP])

    def run(batch_size: int, one_sample_per_call: bool) -> tuple[float, int]:
        policy = load_policy(PolicyConfig(backend="hf", model=model, device="cpu", batch_size=batch_size))
        policy.generate(prompts[:1], params.model_copy(update={"n": 1, "max_tokens": 4}))  # warm-up
        start = time.perf_counter()
        if one_sample_per_call:
            single = params.model_copy(update={"n": 1})
            results = [policy.generate([p], single)[0] for p in prompts for _ in range(n)]
        else:
            results = policy.generate(prompts, params)
        seconds = time.perf_counter() - start
        return seconds, sum(c.num_tokens for samples in results for c in samples)

    label = f"{num_prompts} prompts x {n} samples, {max_tokens} max tokens, stop at the closing fence"
    rows = []
    base_s, base_tok = run(batch_size=1, one_sample_per_call=True)
    ours_s, ours_tok = run(batch_size=num_prompts, one_sample_per_call=False)
    rows.append((f"hf backend, batched ({label})", f"{ours_tok / ours_s:.0f} tokens/s", f"{ours_s:.1f} s"))
    rows.append(
        ("baseline: one generate() call per sample", f"{base_tok / base_s:.0f} tokens/s", f"{base_s:.1f} s")
    )
    rows.append(("speed-up", f"{(ours_tok / ours_s) / (base_tok / base_s):.1f}x", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model path (default: build a tiny model in a temp dir)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    rows = bench_cli()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from coder_rl.models.tiny import TinyModelConfig, build_tiny_model

            model = str(build_tiny_model(Path(tmp) / "tiny", TinyModelConfig(pretrain_steps=100)))
        rows += bench_generation(model, args.prompts, args.n, args.max_tokens)
    print("| measurement | figure | note |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
