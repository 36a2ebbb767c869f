"""The table ``segbench compare`` prints: calibration columns in a second block, no line wider than the limit."""

from __future__ import annotations

import math

from segbench.compare.table import TABLE_METRICS, TABLE_WIDTH, SummaryRow, format_table, table_metrics


def _row(model: str, kind: str, metrics: list[str]) -> SummaryRow:
    mean = {m: (0.123456 + k) if m != "hd95" else math.inf for k, m in enumerate(metrics)}
    return SummaryRow(model, kind, 3, mean, {m: 0.0123 for m in metrics}, undefined=12, missed=345)


def test_calibration_columns_get_their_own_block_within_the_width() -> None:
    scored = [*TABLE_METRICS, "ece", "brier", "nll", "ap", "ece_ts", "overconfidence"]
    shown = table_metrics(scored)
    assert shown[-5:] == ["ece", "ece_ts", "brier", "nll", "ap"]
    rows = [_row("0.5*bce+0.5*dice", "trained", shown), _row("all-background", "trivial", shown)]
    text = format_table(rows, shown)
    blocks = [b.splitlines() for b in text.split("\n\n")]
    assert all(len(line) <= TABLE_WIDTH for line in text.splitlines())
    assert all(len(b) == 3 and b[0].startswith("model ") for b in blocks)
    # the hard-label columns (mean ± SD of 3 seeds: two blocks here), then one block of probability columns
    assert len(blocks) == 3
    assert "dice ↑" in blocks[0][0] and "hd95 ↓" in blocks[1][0] and blocks[1][0].split()[-2:] == ["nan", "inf"]
    last = blocks[-1]
    assert last[0].split() == ["model", "kind", "ECE", "↓", "ECE", "(T)", "↓", "Brier", "↓", "NLL", "↓", "AP", "↑"]
    assert last[1].startswith("0.5*bce+0.5*dice  trained") and "8.123±0.012" in last[1]
    # one seed (no SD): the hard-label columns fit one block of the usual width
    one = [SummaryRow(r.model, r.kind, 1, r.mean) for r in rows]
    assert len(format_table(one, shown).split("\n\n")) == 2


def test_a_narrow_width_wraps_every_block_and_repeats_the_model_column() -> None:
    shown = table_metrics([*TABLE_METRICS, "ece", "brier"])
    rows = [_row("ce", "trained", shown)]
    text = format_table(rows, shown, width=60)
    blocks = text.split("\n\n")
    assert len(blocks) >= 4
    assert all(b.startswith("model  kind") for b in blocks)
    assert all(len(line) <= 60 for line in text.splitlines())
    headers = " ".join(b.splitlines()[0] for b in blocks)
    for label in ("pixel_acc", "bal_acc", "dice", "iou", "precision", "recall", "hd95", "nsd", "ECE", "Brier"):
        assert headers.count(label + " ") == 1, label
    assert headers.count("nan") == 1  # the counts once, with the hard-label metrics
