"""The `vllm` backend: vLLM's offline `LLM` engine on local GPUs (the `gpu` extra).

Prefix caching is on by default: in a tree search, siblings share their whole prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from coder_rl.errors import UserError
from coder_rl.policy.base import Completion, PolicyConfig, SamplingParams, render
from coder_rl.prompts import Prompt


class VLLMPolicy:
    def __init__(self, cfg: PolicyConfig) -> None:
        try:
            import vllm
        except ImportError:
            raise UserError("vllm backend: vllm is not installed; pip install 'coder-rl[gpu]'") from None
        self._vllm = vllm
        self.llm = vllm.LLM(
            model=cfg.model,
            dtype=cfg.dtype,
            tensor_parallel_size=cfg.tensor_parallel_size,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            max_model_len=cfg.max_model_len,
            enable_prefix_caching=cfg.enable_prefix_caching,
        )

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        # Passing SamplingParams explicitly means the checkpoint's generation_config.json sampling
        # defaults are not applied, as in the hf backend.
        sampling = self._vllm.SamplingParams(
            n=params.n,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=params.stop or None,
            seed=params.seed,
            # 0: no alternatives, only the sampled token's logprob (from the raw model logits, vLLM's default)
            logprobs=0 if params.logprobs else None,
        )
        tokenizer = self.llm.get_tokenizer()
        # chat messages as the token ids of their rendered template, which holds its own special tokens
        inputs = [
            p
            if isinstance(p, str)
            else {"prompt_token_ids": tokenizer.encode(render(tokenizer, p), add_special_tokens=False)}
            for p in prompts
        ]
        outputs = self.llm.generate(inputs, sampling, use_tqdm=False)
        return [
            [
                Completion(
                    text=choice.text,
                    num_tokens=len(choice.token_ids),
                    finish_reason="length" if choice.finish_reason == "length" else "stop",
                    prompt_tokens=len(output.prompt_token_ids),
                    token_logprobs=(
                        [
                            step[token].logprob
                            for token, step in zip(choice.token_ids, choice.logprobs, strict=True)
                        ]
                        if params.logprobs
                        else None
                    ),
                )
                for choice in output.outputs
            ]
            for output in outputs
        ]

    def close(self) -> None:
        if not hasattr(self, "llm"):  # closed already
            return
        from vllm.distributed import cleanup_dist_env_and_memory

        del self.llm
        cleanup_dist_env_and_memory()  # frees the GPU memory and the parallel groups for a next engine
