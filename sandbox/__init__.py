"""Untrusted-code execution: test-case types, the judge and the isolation backends.

This package imports nothing from the rest of coder-rl, so it can be used on its own.
"""

from sandbox.cases import AssertCase, CallCase, StdioCase, TestCase, case_from_dict, case_kind, case_to_dict

__all__ = ["AssertCase", "CallCase", "StdioCase", "TestCase", "case_from_dict", "case_kind", "case_to_dict"]
