"""``segbench evaluate``: score saved predictions on disk against ground truth, per case and class, and summarize."""
