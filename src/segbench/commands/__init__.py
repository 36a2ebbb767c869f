"""Thin command-line wrappers, one module per ``segbench`` subcommand."""
