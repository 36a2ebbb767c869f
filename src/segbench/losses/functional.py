"""The pure loss functions, one per registered loss: ``fn(input, target, **kwargs) -> Tensor``.

Every function takes logits ``(N, C, *spatial)`` (``from_logits=False``: probabilities) and an integer label map
``(N, *spatial)`` or a dense ``(N, C, *spatial)`` target, with ``ignore_index`` and ``multilabel``; the region and
distance losses also take ``per_image``, ``include_background``, ``class_weights`` and ``reduction``.
"""

from __future__ import annotations

from segbench.losses.distance import boundary_loss, hausdorff_dt_loss
from segbench.losses.lovasz import lovasz_loss
from segbench.losses.overlap import (
    dice_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    jaccard_loss,
    log_cosh_dice_loss,
    pixel_dice_loss,
    pixel_jaccard_loss,
    tversky_loss,
)
from segbench.losses.pixelwise import bce_loss, cross_entropy_loss, focal_loss
from segbench.losses.topology import cldice_loss

__all__ = [
    "bce_loss",
    "boundary_loss",
    "cldice_loss",
    "cross_entropy_loss",
    "dice_loss",
    "focal_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "hausdorff_dt_loss",
    "jaccard_loss",
    "log_cosh_dice_loss",
    "lovasz_loss",
    "pixel_dice_loss",
    "pixel_jaccard_loss",
    "tversky_loss",
]
