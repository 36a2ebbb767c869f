"""segbench.losses: the loss catalogue.

Every loss is a pure function in :mod:`segbench.losses.functional` and a thin :class:`torch.nn.Module` registered
by name. All take ``(input, target)``: logits ``(N, C, *spatial)`` (``C == 1`` binary sigmoid, ``C >= 2`` softmax
unless ``multilabel=True``) and an integer label map ``(N, *spatial)`` or a dense ``(N, C, *spatial)`` target;
and the keywords ``from_logits=True``, ``ignore_index=None``, ``multilabel=False``.

>>> from segbench import losses
>>> loss = 0.5 * losses.BCELoss() + 0.5 * losses.JaccardLoss()
>>> loss.spec == losses.parse("0.5*bce+0.5*jaccard").spec
True
"""

from __future__ import annotations

from segbench.losses import functional
from segbench.losses.base import FunctionLoss, Loss
from segbench.losses.compose import CompositeLoss, parse
from segbench.losses.distance import BoundaryLoss, HausdorffDTLoss
from segbench.losses.lovasz import LovaszLoss
from segbench.losses.overlap import (
    DiceLoss,
    FocalTverskyLoss,
    GeneralizedDiceLoss,
    JaccardLoss,
    LogCoshDiceLoss,
    PixelDiceLoss,
    PixelJaccardLoss,
    TverskyLoss,
)
from segbench.losses.pixelwise import BCELoss, CrossEntropyLoss, FocalLoss
from segbench.losses.registry import describe, get, names
from segbench.losses.topology import ClDiceLoss

__all__ = [
    "BCELoss",
    "BoundaryLoss",
    "ClDiceLoss",
    "CompositeLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "FunctionLoss",
    "GeneralizedDiceLoss",
    "HausdorffDTLoss",
    "JaccardLoss",
    "LogCoshDiceLoss",
    "Loss",
    "LovaszLoss",
    "PixelDiceLoss",
    "PixelJaccardLoss",
    "TverskyLoss",
    "describe",
    "functional",
    "get",
    "names",
    "parse",
]
