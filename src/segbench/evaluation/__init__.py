"""segbench.evaluation: score saved predictions on disk (``segbench evaluate``) and profile a dataset's
imbalance, its trivial-predictor scores and the metrics to trust on it (``segbench inspect``)."""
