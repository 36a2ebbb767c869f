"""The empty-and-miss policy as properties, over every count metric x average x per_image/pooled x path.

Paths: the library functions (:mod:`segbench.metrics.overlap`), :meth:`segbench.metrics.ConfusionMatrix.score`,
and the scoring rows (:func:`segbench.scoring.score_label_maps`) summarised by ``compare``'s table
(:func:`segbench.compare.table.summarize`, which ``evaluate`` and the report read the same rows of).

1. A miss never scores better than a partial detection of the same structure: ``partial`` is ``miss`` with some
   pixels of the missed class corrected (some true positives, no new false positive), in any aggregate.
2. A false alarm on an empty reference is counted as a failure, never skipped: its (image, class) score is a
   number, and every aggregate of an image holding only it is a number.

Both fail on the code before issue #18 (precision, recall, MCC and kappa were NaN there and the means skipped them).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segbench import metrics as M
from segbench.compare.table import summarize
from segbench.metrics import ConfusionMatrix
from segbench.scoring import score_label_maps

FUNCTIONS = {
    "accuracy": M.accuracy, "balanced_accuracy": M.balanced_accuracy, "precision": M.precision,
    "recall": M.recall, "specificity": M.specificity, "dice": M.f1_score, "iou": M.iou_score,
    "fbeta": M.fbeta_score, "tversky": M.tversky_index, "mcc": M.mcc, "cohen_kappa": M.cohen_kappa,
}
AVERAGES = ("macro", "micro", "weighted")
TABLE = ("pixel_accuracy", "class_accuracy", "balanced_accuracy", "precision", "recall", "specificity", "dice",
         "iou", "fbeta", "tversky", "mcc", "cohen_kappa")
EPS = 1e-12
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def miss_and_partial(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(miss, partial, target, C): class k is in the target of image i, never predicted there by ``miss``;
    ``partial`` labels a non-empty subset of those target pixels k and changes nothing else."""
    c = draw(st.integers(2, 4))
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    cells = st.lists(st.integers(0, c - 1), min_size=n * h * w, max_size=n * h * w)
    target = torch.tensor(draw(cells)).reshape(n, h, w)
    pred = torch.tensor(draw(cells)).reshape(n, h, w)
    i = draw(st.integers(0, n - 1))
    k = draw(st.integers(0, c - 1))
    spot = draw(st.tuples(st.integers(0, h - 1), st.integers(0, w - 1)))
    target[i][spot] = k  # the structure exists
    others = [j for j in range(c) if j != k]
    fill = torch.tensor(draw(st.lists(st.sampled_from(others), min_size=h * w, max_size=h * w))).reshape(h, w)
    miss = pred.clone()
    miss[i] = torch.where(miss[i] == k, fill, miss[i])  # image i: class k never predicted
    where = (target[i] == k).flatten().nonzero().flatten().tolist()
    found = draw(st.lists(st.sampled_from(where), min_size=1, unique=True))
    partial = miss.clone()
    flat = partial[i].flatten()
    flat[found] = k
    partial[i] = flat.reshape(h, w)
    return miss, partial, target, c


def _not_better(miss: float, partial: float, label: str) -> None:
    assert not math.isnan(miss), f"{label}: the miss is undefined (skipped) while the partial detection scores"
    if not math.isnan(partial):
        assert miss <= partial + EPS, f"{label}: miss {miss} > partial detection {partial}"


@SETTINGS
@given(miss_and_partial(), st.booleans())
def test_a_miss_never_beats_a_partial_detection_library_and_confusion_matrix(case, include_background) -> None:
    miss, partial, target, c = case
    cms = {}
    for name, pred in (("miss", miss), ("partial", partial)):
        cm = ConfusionMatrix(c, per_image=True)
        cm.update(pred, target)
        cms[name] = cm
    for metric, fn in FUNCTIONS.items():
        for average in AVERAGES:
            for per_image in (False, True):
                kw = {"num_classes": c, "average": average, "per_image": per_image,
                      "include_background": include_background or metric == "balanced_accuracy"}
                if not kw["include_background"] and c < 2:
                    continue
                label = f"{metric} {average} per_image={per_image} background={kw['include_background']}"
                _not_better(float(fn(miss, target, **kw)), float(fn(partial, target, **kw)), label)
                kw.pop("num_classes")
                _not_better(float(cms["miss"].score(metric, **kw)), float(cms["partial"].score(metric, **kw)),
                            "ConfusionMatrix " + label)


def _table(pred: torch.Tensor, target: torch.Tensor, c: int) -> dict[str, float]:
    rows = score_label_maps(pred, target, num_classes=c, binary=False, metrics=TABLE)
    for r in rows:
        r.update(model="m", kind="trained", seed=0)
    (summary,) = summarize(rows, background=None, metrics=TABLE)
    return summary.mean


@SETTINGS
@given(miss_and_partial())
def test_a_miss_never_beats_a_partial_detection_scoring_and_table(case) -> None:
    miss, partial, target, c = case
    a, b = _table(miss, target, c), _table(partial, target, c)
    for metric in TABLE:
        _not_better(a[metric], b[metric], f"table {metric}")


@st.composite
def false_alarm(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    """A binary image whose reference is empty and whose prediction is not."""
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    cells = draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w).filter(any))
    return torch.tensor(cells).reshape(1, h, w), torch.zeros(1, h, w, dtype=torch.bool)


