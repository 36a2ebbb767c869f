"""``segbench sweep``: the same losses and protocol as ``compare``, over one dataset at several foreground shares.

A sweep is a TOML file of compare's tables plus a ``[sweep]`` table (:mod:`~segbench.sweep.config`); each share is
one compare experiment in its own subfolder of the sweep folder (:func:`~segbench.sweep.config.share_experiments`),
run by compare's own ``prepare`` and ``run_compare`` (:mod:`~segbench.sweep.runner`), so a sweep resumes per
(share, loss, seed). The report is :func:`segbench.report.sweep.build_sweep_report`.
"""

from __future__ import annotations

from segbench.sweep.config import ShareExperiment, SweepConfig, load_sweep, resolve_sweep, share_experiments
from segbench.sweep.runner import default_sweep_out, run_sweep

__all__ = ["ShareExperiment", "SweepConfig", "default_sweep_out", "load_sweep", "resolve_sweep", "run_sweep",
           "share_experiments"]
