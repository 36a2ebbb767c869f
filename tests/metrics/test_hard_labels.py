"""to_labels: logits or probabilities to the hard label maps metrics take."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segbench.metrics import dice_score, to_labels


def test_binary_one_channel_thresholds_the_sigmoid() -> None:
    logits = torch.tensor([[[[-3.0, -0.1], [0.1, 3.0]]]])  # (1, 1, 2, 2)
    out = to_labels(logits)
    assert out.dtype == torch.int64 and out.shape == (1, 2, 2)
    assert out.tolist() == [[[0, 0], [1, 1]]]
    # threshold applies to the probability: sigmoid(0.1) ~ 0.525, sigmoid(3) ~ 0.953
    assert to_labels(logits, threshold=0.9).tolist() == [[[0, 0], [0, 1]]]
    probs = logits.sigmoid()
    assert torch.equal(to_labels(probs, from_logits=False), out)


def test_multiclass_argmax_over_channels_2d_and_3d() -> None:
    g = torch.Generator().manual_seed(0)
    for shape in ((2, 4, 5, 6), (1, 3, 4, 5, 6)):
        logits = torch.randn(shape, generator=g)
        out = to_labels(logits)
        assert out.shape == (shape[0], *shape[2:]) and out.dtype == torch.int64
        assert torch.equal(out, logits.argmax(1))
        # the labels' one-hot picks the largest logit everywhere
        picked = logits.gather(1, out.unsqueeze(1)).squeeze(1)
        assert torch.equal(picked, logits.max(1).values)


def test_multilabel_thresholds_each_channel() -> None:
    logits = torch.tensor([[[[2.0, -2.0]], [[2.0, 2.0]], [[-2.0, -2.0]]]])  # (1, 3, 1, 2)
    out = to_labels(logits, multilabel=True)
    assert out.shape == (1, 3, 1, 2)
    assert out[0, :, 0].tolist() == [[1, 0], [1, 1], [0, 0]]


def test_round_trip_with_a_metric_and_numpy_input() -> None:
    target = torch.tensor([[[0, 1], [1, 0]]])
    logits = torch.where(target.bool(), 4.0, -4.0).unsqueeze(1)  # (N, 1, H, W)
    assert float(dice_score(to_labels(logits.numpy()), target)) == 1.0
    assert isinstance(to_labels(np.zeros((1, 2, 3), dtype=np.float32)), torch.Tensor)


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "match"),
    [
        (torch.zeros(1, 2, 3, dtype=torch.long), {}, TypeError,
         "floating-point logits or probabilities, got torch.int64"),
        (torch.zeros(2, 3), {}, ValueError, r"\(N, C, \*spatial\) with at least one spatial axis, got shape \(2, 3\)"),
        (torch.zeros(0, 2, 3), {}, ValueError, "empty tensor"),
        (torch.tensor([[[float("nan")]]]), {}, ValueError, "logits hold NaN"),
        (torch.zeros(1, 1, 3), {"threshold": 1.5}, ValueError, r"threshold must lie in \[0, 1\], got 1.5"),
        (torch.full((1, 1, 3), 2.0), {"from_logits": False}, ValueError, r"probabilities in \[0, 1\], got values in"),
        ([[0.5]], {}, TypeError, "logits must be a torch.Tensor or numpy.ndarray, got list"),
    ],
)
def test_errors(value: object, kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        to_labels(value, **kwargs)
