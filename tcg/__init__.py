"""Test-case generator: prompt format, parsing, data building, SFT/DPO training, evaluation (arrives with the TCG issue)."""
