"""The `hf` backend: transformers' `generate`. Slow but runs anywhere torch does, CPU included.

Imported only when `load_policy` picks this backend, so torch and transformers are imported at the top.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from coder_rl.errors import UserError
from coder_rl.policy.base import Completion, PolicyConfig, SamplingParams, truncate_at_stop


class HFPolicy:
    def __init__(self, cfg: PolicyConfig) -> None:
        self.cfg = cfg
        auto = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(auto if cfg.device == "auto" else cfg.device)
        self.tokenizer = AutoTokenizer.from_pretrained(cfg.model)
        self.tokenizer.padding_side = "left"  # so every prompt's last token sits right before the new ones
        self.model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=_dtype(cfg.dtype))
        self.model.to(self.device).eval()

        # SamplingParams alone decide how to sample, as with vLLM and OpenAI servers: keep only the
        # checkpoint's special tokens, drop its sampling defaults (top_k, repetition_penalty, ...).
        ckpt = self.model.generation_config
        eos = ckpt.eos_token_id if ckpt.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = set(eos) if isinstance(eos, list) else {eos}
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else min(self.eos_ids)
        self.tokenizer.pad_token_id = self.pad_id
        self.model.generation_config = GenerationConfig(
            bos_token_id=ckpt.bos_token_id, eos_token_id=eos, pad_token_id=self.pad_id
        )

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        if params.seed is not None:
            torch.manual_seed(params.seed)  # transformers samples from torch's global generator
        size = self.cfg.batch_size
        return [
            completions
            for start in range(0, len(prompts), size)
            for completions in self._generate_batch(list(prompts[start : start + size]), params)
        ]

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        if params.temperature > 0:
            # top_k=0 turns off transformers' default top-k of 50: OpenAI and vLLM have no top-k here
            sampling = {
                "do_sample": True,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "top_k": 0,
            }
            samples = params.n
        else:  # greedy: one sequence per prompt, copied n times (transformers refuses n > 1 greedy)
            sampling = {"do_sample": False}
            samples = 1
        out = self.model.generate(
            **batch,
            **sampling,
            max_new_tokens=params.max_tokens,
            num_return_sequences=samples,
            stop_strings=params.stop or None,  # ends each sequence as soon as it completes a stop string
            tokenizer=self.tokenizer,
            return_dict_in_generate=True,
            output_logits=params.logprobs,
        )
        new_tokens = out.sequences[:, batch["input_ids"].shape[1] :]
        logprobs = _token_logprobs(out.logits, new_tokens).tolist() if params.logprobs else None
        prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()

        results: list[list[Completion]] = [[] for _ in prompts]
        for row, ids in enumerate(new_tokens.tolist()):  # rows: prompt 0's samples, then prompt 1's, ...
            completion = self._completion(ids, params)
            completion.prompt_tokens = prompt_tokens[row // samples]
            if logprobs is not None:
                completion.token_logprobs = logprobs[row][: completion.num_tokens]
            results[row // samples].extend(copy.deepcopy(completion) for _ in range(params.n // samples))
        return results

    def _completion(self, ids: list[int], params: SamplingParams) -> Completion:
        """Text, token count and finish reason of one generated row, padding and stop strings removed."""
        ended_by_eos = False
        for i, token in enumerate(ids):
            if token in self.eos_ids:  # the EOS token counts (and has a logprob), as in vLLM
                ids, ended_by_eos = ids[: i + 1], True
                break
        else:
            # a row that hit a stop string early is padded to the length of the batch's longest row
            while ids and ids[-1] == self.pad_id:
                ids = ids[:-1]
        text, stopped = truncate_at_stop(self._decode(ids), params.stop)
        if stopped:
            ids = ids[: self._tokens_through_stop(ids, params.stop)]
        hit_length = len(ids) >= params.max_tokens and not (stopped or ended_by_eos)
        return Completion(text=text, num_tokens=len(ids), finish_reason="length" if hit_length else "stop")

    def _tokens_through_stop(self, ids: list[int], stop: list[str]) -> int:
        """Fewest leading tokens whose text contains a stop string (binary search: decoding is the cost).

        The generated tokens are counted up to the one that completes the stop string, as vLLM does.
        """
        lo, hi = 1, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if truncate_at_stop(self._decode(ids[:mid]), stop)[1]:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def _token_logprobs(logits: tuple[torch.Tensor, ...], tokens: torch.Tensor) -> torch.Tensor:
    """Logprob of each generated token under the model's raw distribution (before temperature and top_p).

    That is what vLLM (its default `raw_logprobs`) and OpenAI servers return, so all backends agree.
    """
    steps = [
        torch.log_softmax(step.float(), dim=-1).gather(1, tokens[:, t : t + 1])
        for t, step in enumerate(logits)
    ]
    return torch.cat(steps, dim=1)


def _dtype(name: str) -> str | torch.dtype:
    """'auto' keeps the checkpoint's dtype; otherwise a torch dtype name such as 'bfloat16'."""
    if name == "auto":
        return name
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise UserError(f"hf backend: unknown dtype {name!r} (use auto, float32, bfloat16 or float16)")
    return dtype
