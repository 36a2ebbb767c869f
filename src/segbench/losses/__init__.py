"""segbench.losses: the loss catalogue."""
