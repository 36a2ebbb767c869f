"""Render the report: one self-contained HTML page (figures as base64 PNG, plain CSS, no JavaScript, no network)
and a Markdown summary. Both are built from the same tables (:mod:`segbench.report.tables`) and sentences
(:mod:`segbench.report.findings`).
"""

from __future__ import annotations

import base64
import html
import platform
from importlib import metadata
from typing import Any

from segbench.report.analysis import Analysis
from segbench.report.calibration import overconfidence_notes, temperature_table
from segbench.report.findings import (
    answer,
    baseline_notes,
    classic_claim,
    count_notes,
    headline,
    imbalance_notes,
    ranking_notes,
    scope_note,
)
from segbench.report.tables import detail_header, detail_rows, main_header, main_rows
from segbench.report.training import load_training, ranking_caveat, training_notes

__all__ = ["FIGURE_CAPTIONS", "SECTIONS", "class_figure_name", "column_groups", "definitions", "render_html",
           "render_markdown", "versions"]

SECTIONS = [
    ("answer", "The answer"),
    ("findings", "Key findings"),
    ("results", "Results table"),
    ("bars", "Scores per loss and metric"),
    ("statistics", "Statistics per metric"),
    ("rankings", "Rankings"),
    ("distributions", "Per-image distributions"),
    ("curves", "Training curves"),
    ("training", "Training and tuning"),
    ("qualitative", "Qualitative examples"),
    ("calibration", "Calibration and volume bias"),
    ("imbalance", "Class imbalance"),
    ("classes", "Per-class results"),
    ("definitions", "Definitions and versions"),
]
"""(anchor, title) of each HTML section, in order; tests check the page has them all."""

FIGURE_CAPTIONS = {
    "classic": "The classic contrast: pixel accuracy beside Dice per loss (mean over test images of the "
    "seed-averaged scores). Whiskers: the report's bootstrap CI (two-stage over seeds and images with 3 or more "
    "seeds, over images otherwise). Hatched grey bars: trivial baselines.",
    "bars": "Mean test score per loss (seed-averaged per image, then averaged over images; the median where "
    "marked, because a miss makes a mean infinite). Whiskers: paired percentile-bootstrap CI (over seeds "
    "and test images with 3 or more seeds, over test images otherwise). Hatched grey bars: trivial baselines.",
    "ranks": "Rank of each trained loss under each metric (1 = best, boxed). Different colours down a row "
    "mean the metrics disagree about that loss.",
    "distributions": "One dot per test image (score averaged over seeds); boxes show the quartiles of the "
    "finite scores. Undefined (NaN) and missed (inf) images are counted in red at the right.",
    "sensitivity": "Best validation value of the watched metric on the tuning seed against the learning rate, per "
    "loss (log axis); the circled value is the one every seed then trained at.",
    "curves": "Per evaluation (x: optimizer steps), mean over seeds with the min-max band. Loss values are not "
    "comparable between losses (different scales); the validation metrics are.",
    "qualitative": "The test images where the losses' Dice differs most (first seed). Green: true positive, "
    "red: false positive, blue: missed foreground (binary data); class colours with the ground-truth "
    "outline in white (multiclass).",
    "imbalance": "Share of the pixels per class and split.",
    "reliability": "Reliability diagram per loss: per confidence bin (15 equal-width bins of the top-label "
    "confidence, test pixels of every seed pooled), the fraction of pixels labelled right against their mean "
    "confidence; below the diagonal is over-confident. Grey bars: share of the pixels per bin.",
    "volume_bias": "Signed relative volume error (V_pred - V_ref) / V_ref of the foreground per test image "
    "(mean over seeds): right of 0 over-segments, left under-segments; -1 is a missed structure.",
}

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1500px;
       padding: 0 24px 48px; color: #1a1a1a; line-height: 1.45; }