@SETTINGS
@given(false_alarm())
def test_a_false_alarm_is_counted_never_skipped(case) -> None:
    pred, target = case
    for metric, fn in FUNCTIONS.items():
        cell = fn(pred, target, average="none", per_image=True)
        assert not torch.isnan(cell).any(), f"{metric}: a false alarm is undefined"
        for average in AVERAGES:
            for per_image in (False, True):
                got = float(fn(pred, target, average=average, per_image=per_image))
                assert not math.isnan(got), f"{metric} {average} per_image={per_image}: a false alarm skipped"
        if metric not in ("accuracy", "specificity", "balanced_accuracy"):
            assert float(fn(pred, target)) <= 0.0, f"{metric}: a false alarm is not scored as a failure"
    rows = score_label_maps(pred.long(), target.long(), num_classes=2, metrics=TABLE)
    assert not any(math.isnan(r["value"]) for r in rows), [r for r in rows if math.isnan(r["value"])]


def test_the_issue_examples() -> None:
    """#18: a false alarm on an empty image lowers per-image weighted F1 (was 1.0); with MCC 0.9 on the other
    classes a missed class lowers the macro mean below a half-found one (was: the miss left it at 0.9)."""
    pred, target = torch.tensor([[1, 0], [1, 0]]), torch.tensor([[1, 0], [0, 0]])
    assert float(M.f1_score(pred, target, per_image=True, average="weighted")) == 0.5
    assert float(M.f1_score(pred, target, per_image=True, average="macro")) == 0.5
    # three classes, class 2 present in the target, never predicted: precision 0, not a skipped NaN
    target = torch.tensor([[0, 0, 1, 1, 2, 2]])
    pred = torch.tensor([[0, 0, 1, 1, 1, 1]])
    assert M.precision(pred, target, num_classes=3, average="none").tolist() == [1.0, 0.5, 0.0]
    assert float(M.precision(pred, target, num_classes=3)) == pytest.approx(0.5)
    assert float(M.precision(pred, target, num_classes=3, strict_undefined=True)) == pytest.approx(0.75)
    assert float(M.mcc(pred, target, num_classes=3, average="none")[2]) == 0.0


def test_torchmetrics_samplewise_weighted_case() -> None:
    """torchmetrics' ``test_samples_with_missing_classes`` (segmentation Dice, one-hot, 3 samples of 4 classes):
    sample 0 finds 9 of 36 pixels of class 1 and 4 of 16 of class 3 (Dice 2*9/45 = 0.4 and 2*4/20 = 0.4);
    sample 1 has only false positives of class 3 (Dice 0, no support); sample 2 is empty everywhere. Per sample
    weighted: 0.4, then 0 (no support: the macro mean of its one defined score, the false alarm's 0), then
    undefined (skipped): (0.4 + 0) / 2 = 0.2. The torchmetrics 1.9 installed here gives 0.2 as well; the test file
    in torchmetrics' repository expects 0.1333 (it scores the empty sample 2 as 0 too: (0.4 + 0 + 0) / 3).
    Before #18 segbench gave 0.4 (sample 1 weighted 0/0, skipped)."""
    target = torch.zeros(3, 4, 10, 10, dtype=torch.bool)
    pred = torch.zeros_like(target)
    target[0, 1, :6, :6], pred[0, 1, :3, :3] = True, True
    target[0, 3, 6:, 6:], pred[0, 3, 8:, 8:] = True, True
    pred[1, 3, :2, :2] = True
    got = M.f1_score(pred, target, multilabel=True, average="weighted", per_image=True)
    assert float(got) == pytest.approx((0.4 + 0.0) / 2)
    assert float(M.f1_score(pred, target, multilabel=True, average="macro", per_image=True)) == pytest.approx(0.2)
    tm = pytest.importorskip("torchmetrics.segmentation")
    theirs = tm.DiceScore(num_classes=4, average="weighted", include_background=True, aggregation_level="samplewise",
                          input_format="one-hot")(pred.to(torch.int8), target.to(torch.int8))
    assert float(theirs) == pytest.approx(float(got), abs=1e-4)
    np.testing.assert_allclose(
        M.f1_score(pred, target, multilabel=True, average="none", per_image=True)[:, 3].numpy(), [0.4, 0.0, np.nan])


def test_evaluate_counts_a_missed_class(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """#18: in ``evaluate``, a class missed completely in 2 of 4 cases showed mean MCC 1.0 (the misses were NaN
    and skipped). Now each miss scores MCC 0 and precision 0: the mean is (1 + 1 + 0 + 0) / 4, nothing undefined."""
    from segbench.evaluate.folders import evaluate_folders
    from segbench.evaluate.per_case import summarize_evaluation

    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    truth = np.zeros((12, 12), dtype=np.uint8)
    truth[2:8, 2:8] = 1
    for k in range(4):
        np.save(tmp_path / "t" / f"c{k}.npy", truth)
        np.save(tmp_path / "p" / f"c{k}.npy", truth if k < 2 else np.zeros_like(truth))
    ev = evaluate_folders(tmp_path / "p", tmp_path / "t", metrics=["mcc", "precision", "dice"])
    (fg,) = [s for s in summarize_evaluation(ev, n_boot=200) if s.name == "foreground"]
    by_metric = {m.metric: m for m in fg.metrics}
    for name in ("mcc", "precision", "dice"):
        assert by_metric[name].summary.mean == pytest.approx(0.5), name
        assert by_metric[name].summary.n_nan == 0, name
    assert fg.missed == 2
