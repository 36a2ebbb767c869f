"""``build_report``: read a run folder, compute the statistics, draw the figures, write the report files.

Every output is written atomically (temporary file + ``os.replace``, :mod:`segbench.files.atomic`), so a killed
rebuild leaves the previous report intact.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from segbench.files.atomic import write_bytes, write_csv, write_text
from segbench.report import calibration as calib
from segbench.report import figures as figs
from segbench.report.analysis import Analysis, analyze
from segbench.report.findings import answer, scope_note
from segbench.report.render import class_figure_name, render_html, render_markdown
from segbench.report.rundata import load_predictions, load_run
from segbench.report.tables import STATISTICS_COLUMNS, statistics_rows
from segbench.report.training import sensitivity_figure

__all__ = ["ReportPaths", "build_report"]


@dataclass(frozen=True)
class ReportPaths:
    """What :func:`build_report` wrote."""

    html: Path
    markdown: Path
    statistics: Path
    figures: dict[str, Path]
    answer: tuple[str, ...] = ()  # the verdict on the primary metric (findings.answer), as printed by compare


def _figures(analysis: Analysis) -> dict[str, Callable[[], Figure | None]]:
    run = analysis.run

    def qualitative() -> Figure | None:
        preds = load_predictions(run, run.trained, run.seeds[0]) if run.seeds else None
        return figs.qualitative(analysis, preds) if preds is not None else None

    per_class = {class_figure_name(v): (lambda v=v: figs.bar_chart(analysis, v))
                 for v in analysis.views if v != analysis.primary}
    return {
        **per_class,
        "bars": lambda: figs.bar_chart(analysis),
        "classic": lambda: figs.classic_bars(analysis),
        "ranks": lambda: figs.rank_heatmap(analysis),
        "distributions": lambda: figs.distributions(analysis),
        "curves": lambda: figs.training_curves(analysis),
        "sensitivity": lambda: sensitivity_figure(analysis),
        "qualitative": qualitative,
        "imbalance": lambda: figs.imbalance(analysis),
        "reliability": lambda: calib.reliability_figure(analysis),
        "volume_bias": lambda: calib.volume_bias_figure(analysis),
    }


def build_report(
    run_dir: str | Path,
    *,
    n_boot: int = 2000,
    quiet: bool = False,
    formats: tuple[str, ...] = ("html", "md"),
    reference: str | None = None,
) -> ReportPaths:
    """Write ``report.html``, ``summary.md``, ``figures/*.png`` and ``results/statistics.csv`` into ``run_dir``.

    Nothing is retrained: everything comes from the run folder's saved results (``docs/run-folder.md``).
    The bootstrap uses seed 0, so rebuilding gives identical numbers.

    Args:
        run_dir: a ``segbench compare`` output folder.
        n_boot: bootstrap resamples for the CIs.
        quiet: no progress lines on stderr.
        formats: which of ``"html"`` and ``"md"`` to write (figures and the CSV are always written).
        reference: the loss the others are tested against (default: the first trained loss).

    Returns:
        the paths written (a format not asked for keeps its would-be path, unwritten).

    Raises:
        segbench.errors.UsageError: the folder is not a complete run folder.
        ValueError: bad ``n_boot``, ``formats`` or ``reference``.
    """
    unknown = set(formats) - {"html", "md"}
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of ('html', 'md'), got {formats!r}")
    start = time.perf_counter()

    def say(text: str) -> None:
        if not quiet:
            print(f"[report {time.perf_counter() - start:5.1f}s] {text}", file=sys.stderr, flush=True)

    root = Path(run_dir)
    run = load_run(root)
    say(f"read {len(run.models)} models x {len(run.seeds)} seeds x {len(run.images)} images")
    analysis = analyze(run, n_boot=n_boot, reference=reference)
    say("statistics done")
    stats_path = write_csv(root / "results" / "statistics.csv", STATISTICS_COLUMNS, statistics_rows(analysis))
    pngs: dict[str, bytes | None] = {}
    paths: dict[str, Path] = {}
    for name, draw in _figures(analysis).items():
        with figs.styled():
            fig = draw()
            pngs[name] = figs.png_bytes(fig) if fig is not None else None
        if pngs[name] is not None:
            paths[name] = write_bytes(root / "figures" / f"{name}.png", pngs[name] or b"")
    say(f"{len(paths)} figures drawn")
    html_path, md_path = root / "report.html", root / "summary.md"
    if "html" in formats:
        write_text(html_path, render_html(analysis, pngs))
    if "md" in formats:
        write_text(md_path, render_markdown(analysis, {k: f"figures/{p.name}" for k, p in paths.items()}))
    say(f"wrote {html_path if 'html' in formats else md_path}")
    return ReportPaths(html_path, md_path, stats_path, paths, (*answer(analysis), scope_note(analysis)))
