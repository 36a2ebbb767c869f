"""Every error path of the metrics' input checks (segbench._checks.check_label_maps and the metric arguments),
each with the message that tells the user what was expected and what was got."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segbench import metrics as M
from segbench._checks import check_label_maps
from segbench.metrics import overlap

L = torch.long
OK = torch.zeros(1, 4, dtype=L)

LABEL_MAP_ERRORS = [
    # (pred, target, kwargs, error, message)
    (torch.rand(1, 4), OK, {}, TypeError,
     r"metrics take hard label maps, but pred is floating point \(torch.float32\); convert logits or "
     r"probabilities first with segbench.metrics.to_labels\(logits\)"),
    (OK, torch.rand(1, 4).double(), {}, TypeError,
     r"but target is floating point \(torch.float64\); pass an integer or bool label map"),
    ([[0, 1]], OK, {}, TypeError, "pred must be a torch.Tensor or numpy.ndarray, got list"),
    (OK, torch.zeros(1, 5, dtype=L), {}, ValueError,
     r"pred and target must have the same shape, got pred \(1, 4\) and target \(1, 5\)"),
    (torch.zeros(4, dtype=L), torch.zeros(4, dtype=L), {}, ValueError,
     r"label maps need a leading batch axis, \(N, \*spatial\); got shape \(4\) \(add one with x\[None\]"),
    (torch.zeros(2, 4, dtype=L), torch.zeros(2, 4, dtype=L), {"multilabel": True}, ValueError,
     r"label maps need a leading batch axis, \(N, C, \*spatial\); got shape \(2, 4\)"),
    (torch.zeros(0, 4, dtype=L), torch.zeros(0, 4, dtype=L), {}, ValueError,
     r"pred is empty \(shape \(0, 4\)\); expected at least one image and one pixel"),
    (torch.tensor([[0, 3]]), torch.tensor([[0, 1]]), {"num_classes": 3}, ValueError,
     r"labels must lie in \[0, 3\), got a label 3"),
    (torch.tensor([[0, 1]]), torch.tensor([[0, 5]]), {"num_classes": 3}, ValueError,
     r"labels must lie in \[0, 3\), got a label 5"),
    (torch.tensor([[0, -1]]), torch.tensor([[0, 1]]), {"num_classes": 3}, ValueError, "labels must be >= 0, got -1"),
    (torch.tensor([[-2, 0]]), torch.tensor([[0, -1]]), {"num_classes": 3, "ignore_index": -1}, ValueError,
     r"labels must be >= 0, got -2 \(ignore_index=-1 is excluded from this check in the target only\)"),
    (torch.tensor([[0, 2]]), torch.tensor([[0, 1]]), {}, ValueError,
     r"labels up to 2 found but num_classes was not given; pass num_classes \(binary input must be bool"),
    (torch.tensor([[0, 1]]), torch.tensor([[0, 1]]), {"num_classes": 1}, ValueError,
     r"num_classes must be >= 2 \(background included\), got 1"),
    (torch.zeros(1, 2, 3, dtype=L), torch.zeros(1, 2, 3, dtype=L), {"multilabel": True, "ignore_index": 0},
     ValueError, r"ignore_index is not defined for multilabel maps"),
    (torch.full((1, 2, 3), 2), torch.zeros(1, 2, 3, dtype=L), {"multilabel": True}, ValueError,
     "multilabel maps must hold 0/1 values per channel, got a value 2"),
    (torch.zeros(1, 2, 3, dtype=L), torch.zeros(1, 2, 3, dtype=L), {"multilabel": True, "num_classes": 3},
     ValueError, "num_classes=3 but the multilabel maps have 2 channels"),
]


@pytest.mark.parametrize(("pred", "target", "kwargs", "error", "match"), LABEL_MAP_ERRORS)
def test_check_label_maps_errors(pred: object, target: object, kwargs: dict, error: type[Exception],
                                 match: str) -> None:
    with pytest.raises(error, match=match):
        check_label_maps(pred, target, **kwargs)


@pytest.mark.parametrize("name", overlap.names())
@pytest.mark.parametrize(("pred", "target", "kwargs", "error", "match"), LABEL_MAP_ERRORS)
def test_every_metric_raises_the_same_errors(name: str, pred: object, target: object, kwargs: dict,
                                             error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        overlap.get(name)(pred, target, **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_mismatch() -> None:
    with pytest.raises(ValueError, match="pred is on cuda:0 but target on cpu"):
        check_label_maps(OK.cuda(), OK)


def test_ignored_pixels_may_hold_any_label() -> None:
    """ignore_index pixels are excluded from the range check, for target and prediction alike."""
    lm = check_label_maps(torch.tensor([[1, 9]]), torch.tensor([[1, 255]]), num_classes=2, ignore_index=255)
    assert lm.valid is not None and lm.valid.tolist() == [[True, False]]
    assert lm.pred.tolist() == [[1, 0]] and lm.target.tolist() == [[1, 0]]


def test_binary_detection() -> None:
    assert check_label_maps(torch.tensor([[True]]), torch.tensor([[False]])).binary
    assert check_label_maps(torch.tensor([[True]]), torch.tensor([[False]]), num_classes=2).binary
    assert check_label_maps(np.array([[0, 1]]), np.array([[1, 1]])).binary
    lm = check_label_maps(torch.tensor([[0, 1]]), torch.tensor([[1, 1]]), num_classes=2)
    assert not lm.binary and lm.num_classes == 2  # integer maps with num_classes=2: two scored classes
    lm = check_label_maps(torch.tensor([[True]]), torch.tensor([[False]]), num_classes=3)
    assert not lm.binary and lm.num_classes == 3  # bool maps in a 3-class problem are not "binary"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: M.f1_score(OK, OK, average="samples"), ValueError,
         r"average must be one of \('micro', 'macro', 'weighted', 'none'\), got 'samples'"),
        (lambda: M.fbeta_score(OK, OK, beta=0.0), ValueError, "beta must be > 0, got 0.0"),
        (lambda: M.tversky_index(OK, OK, alpha=-1.0), ValueError, "alpha must be >= 0, got -1.0"),
        (lambda: M.tversky_index(OK, OK, beta=float("nan")), ValueError, "beta must be >= 0, got nan"),
        (lambda: overlap.get("hd95"), ValueError, r"unknown count metric 'hd95'; choose one of \['accuracy'"),
        (lambda: M.f1_score(torch.zeros(1, 1, 4, dtype=L), torch.zeros(1, 1, 4, dtype=L), multilabel=True,
                            include_background=False), ValueError,
         r"include_background=False leaves no class to score \(the input has 1 class\)"),
    ],
)
def test_metric_argument_errors(call: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]
