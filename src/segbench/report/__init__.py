"""segbench.report."""
