"""The `coder-rl` command line; one module per command group."""
