"""Many independent runs at once: where each trains (:mod:`~segbench.schedule.placement`), and the engines that run
them (:mod:`~segbench.schedule.engine`: worker processes on this machine, or Ray tasks on a cluster).

The engines know nothing of what a run is: they call a picklable top-level function ``fn(item, placement)`` once
per item, report progress on one bar, retry an item whose worker died (a bounded number of times) and stop the
whole batch with :class:`RunFailed` when an item raises.
"""

from __future__ import annotations

from segbench.schedule.engine import ENGINES, RETRIES, RunFailed, check_engine, run_all
from segbench.schedule.placement import Placement, gpu_fraction, place, threads_each

__all__ = ["ENGINES", "RETRIES", "Placement", "RunFailed", "check_engine", "gpu_fraction", "place", "run_all",
           "threads_each"]
