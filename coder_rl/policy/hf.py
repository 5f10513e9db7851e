"""The `hf` backend: transformers' `generate`. Slow but runs anywhere torch does, CPU included.

Imported only when `load_policy` picks this backend, so torch and transformers are imported at the top.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)

from coder_rl.devices import resolve_device
from coder_rl.errors import UserError, first_line
from coder_rl.policy.base import Completion, PolicyConfig, SamplingParams, encode_prompts, truncate_at_stop
from coder_rl.prompts import Prompt

LOGITS_BYTES = 512 * 2**20  # float32 logits held at once when scoring logprobs (rows x tokens x vocab x 4)


class HFPolicy:
    def __init__(self, cfg: PolicyConfig) -> None:
        self.cfg = cfg
        try:
            self.device = resolve_device(cfg.device)
        except UserError as exc:
            raise UserError(f"hf backend: {exc}") from None
        dtype = _dtype(cfg.dtype)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=dtype)
        except Exception as exc:  # no weights, a bad config.json, out of memory, ...: one line for the user
            raise UserError(f"hf backend: cannot load the model in {cfg.model!r}: {first_line(exc)}") from exc
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(cfg.model)
        except Exception as exc:
            raise UserError(
                f"hf backend: cannot load the tokenizer of {cfg.model!r}: {first_line(exc)}"
            ) from exc
        if len(self.tokenizer) <= len(self.tokenizer.all_special_tokens):
            # transformers builds an empty tokenizer from config.json alone when the tokenizer files are missing
            raise UserError(
                f"hf backend: {cfg.model!r} has no tokenizer (a vocabulary of special tokens only)"
            )
        self.tokenizer.padding_side = "left"  # so every prompt's last token sits right before the new ones
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

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        if not all(prompts):
            raise UserError("hf backend: an empty prompt (a prompt needs at least one token)")
        if params.seed is not None:
            torch.manual_seed(params.seed)  # transformers samples from torch's global generator
        size = self.cfg.batch_size
        return [
            completions
            for start in range(0, len(prompts), size)
            for completions in self._generate_batch(list(prompts[start : start + size]), params)
        ]

    def close(self) -> None:
        if not hasattr(self, "model"):  # closed already
            return
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        batch = encode_prompts(self.tokenizer, prompts).to(self.device)
        prompt_len = batch["input_ids"].shape[1]
        # Like vLLM, never run past the model's context: the completion ends there with reason "length".
        context = getattr(self.model.config.get_text_config(), "max_position_embeddings", None)
        max_tokens = params.max_tokens if context is None else min(params.max_tokens, context - prompt_len)
        if max_tokens < 1:
            raise UserError(
                f"hf backend: a prompt of {prompt_len} tokens leaves no room in the model's context of {context}"
            )
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
        stop = [s for s in params.stop if s]
        sequences = self.model.generate(
            **batch,
            **sampling,
            max_new_tokens=max_tokens,
            num_return_sequences=samples,  # rows: prompt 0's samples, then prompt 1's, ...
            stopping_criteria=StoppingCriteriaList([StopOnStrings(self.tokenizer, stop, prompt_len)])
            if stop
            else None,
        )
        new_tokens = sequences[:, prompt_len:]
        prompt_mask = batch["attention_mask"].repeat_interleave(samples, dim=0)
        logprobs = self._token_logprobs(sequences, prompt_mask) if params.logprobs else None
        prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()

        results: list[list[Completion]] = [[] for _ in prompts]
        for row, ids in enumerate(new_tokens.tolist()):
            completion = self._completion(ids, params.stop, max_tokens)
            completion.prompt_tokens = prompt_tokens[row // samples]
            if logprobs is not None:
                completion.token_logprobs = logprobs[row][: completion.num_tokens]
            results[row // samples].extend(copy.deepcopy(completion) for _ in range(params.n // samples))
        return results

    def _token_logprobs(self, sequences: torch.Tensor, prompt_mask: torch.Tensor) -> list[list[float]]:
        """Logprob of each generated token under the model's raw distribution (before temperature and top_p).

        That is what vLLM (its default `raw_logprobs`) and OpenAI servers return, so all backends agree.
        Scored by a forward pass over the finished sequences, a few rows at a time: generate's
        `output_logits` would keep rows x steps x vocab floats (20 GB for 32 rows of 1024 tokens and a
        152k vocabulary).
        """
        prompt_len = prompt_mask.shape[1]
        steps = sequences.shape[1] - prompt_len
        # The last token predicts nothing we score, so it is left out. Tokens after a row's end (padding)
        # only come after the tokens scored, which causal attention keeps from seeing them: the
        # completion part of the mask can be all ones.
        inputs = sequences[:, :-1]
        mask = torch.cat([prompt_mask, torch.ones_like(sequences[:, prompt_len:-1])], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: every prompt starts at position 0
        targets = sequences[:, prompt_len:, None]
        vocab = self.model.config.get_text_config().vocab_size
        chunk = max(1, LOGITS_BYTES // (steps * vocab * 4))
        scored = []
        for start in range(0, len(sequences), chunk):
            rows = slice(start, start + chunk)
            logits = self.model(
                input_ids=inputs[rows],
                attention_mask=mask[rows],
                position_ids=positions[rows],
                logits_to_keep=steps,  # the last `steps` positions predict the generated tokens
                use_cache=False,
            ).logits
            scored.append(torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[rows]).squeeze(-1))
        return torch.cat(scored).tolist()

    def _completion(self, ids: list[int], stop: list[str], max_tokens: int) -> Completion:
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
        text, stopped = truncate_at_stop(self._decode(ids), stop)
        if stopped:
            ids = ids[: self._tokens_through_stop(ids, stop)]
        hit_length = len(ids) >= max_tokens and not (stopped or ended_by_eos)
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


class StopOnStrings(StoppingCriteria):
    """Ends a row as soon as its generated text contains one of `stop`; the prompt is not looked at.

    transformers' own `stop_strings` matches the prompt and the completion together, so a stop string
    that straddles the prompt's end stops generation at once; vLLM and OpenAI servers match the output.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stop: list[str], prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.prompt_len = prompt_len
        # Checked after every token, so a match ends in the last token. A byte-level token holds at least
        # one byte and a character at most four: the last 4 x len tokens hold any match; +2 for decoders
        # that treat a text's first token specially (SentencePiece drops its leading space).
        self.window = 4 * max(len(s) for s in stop) + 2

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None, **kwargs
    ) -> torch.BoolTensor:
        tails = input_ids[:, self.prompt_len :][:, -self.window :].tolist()
        # One decode per row: batch_decode's thread pool competes with torch's for the cores.
        done = [
            truncate_at_stop(self.tokenizer.decode(tail, skip_special_tokens=True), self.stop)[1]
            for tail in tails
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _dtype(name: str) -> str | torch.dtype:
    """'auto' keeps the checkpoint's dtype; otherwise a floating-point torch dtype name such as 'bfloat16'."""
    if name == "auto":
        return name
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise UserError(f"hf backend: unknown dtype {name!r} (use auto, float32, bfloat16 or float16)")
    return dtype
