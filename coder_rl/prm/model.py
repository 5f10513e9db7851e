"""The process reward model: a causal LM that, after each step, scores P("+") at a step-tag token.

The tag is a special token inserted by id between separately tokenized steps, never searched for in
the tokenized text: whatever a step ends with, a byte-level BPE cannot merge the tag into it, so its
positions are exactly where the steps end (OpenR's users hit "tag not found" when a tag written as
text merged with the characters before it). At each tag the model's logits over two label tokens,
"+" and "-", give the step's score, P("+").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from coder_rl.trajectory import prm_pieces
from pseudocode import Step

STEP_TAG = "<|step|>"
PRM_SETTINGS = "prm.json"  # beside a trained PRM's weights: what scoring must repeat from training
GOOD, BAD = "+", "-"
StepReduction = Literal["min", "last", "product", "mean"]


@dataclass
class PRMInput:
    input_ids: list[int]
    tag_positions: list[int]  # one per step, where its score is read


def prepare_tokenizer(tokenizer: Any) -> tuple[int, int, int]:
    """Add the step tag as a special token if needed; return (tag id, "+" id, "-" id)."""
    if STEP_TAG not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [STEP_TAG]})
    ids = []
    for label in (GOOD, BAD):
        encoded = tokenizer.encode(label, add_special_tokens=False)
        if len(encoded) != 1:
            raise ValueError(f"the tokenizer splits the label {label!r} into {len(encoded)} tokens")
        ids.append(encoded[0])
    return tokenizer.convert_tokens_to_ids(STEP_TAG), ids[0], ids[1]


def prm_base(base_model: str | Path, dtype: Any = None) -> tuple[Any, Any, tuple[int, int, int]]:
    """Where a PRM starts: `base_model` and its tokenizer with the step tag added to the vocabulary (the
    embeddings resized to match), and the (tag, "+", "-") token ids."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    ids = prepare_tokenizer(tokenizer)
    model = AutoModelForCausalLM.from_pretrained(
        base_model, **({"dtype": dtype} if dtype is not None else {})
    )
    model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer, ids


def init_prm(base_model: str | Path, out: Path, max_length: int | None = None) -> Path:
    """A PRM in shape, untrained (`prm_base`), saved to `out`: where `coder-rl prm train` would start;
    tests and benchmarks score with it as it is."""
    model, tokenizer, _ = prm_base(base_model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if max_length is not None:
        (Path(out) / PRM_SETTINGS).write_text(json.dumps({"max_length": max_length}))
    return Path(out)


def build_input(tokenizer: Any, prompt: str, steps: Sequence[Step], tag_id: int, max_length: int) -> PRMInput:
    """Prompt (the problem's statement), then each step followed by the tag, tokenized piece by piece
    (`coder_rl.trajectory.prm_pieces`: training and scoring read the same text). Steps that would not
    fit in `max_length` are cut from the end (their scores are then missing: fewer tags than steps)."""
    stated, *pieces = prm_pieces(prompt, steps)
    # split_special_tokens: text that spells a special token (the tag itself, say) stays plain text.
    ids = tokenizer.encode(stated, add_special_tokens=False, split_special_tokens=True)
    tags = []
    for text in pieces:
        piece = tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)
        if len(ids) + len(piece) + 1 > max_length:
            break
        ids += piece + [tag_id]
        tags.append(len(ids) - 1)
    return PRMInput(ids, tags)


def step_scores(logits: Any, tag_positions: Sequence[int], good_id: int, bad_id: int) -> Any:
    """P("+") against "-" at each tag: logits is (sequence, vocab) for one input."""
    import torch

    pair = logits[list(tag_positions)][:, [good_id, bad_id]]
    return torch.softmax(pair.float(), dim=-1)[:, 0]


def reduce_steps(scores: Sequence[float], how: StepReduction) -> float:
    """One score for a whole trajectory: its weakest step, its last, their product or their mean."""
    if not scores:
        return 0.0
    if how == "min":
        return min(scores)
    if how == "last":
        return scores[-1]
    if how == "product":
        product = 1.0
        for s in scores:
            product *= s
        return product
    return sum(scores) / len(scores)


class PRM:
    """A trained PRM, loaded by path: `PRM(path).score(*coder_rl.trajectory.prm_input(problem, steps))`."""

    def __init__(
        self, model_path: str, device: str = "cpu", max_length: int | None = None, batch_size: int = 8
    ) -> None:
        """`max_length` defaults to the one the PRM was trained with (`prm.json` beside its weights)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if max_length is None:
            settings = Path(model_path) / PRM_SETTINGS
            max_length = json.loads(settings.read_text())["max_length"] if settings.is_file() else 2048

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tag_id, self.good_id, self.bad_id = prepare_tokenizer(self.tokenizer)
        self.model = AutoModelForCausalLM.from_pretrained(model_path).to(device).eval()
        self.device, self.max_length, self.batch_size = device, max_length, batch_size
        self._torch = torch

    def score_batch(self, items: Sequence[tuple[str, Sequence[Step]]]) -> list[list[float]]:
        """Per trajectory, each step's P("+"), in one forward pass per `batch_size` trajectories.

        Trajectories of similar length share a batch (less padding), and only the two label rows of the
        LM head are applied, only at the tags: a full vocabulary at every position is most of a large
        model's scoring cost."""
        torch = self._torch
        inputs = [build_input(self.tokenizer, p, s, self.tag_id, self.max_length) for p, s in items]
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i].input_ids))
        head = self.model.get_output_embeddings()
        labels = head.weight[[self.good_id, self.bad_id]]  # (2, hidden)
        bias = head.bias[[self.good_id, self.bad_id]] if getattr(head, "bias", None) is not None else 0
        pad = self.tokenizer.pad_token_id or 0
        out: list[list[float]] = [[] for _ in inputs]
        for start in range(0, len(order), self.batch_size):
            batch = [inputs[i] for i in order[start : start + self.batch_size]]
            width = max(len(i.input_ids) for i in batch)
            ids = torch.tensor(
                [i.input_ids + [pad] * (width - len(i.input_ids)) for i in batch], device=self.device
            )
            mask = torch.tensor(
                [[1] * len(i.input_ids) + [0] * (width - len(i.input_ids)) for i in batch], device=self.device
            )
            with torch.no_grad():
                hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
                for index, row, item in zip(order[start:], hidden, batch, strict=False):
                    pair = row[item.tag_positions] @ labels.T + bias  # logits of "+" and "-" at each tag
                    out[index] = torch.softmax(pair.float(), dim=-1)[:, 0].tolist()
        return out

    def score(
        self, prompt: str, steps: Sequence[Step], how: StepReduction | None = None
    ) -> list[float] | float:
        scores = self.score_batch([(prompt, steps)])[0]
        return scores if how is None else reduce_steps(scores, how)