h1 { margin-top: 24px; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
nav ol { columns: 3; font-size: 14px; } .meta { color: #555; font-size: 14px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
tr.trivial td { color: #666; font-style: italic; background: #fafafa; }
td.best { font-weight: bold; background: #e4f5e4; }
.scroll { overflow-x: auto; } figure { margin: 12px 0 24px; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #444; max-width: 1100px; } ul.findings li { margin-bottom: 4px; }
details { margin: 6px 0; } summary { cursor: pointer; font-weight: 600; } code { background: #f4f4f4; }
"""


def class_figure_name(view: str) -> str:
    """The figure name (and PNG file stem) of one view's bar chart in the per-class section.

    Args:
        view: a class name or the foreground-mean view.

    >>> class_figure_name("class 2 / tumour")
    'bars_class_2___tumour'
    """
    return "bars_" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in view)


def versions() -> dict[str, str]:
    """Versions of Python and the packages that computed or drew the numbers (``"absent"`` if not installed)."""
    out = {"python": platform.python_version()}
    for name in ("segbench", "torch", "numpy", "scipy", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def definitions(analysis: Analysis) -> list[tuple[str, str]]:
    """(term, definition) pairs: every knob that decides the numbers, with this run's settings."""
    from segbench.metrics import catalogue

    cfg: dict[str, Any] = analysis.run.config
    ev, train = cfg.get("eval", {}), cfg.get("train", {})
    ds = analysis.run.dataset
    pct = round(100 * analysis.confidence)
    known = set(catalogue.names())
    metric_defs = "; ".join(f"{m}: {catalogue.get_entry(m).description}" for m in analysis.run.metrics if m in known)
    return [
        ("Metrics", metric_defs),
        ("Smoothing", "none in the metrics: textbook formulas (smooth = 0)."),
        ("Empty policy", "count score with empty reference and empty prediction: NaN (undefined), excluded from "
         "means and counted as 'undefined'; a miss (reference non-empty, prediction empty) or a false alarm "
         "(reference empty, prediction non-empty) scores as the failure it is: 0 for precision, recall, Dice, IoU, "
         "MCC and kappa (the chance level of a constant prediction), counted in every mean; distance with exactly "
         "one side empty: inf (counted as 'missed'), kept: a mean with a miss is infinite, so distance metrics "
         "with misses are compared by their median."),
        ("Classes", f"{ds.get('num_classes', '?')} classes {ds.get('class_names', '')}; binary data are scored on the "
         "foreground class only, multiclass data per class (background included in the per-class tables, "
         "excluded from the foreground mean); pixel_accuracy is over all classes."),
        ("Pooling", "per-image: each test image scored, then averaged (the tables' estimate); dataset-level: "
         "counts pooled over the whole test split first (the 'dataset-level' column; count metrics only). "
         "Seeds: per image, the mean over seeds where defined; mean ± SD over seeds of each seed's mean."),
        ("Surfaces and percentiles", "distances between voxel-border surfaces (mask minus its erosion), in pixels "
         "unless the dataset gives a spacing; HD95 is the larger of the two directed 95th percentiles; "
         f"NSD tolerance {ev.get('nsd_tolerance', '?')}."),
        ("Statistics", (f"{pct}% two-stage paired percentile bootstrap: resample the seeds, then the test images "
         if analysis.seed_level else f"{pct}% paired percentile bootstrap over test images (image-level only: "
         "fewer than 3 seeds) ") + f"({analysis.n_boot} resamples, seed 0; "
         "images undefined for any trained loss are dropped so every loss is scored on the same images); "
         f"two-sided paired Wilcoxon signed-rank test of each loss against {analysis.reference} with Holm "
         "correction (* = p_Holm < 0.05); effect size r = matched-pairs rank-biserial (positive: better than the "
         "reference); 'not distinguishable' = the bootstrap CI of best minus runner-up includes 0; 'significantly "
         "worse' than the best = its difference CI excludes 0 and the Holm-corrected Wilcoxon test against the best "
         "rejects; 'metrics disagree' = two metrics prefer opposite losses of a pair, both Holm-significant over "
         "all pairs of the metric."),
        ("Training", f"checkpoint rule {ev.get('select', '?')}; "
         + (f"{train['epochs']} epochs" if train.get("epochs") else
            f"at most {train.get('max_steps', '?')} steps, plateau patience {train.get('patience', '?')} steps")
         + f"; learning rate {train.get('lr', '?')}; seeds {list(analysis.run.seeds)}; model {cfg.get('model', {})}."),
        *_volume_definition(ds, train),
        ("Versions (report)", ", ".join(f"{k} {v}" for k, v in versions().items())),
    ]


def _volume_definition(ds: dict[str, Any], train: dict[str, Any]) -> list[tuple[str, str]]:
    """The data description of a 3D run (none for 2D): shapes, spacing (shared or each case's), normalisation,
    patches and windows, and that nothing was resampled (docs/volumes.md)."""
    if ds.get("spatial_dims") != 3:
        return []
    size, spacing = ds.get("image_size"), ds.get("spacing")
    shapes = ds.get("case_shapes") or {}
    shape_text = ("volumes of one shape " + " x ".join(map(str, size)) + " (Z, Y, X)" if isinstance(size, list)
                  else f"volumes of {len(shapes) or 'several'} shapes (per case, Z, Y, X; e.g. "
                  + "; ".join(f"{k}: {' x '.join(map(str, v))}" for k, v in list(shapes.items())[:3]) + ")")
    if isinstance(spacing, list):
        space_text = "spacing " + " x ".join(f"{v:g}" for v in spacing) + " mm (Z, Y, X), distances in mm"
    elif spacing == "per case":
        cases = ds.get("case_spacing") or {}
        space_text = ("spacing per case from its header, each case's distances in its own mm (e.g. "
                      + "; ".join(f"{k}: {' x '.join(f'{x:g}' for x in v)}" for k, v in list(cases.items())[:3]
                                  if v is not None) + ")")
    else:
        space_text = "no spacing: distances in voxels"
    patch = train.get("patch_size")
    scaled = ("intensities normalised per volume (8-bit / 255, else min-max over the volume)"
              if str(ds.get("spec", "")).startswith("volumes:") else "intensities as the dataset makes them")
    return [("Volumes", f"{shape_text}; {space_text}; {scaled}; nothing resampled: the model trains on voxel grids"
             + (f" with random {' x '.join(map(str, patch))} patches" if patch else "")
             + " and predicts by Gaussian-weighted sliding windows (docs/volumes.md).")]


# ------------------------------------------------------------------------------------------------ HTML
def _e(text: object) -> str:
    return html.escape(str(text))


def _list(items: list[str]) -> str:
    return '<ul class="findings">' + "".join(f"<li>{_e(t)}</li>" for t in items) + "</ul>" if items else ""


TABLE_CHARS = 150
"""Widest table row, in characters of cell text plus 2 per cell of padding (13 px text: about 7 px a character,
so about 1100 px): wider tables are split into several, each repeating the first column, so the page never
scrolls sideways at 1400 px."""


def column_groups(widths: list[int], limit: int = TABLE_CHARS) -> list[list[int]]:
    """Split columns 1.. into consecutive groups whose widths, with column 0's, stay within ``limit``.

    Args:
        widths: each column's width in characters (column 0 is repeated in every group).
        limit: the widest allowed group.

    >>> column_groups([10, 50, 50, 50, 20], limit=120)
    [[0, 1, 2], [0, 3, 4]]
    """
    groups: list[list[int]] = []
    current: list[int] = []
    used = widths[0] if widths else 0
    for k in range(1, len(widths)):
        if current and used + widths[k] > limit:
            groups.append([0, *current])
            current, used = [], widths[0]
        current.append(k)
        used += widths[k]
    if current or not groups:
        groups.append([0, *current])
    return groups


def _table(header: list[str], rows: list[tuple[str, list[tuple[str, bool]]]]) -> str:
    def text(t: str, best: bool) -> str:
        return f"{t} ★" if best else t

    widths = [max([len(h)] + [len(text(*cells[k])) for _, cells in rows if k < len(cells)]) + 2
              for k, h in enumerate(header)]
    out = []
    for group in column_groups(widths):
        head = "".join(f"<th>{_e(header[k])}</th>" for k in group)
        body = []
        for kind, cells in rows:
            tds = "".join(f'<td class="best">{_e(text(*cells[k]))}</td>' if cells[k][1]
                          else f"<td>{_e(cells[k][0])}</td>" for k in group if k < len(cells))
            body.append(f'<tr class="{_e(kind)}">{tds}</tr>')
        out.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
                   "</table></div>")
    return "".join(out)


def _figure(name: str, png: bytes | None, alt: str) -> str:
    if png is None:
        return f"<p><em>No {alt.lower()} (the run folder has no data for it).</em></p>"
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{name}"><img alt="{_e(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(FIGURE_CAPTIONS.get(name, FIGURE_CAPTIONS['bars'] if name.startswith('bars_') else ''))}"
            "</figcaption></figure>")


def _details_tables(analysis: Analysis, view: str) -> str:
    parts = []
    for res in analysis.metric_results(view):
        rows = [(r.kind, [(c, r.is_best and k == 2) for k, c in enumerate(cells)]) for r, cells in detail_rows(res)]
        note = f"paired on {res.n_used} images ({res.n_dropped} dropped: undefined for some loss); statistic: " \
               f"{res.statistic}"
        arrow = {True: "higher is better", False: "lower is better", None: "direction unknown"}[res.higher_is_better]
        parts.append(f"<details open><summary>{_e(res.metric)} ({arrow})</summary><p class=\"meta\">{_e(note)}</p>"
                     f"{_table(detail_header(analysis), rows)}</details>")
    return "".join(parts)


TEMPERATURE_NOTE = ("Temperature scaling: each trained model's logits divided by one temperature T fitted on the "
                    "validation split (minimum NLL); T > 1 softens over-confident probabilities, T < 1 sharpens "
                    "under-confident ones; no prediction changes. Estimate [CI] as in the results table (the "
                    "*_ts metrics have their own tests in the statistics section).")
"""What the temperature-scaling table of the calibration section shows."""


def _temperature_html(analysis: Analysis) -> str:
    table = temperature_table(analysis)
    if table is None:
        return ""
    return (f"<h3>Before and after temperature scaling</h3><p>{_e(TEMPERATURE_NOTE)}</p>{_table(*table)}"
            + _list(overconfidence_notes(analysis, scaled=True)))


def render_html(analysis: Analysis, figures: dict[str, bytes | None]) -> str:
    """The complete report page; ``figures`` maps a figure name (see :data:`FIGURE_CAPTIONS`) to PNG bytes."""
    run = analysis.run
    ds = run.dataset
    title = f"segbench report: {ds.get('name', ds.get('spec', run.root.name))}"
    meta = (f"Run folder <code>{_e(run.root.resolve())}</code> · {len(run.trained)} losses × {len(run.seeds)} seeds · "
            f"{len(run.images)} test images · reference loss <b>{_e(analysis.reference)}</b> · main view: "
            f"<b>{_e(analysis.primary)}</b>")
    nav = "<nav><ol>" + "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t in SECTIONS) + "</ol></nav>"
    verdict = answer(analysis)
    sec: dict[str, str] = {
        "answer": "".join(f"<p>{'<b>' if k == 0 else ''}{_e(t)}{'</b>' if k == 0 else ''}</p>"
                          for k, t in enumerate(verdict)) + f"<p class=\"meta\">{_e(scope_note(analysis))}</p>"
        + "".join(f"<p><b>Caveat:</b> {_e(t)}</p>" for t in ranking_caveat(load_training(run.root)))
        + _figure("classic", figures.get("classic"), "Accuracy beside Dice per loss")
        + f"<p>{_e(classic_claim(analysis))}</p>",
        "findings": _list(headline(analysis)) + _list(ranking_notes(analysis)[:1]) + _list(baseline_notes(analysis)),
        "results": "<p>Estimate [95% CI] per loss and metric (★ = best trained loss; trivial baselines in grey "
        "italics). Details, tests and counts are in the next sections.</p>"
        + _table(main_header(analysis), main_rows(analysis)),
        "bars": _figure("bars", figures.get("bars"), "Grouped bar chart"),
        "statistics": "<h3>Undefined and missed cases, aggregation</h3>" + _list(count_notes(analysis))
        + _details_tables(analysis, analysis.primary),
        "rankings": _list(ranking_notes(analysis)) + _figure("ranks", figures.get("ranks"), "Rank heatmap"),
        "distributions": _figure("distributions", figures.get("distributions"), "Distributions"),
        "curves": _figure("curves", figures.get("curves"), "Training curves"),
        "training": _list(training_notes(load_training(run.root)))
        + _figure("sensitivity", figures.get("sensitivity"), "Learning-rate sensitivity"),
        "qualitative": _figure("qualitative", figures.get("qualitative"), "Qualitative examples"),
        "calibration": _list(overconfidence_notes(analysis)) + _temperature_html(analysis)
        + _figure("reliability", figures.get("reliability"), "Reliability diagrams")
        + _figure("volume_bias", figures.get("volume_bias"), "Volume bias"),
        "imbalance": _list(imbalance_notes(analysis)) + _figure("imbalance", figures.get("imbalance"), "Imbalance"),
        "classes": "".join(
            f"<details><summary>{_e(v)}</summary>{_table(main_header(analysis, v), main_rows(analysis, v))}"
            f"{_figure(class_figure_name(v), figures.get(class_figure_name(v)), f'Bar chart of {v}')}"
            f"{_details_tables(analysis, v)}</details>"
            for v in analysis.views if v != analysis.primary
        ) or "<p>One scored class only: the tables above are per class.</p>",
        "definitions": "<dl>" + "".join(f"<dt><b>{_e(k)}</b></dt><dd>{_e(v)}</dd>" for k, v in definitions(analysis))
        + "</dl>",
    }
    body = "".join(f'<section id="{a}"><h2>{_e(t)}</h2>{sec[a]}</section>' for a, t in SECTIONS)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1><p class=\"meta\">{meta}</p>{nav}{body}"
            "</body></html>\n")


# -------------------------------------------------------------------------------------------- Markdown
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*")


def _md_table(header: list[str], rows: list[tuple[str, list[tuple[str, bool]]]]) -> list[str]:
    """A Markdown table: **bold** best cells, trivial rows in italics."""
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for kind, cells in rows:
        out = []
        for text, best in cells:
            t = _md_cell(text)
            out.append(f"**{t}**" if best else (f"*{t}*" if kind == "trivial" else t))
        lines.append("| " + " | ".join(out) + " |")
    return lines


def render_markdown(analysis: Analysis, figure_files: dict[str, str]) -> str:
    """The summary: findings, the main table, rankings, imbalance, definitions; figures linked by file name."""
    run = analysis.run
    ds = run.dataset
    lines = [f"# segbench report: {ds.get('name', ds.get('spec', run.root.name))}", "",
             f"{len(run.trained)} losses × {len(run.seeds)} seeds, {len(run.images)} test images; reference loss "
             f"`{analysis.reference}`; main view: {analysis.primary}. Full report: `report.html`.", "",
             "## The answer", ""]
    lines += [_md_cell(t) + "\n" for t in answer(analysis)]
    lines += [f"_{_md_cell(scope_note(analysis))}_", ""]
    lines += [f"**Caveat:** {_md_cell(t)}\n" for t in ranking_caveat(load_training(run.root))]
    lines += [_md_cell(classic_claim(analysis)), "", "## Key findings", ""]
    lines += [f"- {_md_cell(t)}" for t in headline(analysis) + baseline_notes(analysis)]
    pct = round(100 * analysis.confidence)
    lines += ["", "## Results", "", f"Estimate [{pct}% CI]; **bold** = best trained loss; trivial baselines "
              "in italics.", ""]
    lines += _md_table(main_header(analysis), main_rows(analysis))
    lines += ["", "## Rankings", ""] + [f"- {_md_cell(t)}" for t in ranking_notes(analysis)]
    lines += ["", "## Undefined and missed cases, aggregation", ""]
    lines += [f"- {_md_cell(t)}" for t in count_notes(analysis)]
    lines += ["", "## Training and tuning", ""] + [f"- {_md_cell(t)}" for t in training_notes(load_training(run.root))]
    lines += ["", "## Calibration", ""] + [f"- {_md_cell(t)}" for t in overconfidence_notes(analysis)]
    scaled_table = temperature_table(analysis)
    if scaled_table is not None:
        lines += ["", _md_cell(TEMPERATURE_NOTE), "", *_md_table(*scaled_table), ""]
        lines += [f"- {_md_cell(t)}" for t in overconfidence_notes(analysis, scaled=True)]
    lines += ["", "## Class imbalance", ""] + [f"- {_md_cell(t)}" for t in imbalance_notes(analysis)]
    lines += ["", "## Figures", ""] + [f"- [{name}]({path})" for name, path in figure_files.items()]
    lines += ["", "## Definitions", ""] + [f"- **{k}**: {_md_cell(v)}" for k, v in definitions(analysis)]
    return "\n".join(lines) + "\n"
