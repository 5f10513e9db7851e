"""Benchmarks that measure what the stages achieve (`coder-rl bench ...`)."""
