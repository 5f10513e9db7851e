"""The reasoning action space: define / refine / generate steps, their prompts, the step format,
a tolerant parser and code extraction. Imports nothing but coder_rl's core types."""

from pseudocode.prompts import STEP_STOP, step_prompt
from pseudocode.steps import (
    Action,
    Step,
    StepParse,
    extract_code,
    fence,
    fenced_blocks,
    format_steps,
    parse_step_body,
    parse_steps,
)

__all__ = [
    "STEP_STOP",
    "Action",
    "Step",
    "StepParse",
    "extract_code",
    "fence",
    "fenced_blocks",
    "format_steps",
    "parse_step_body",
    "parse_steps",
    "step_prompt",
]
