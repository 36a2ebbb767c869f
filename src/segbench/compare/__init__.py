"""``segbench compare``: the experiment config, the training loop, the runner that fills a run folder, and the
printed table (one command, one package)."""
