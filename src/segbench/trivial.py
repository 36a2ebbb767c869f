"""The trivial predictors every command scores beside the models: all background, all foreground, majority class.

They paint every pixel with one class chosen from the *train* split's pixel counts (so they never peek at the
test labels), and show what a model must beat: under class imbalance the all-background map already scores a high
pixel accuracy with Dice 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

import torch
from torch import Tensor

from segbench.scoring import as_label_maps

__all__ = ["TRIVIAL_PREDICTORS", "TrivialPredictor", "background_index", "trivial_classes", "trivial_predictions",
           "trivial_probabilities"]

TrivialPredictor = Literal["all-background", "all-foreground", "majority-class"]
TRIVIAL_PREDICTORS: tuple[str, ...] = get_args(TrivialPredictor)


def background_index(class_names: Sequence[str]) -> int:
    """The background class: the one named ``background`` (case-insensitive) if any, else class 0.

    >>> background_index(["pet", "background", "border"]), background_index(["bg", "cell"])
    (1, 0)
    """
    lowered = [c.lower() for c in class_names]
    return lowered.index("background") if "background" in lowered else 0


def trivial_classes(class_counts: Any, class_names: Sequence[str]) -> dict[str, int]:
    """The class each trivial predictor paints, from the *train* split's pixel counts per class.

    ``all-background``: :func:`background_index`; ``all-foreground``: class ``1 - background`` for two
    classes, else the most frequent non-background class; ``majority-class``: the most frequent class.
    Ties go to the lowest index.

    >>> trivial_classes([10, 70, 20], ["pet", "background", "border"])
    {'all-background': 1, 'all-foreground': 2, 'majority-class': 1}
    """
    counts = [int(c) for c in torch.as_tensor(class_counts).reshape(-1).tolist()]
    if len(counts) != len(class_names) or len(counts) < 2:
        raise ValueError(f"need one count per class (>= 2 classes), got {counts} for {list(class_names)}")
    background = background_index(class_names)
    others = [c for c in range(len(counts)) if c != background]
    foreground = others[0] if len(counts) == 2 else max(others, key=lambda c: (counts[c], -c))
    majority = max(range(len(counts)), key=lambda c: (counts[c], -c))
    return {"all-background": background, "all-foreground": foreground, "majority-class": majority}


def trivial_predictions(targets: Any, kind: str, classes: dict[str, int]) -> Tensor:
    """The label maps of the trivial predictor ``kind``, shaped like ``targets`` ``(N, *spatial)``, int64.

    Every pixel gets ``classes[kind]`` (see :func:`trivial_classes`, computed on the train split so that a
    predictor never peeks at the test labels): ``"all-background"``, ``"all-foreground"`` or
    ``"majority-class"``.

    >>> t = torch.tensor([[[0, 2], [2, 1]]])
    >>> trivial_predictions(t, "all-foreground", {"all-foreground": 2}).tolist()
    [[[2, 2], [2, 2]]]
    """
    t = as_label_maps(targets, "targets")
    if kind not in TRIVIAL_PREDICTORS:
        raise ValueError(f"unknown trivial predictor {kind!r}; expected one of {list(TRIVIAL_PREDICTORS)}")
    if kind not in classes:
        raise ValueError(f"no class given for trivial predictor {kind!r}: {classes}")
    return torch.full_like(t, int(classes[kind]))


def trivial_probabilities(labels: Any, num_classes: int, binary: bool) -> Tensor:
    """The constant probabilities of a trivial predictor's ``labels`` ``(N, *spatial)``: all mass on its class
    (a predictor that is always sure), ``(N, 1, *spatial)`` foreground probabilities for binary data (the model's
    one sigmoid channel), else one-hot ``(N, C, *spatial)``, float32.

    Args:
        labels: the trivial predictor's label maps (:func:`trivial_predictions`).
        num_classes: the number of classes C.
        binary: binary data (one foreground channel).

    >>> trivial_probabilities(torch.tensor([[[1, 1]]]), 2, True).tolist()
    [[[[1.0, 1.0]]]]
    >>> trivial_probabilities(torch.tensor([[[2, 2]]]), 3, False)[0, :, 0, 0].tolist()
    [0.0, 0.0, 1.0]
    """
    t = as_label_maps(labels, "labels")
    if binary:
        return (t == 1).unsqueeze(1).float()
    return torch.nn.functional.one_hot(t, num_classes).movedim(-1, 1).float()
