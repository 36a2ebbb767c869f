"""segbench.report: the HTML/Markdown report of a ``segbench compare`` run, rebuilt from its saved results.

``build_report(run_dir)`` writes ``report.html`` (self-contained: figures embedded, no JavaScript, opens
offline), ``summary.md``, ``figures/*.png`` and ``results/statistics.csv``. The pieces:
:mod:`~segbench.report.rundata` (read the folder), :mod:`~segbench.report.analysis` (the statistics, via
:mod:`segbench.stats`), :mod:`~segbench.report.findings` (conclusions in words),
:mod:`~segbench.report.tables`, :mod:`~segbench.report.figures`, :mod:`~segbench.report.render`.
"""

from __future__ import annotations

from segbench.report.analysis import Analysis, analyze
from segbench.report.build import ReportPaths, build_report
from segbench.report.rundata import RunData, load_run

__all__ = ["Analysis", "ReportPaths", "RunData", "analyze", "build_report", "load_run"]
