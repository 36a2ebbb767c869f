"""segbench.metrics: scores on hard label maps (overlap/count metrics and boundary/distance metrics)."""
