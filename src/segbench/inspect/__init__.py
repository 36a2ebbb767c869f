"""``segbench inspect``: profile a dataset's imbalance, score the trivial predictors, and say which metrics to trust."""
