"""The count metrics' pipeline under ``torch.compile``: with ``validate=False``, checking the label maps
(:func:`segbench._checks.check_label_maps`), counting (:func:`segbench.counts.confusion_counts`) and scoring
(:func:`segbench.metrics.count_scores.from_confusion`) trace as one graph (``fullgraph=True``), equal to the public
metric functions in eager mode, and read nothing on the host in eager mode."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from segbench import metrics as M
from segbench._checks import check_label_maps
from segbench.counts import confusion_counts
from segbench.metrics.count_scores import from_confusion

NAMES = M.overlap.names()


PARAMS = {"fbeta": {"beta": 2.0}, "tversky": {"alpha": 0.3, "beta": 0.7}}  # given to both sides alike


def _pipeline(name: str, kw: dict[str, Any]):  # the public function's path, with the checks of values off
    def score(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        lm = check_label_maps(
            pred, target, num_classes=kw.get("num_classes"), multilabel=kw.get("multilabel", False),
            ignore_index=kw.get("ignore_index"), validate=False,
        )
        return from_confusion(
            confusion_counts(lm, per_image=kw.get("per_image", False)), name, binary=lm.binary,
            multilabel=lm.multilabel, per_image=kw.get("per_image", False),
            include_background=kw.get("include_background", True), **PARAMS.get(name, {}),
        )

    return score


def _case(mode: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    g = torch.Generator().manual_seed(0)
    if mode == "binary":
        return torch.rand(2, 9, 8, generator=g) < 0.4, torch.rand(2, 9, 8, generator=g) < 0.4, {}
    if mode == "multilabel":
        p, t = torch.rand(2, 3, 9, 8, generator=g) < 0.4, torch.rand(2, 3, 9, 8, generator=g) < 0.4
        return p.long(), t.long(), {"multilabel": True, "include_background": False}
    p, t = torch.randint(0, 3, (2, 9, 8), generator=g), torch.randint(0, 3, (2, 9, 8), generator=g)
    t[0, :2] = 255
    return p, t, {"num_classes": 3, "ignore_index": 255, "per_image": mode == "per_image"}


@pytest.mark.slow  # 33 compilations: about 10 s
@pytest.mark.parametrize("mode", ["binary", "multiclass", "per_image", "multilabel"])
@pytest.mark.parametrize("name", NAMES)
def test_compiled_count_pipeline_equals_the_metric(name: str, mode: str) -> None:
    p, t, kw = _case(mode)
    torch._dynamo.reset()
    try:
        got = torch.compile(_pipeline(name, kw), fullgraph=True, backend="aot_eager")(p, t)
    finally:
        torch._dynamo.reset()
    want = M.get(name)(p, t, **kw, **PARAMS.get(name, {}))
    torch.testing.assert_close(got, want, equal_nan=True)


def test_one_compiled_count_metric() -> None:
    """The fast subset of the above: Dice per image with ignored pixels, one graph."""
    p, t, kw = _case("per_image")
    torch._dynamo.reset()
    try:
        got = torch.compile(_pipeline("dice", kw), fullgraph=True, backend="aot_eager")(p, t)
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(got, M.dice_score(p, t, **kw), equal_nan=True)


def test_unvalidated_label_maps_read_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    p, t, _ = _case("multiclass")

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a label was read on the host")

    monkeypatch.setattr(torch, "aminmax", forbidden)
    lm = check_label_maps(p, t, num_classes=3, ignore_index=255, validate=False)
    with pytest.raises(AssertionError, match="read on the host"):
        check_label_maps(p, t, num_classes=3, ignore_index=255)
    monkeypatch.undo()
    checked = check_label_maps(p, t, num_classes=3, ignore_index=255)
    assert torch.equal(lm.pred, checked.pred) and torch.equal(lm.target, checked.target)


@pytest.mark.parametrize("per_image", [False, True])
def test_confusion_matrix_without_validation_counts_the_same(per_image: bool) -> None:
    p, t, _ = _case("multiclass")
    checked, trusted = M.ConfusionMatrix(3, ignore_index=255, per_image=per_image), M.ConfusionMatrix(
        3, ignore_index=255, per_image=per_image, validate=False)
    for cm in (checked, trusted):
        cm.update(p, t)
        cm.update(p[:1], t[:1])
    assert torch.equal(checked.compute(per_image=per_image), trusted.compute(per_image=per_image))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        checked.update(p + 1, t)


def test_sync_free_histogram_equals_bincount() -> None:
    """The scatter route (used on accelerators without validation, and when traced) counts as bincount does."""
    from segbench.counts.hard import _pair_histogram, _traced_pair_histogram

    g = torch.Generator().manual_seed(4)
    t, p = torch.randint(0, 4, (3, 50), generator=g), torch.randint(0, 4, (3, 50), generator=g)
    valid = torch.rand(3, 50, generator=g) > 0.3
    for separate in (False, True):
        for v in (None, valid):
            want = _pair_histogram(t, p, 4, v, separate)
            torch.testing.assert_close(_traced_pair_histogram(t, p, 4, v, separate), want)


@pytest.mark.parametrize("name", ["accuracy", "precision", "f1_score", "iou_score", "mcc"])
def test_public_count_metric_compiles_fullgraph_with_validate_false(name: str) -> None:
    """The public functions themselves, with ``validate=False``: one graph (``fullgraph=True`` raises on any
    break), equal to the validating eager call."""
    p, t, kw = _case("multiclass")
    fn = getattr(M, name)
    torch._dynamo.reset()
    try:
        compiled = torch.compile(lambda a, b: fn(a, b, validate=False, **kw), fullgraph=True, backend="aot_eager")
        got = compiled(p, t)
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(got, fn(p, t, **kw), equal_nan=True)

