"""`coder-rl rl sft`: warm-start the policy before RL with TRL's SFTTrainer, on
- `correct`: the MCTS's correct reasoning paths;
- `journeys`: its journey-learning traces (failed branches, reflections, then the correct path);
- `references`: the dataset's reference solutions, each with the steps the dataset gives for it
  (`metadata["reference_steps"]`), else as a define step (the program's outline, read from its code)
  and a generate step: a cold start for a policy that solves nothing yet.

Examples are written in the prompts the policy meets later (`coder_rl.trajectory`). A whole trajectory
follows the prompt that RL gives (`policy_prompt`, completion: the rest), and each later step of it
also follows the prompt that the tree search gives for that step (`next_step_prompt`), so a
warm-started policy writes steps where MCTS asks for them. In the chat format an example is the chat
prompt and one assistant message holding the trajectory's steps, its program in the generate step's
fenced block: a chat answer's reasoning in the form the PRM scores.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.training import StageSection, run_args, save_final, train_resuming
from coder_rl.trajectory import (
    DEFAULT_PROMPT,
    OPENING,
    PromptConfig,
    next_step_prompt,
    policy_prompt,
    read_trajectory,
    statement,
    step_completion,
)
from pseudocode import Action, Step, fence, format_steps


class PolicySFTConfig(Section):
    source: Literal["correct", "journeys", "references"] = Field(
        "correct", description="the search's correct paths or journey traces, or the dataset's references"
    )
    synthesized: str = Field(
        "runs/mcts", description="an `mcts synthesize` output directory (correct, journeys)"
    )
    data: DataConfig = Field(DataConfig(), description="the problems whose references to learn (references)")
    references_per_problem: int = Field(2, ge=1)
    model: str = "runs/tiny-model"
    output_dir: str = "runs/policy-sft"
    device: str = "auto"
    seed: int = 0
    prompt: PromptConfig = PromptConfig()
    trainer: StageSection = StageSection()


def trajectory_examples(
    stated: str, text: str, per_step: bool = True, prompt: PromptConfig = DEFAULT_PROMPT
) -> list[dict[str, Any]]:
    """Prompt/completion pairs for one trajectory (`stated`: the problem as `statement` states it). A
    trajectory that does not open with a define step, as every steps prompt asks, gives none. In the
    chat format the pair is conversational, and there are no per-step pairs: only the steps format
    is searched step by step."""
    steps = read_trajectory(text).steps
    if not steps or steps[0].action is not Action.DEFINE or not text.startswith(OPENING):
        return []
    if prompt.format != "steps":
        answer = [{"role": "assistant", "content": text}]
        return [{"prompt": policy_prompt(stated, prompt), "completion": answer}]
    examples: list[dict[str, Any]] = [
        {"prompt": policy_prompt(stated, prompt), "completion": text[len(OPENING) :]}
    ]
    if per_step:
        examples += [
            {
                "prompt": next_step_prompt(stated, steps[:j], step.action, prompt),
                "completion": step_completion(step),
            }
            for j, step in enumerate(steps[1:], start=1)
        ]
    return examples


def outline(code: str) -> str:
    """A define step's text for a reference program: its functions and classes, and what runs at top level."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "MAIN: read the input, compute the answer, print it"
    lines = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines.append(f"FUNCTION {node.name}({', '.join(a.arg for a in node.args.args)})")
        elif isinstance(node, ast.ClassDef):
            methods = [f.name for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
            lines.append(f"CLASS {node.name}: {', '.join(methods) or 'no methods'}")
    if any(not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom)
           for n in tree.body):  # fmt: skip
        lines.append("MAIN: read the input, compute the answer, print it")
    return "\n".join(lines)


def reference_examples(
    problems: list[Problem], per_problem: int, prompt: PromptConfig = DEFAULT_PROMPT
) -> list[dict[str, Any]]:
    examples = []
    for problem in problems:
        for index, code in enumerate(problem.solutions[:per_problem]):
            steps = reference_steps(problem, index) or [
                Step(Action.DEFINE, outline(code)),
                Step(Action.GENERATE, fence(code)),
            ]
            examples += trajectory_examples(statement(problem), format_steps(steps), prompt=prompt)
    return examples


def reference_steps(problem: Problem, index: int) -> list[Step] | None:
    """The steps the dataset gives for solution `index` (`metadata["reference_steps"]`: a list, one per
    solution, each a list of {"action", "text"}), or None where it gives none. Steps that would not
    read back as themselves, or that do not open with a define step, are an error, not skipped."""
    given = problem.metadata.get("reference_steps")
    if not isinstance(given, list) or index >= len(given) or given[index] is None:
        return None
    where, entry = f"problem {problem.id}: metadata.reference_steps[{index}]", given[index]
    actions = {action.value for action in Action}
    if not isinstance(entry, list) or not all(
        isinstance(s, dict) and s.get("action") in actions and isinstance(s.get("text"), str) for s in entry
    ):
        raise UserError(
            f'{where} is not a list of {{"action": "define" | "refine" | "generate", "text": ...}}'
        )
    steps = [Step.from_dict(s) for s in entry]
    if not steps or steps[0].action is not Action.DEFINE:
        raise UserError(f"{where} does not start with a define step")
    if list(read_trajectory(format_steps(steps)).steps) != [Step(s.action, s.text.strip()) for s in steps]:
        raise UserError(f"{where}: a step is empty or holds the step delimiters")
    return steps


def synthesized_examples(
    directory: Path, source: str, prompt: PromptConfig = DEFAULT_PROMPT
) -> list[dict[str, Any]]:
    examples = []
    for path in sorted((directory / source).glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                stated, text = str(record["prompt"]), str(record["completion"])
            except (ValueError, KeyError, TypeError):
                raise UserError(
                    f"{path}:{number}: not a record written by `coder-rl mcts synthesize`"
                ) from None
            examples += trajectory_examples(stated, text, per_step=source == "correct", prompt=prompt)
    return examples


def read_examples(cfg: PolicySFTConfig) -> list[dict[str, Any]]:
    if cfg.prompt.format == "chat_think":  # its template would write the reasoning where it chooses
        raise UserError("prompt.format chat_think is for a model that reasons already; warm-start in chat")
    if cfg.source == "references":
        examples = reference_examples(
            load_problems(cfg.data).require_problems(), cfg.references_per_problem, cfg.prompt
        )
        if not examples:
            raise UserError("no reference solution in the data to learn from")
        return examples
    if not (Path(cfg.synthesized) / "manifest.json").is_file():
        raise UserError(f"synthesized: {cfg.synthesized} is not an `mcts synthesize` output directory")
    examples = synthesized_examples(Path(cfg.synthesized), cfg.source, cfg.prompt)
    if not examples:
        raise UserError(
            f"no {cfg.source} examples under {cfg.synthesized}/{cfg.source}: the search solved nothing there "
            "(a tiny model rarely does); warm-start on source: references first, or use a stronger policy"
        )
    return examples


def run_policy_sft(cfg: PolicySFTConfig) -> tuple[Path, list[float]]:
    """Train; return the final model's directory and the logged losses."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows: list[dict[str, Any]] = read_examples(cfg)
    out = Path(cfg.output_dir)
    args = SFTConfig(
        completion_only_loss=True,  # learn the reasoning, not the problem statement
        **cfg.trainer.model_dump(),
        **run_args(out, cfg.seed, cfg.device),
    )
    trainer = SFTTrainer(model=cfg.model, args=args, train_dataset=Dataset.from_list(rows))
    train_resuming(trainer, out)
    final = save_final(trainer, out)
    return final, [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
