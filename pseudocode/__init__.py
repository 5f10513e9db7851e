"""The reasoning action space: define / refine / generate steps, prompts, step format, code extraction (arrives with the MCTS issue)."""
