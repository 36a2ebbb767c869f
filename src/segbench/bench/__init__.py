"""segbench.bench."""
