"""Problems and dataset adapters (TACO, APPS, CodeContests, HumanEval, MBPP, JSONL, the bundled sample)."""

from coder_rl.data.adapters import BadRow
from coder_rl.data.load import DATASETS, DataConfig, LoadReport, load_problems
from coder_rl.data.problem import Problem

__all__ = ["DATASETS", "BadRow", "DataConfig", "LoadReport", "Problem", "load_problems"]
