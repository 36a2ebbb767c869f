"""segbench.data."""
