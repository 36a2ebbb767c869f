r"""The two hooks that make a ``compare`` run train on patches and predict by sliding windows (issue #21).

With ``[train] patch_size`` set (volumes: ``[Z, Y, X]``), :func:`~segbench.compare.train.train_run` takes its
batches from :func:`patch_batches` instead of whole images, and every prediction (validation, test) goes through
:func:`forward`, which tiles the input with Gaussian-weighted windows of the patch size
(:func:`segbench.models.sliding_window.sliding_window_inference`); a patch itself is one window, so training
calls the model directly.

An epoch of :func:`patch_batches` visits every training case once, in the order of ``torch.randperm`` drawn from
the ``(seed, epoch)`` generator (:func:`~segbench.compare.determinism.epoch_generator`), ``B = batch_size``
cases per step. Each case gives one patch; the last :math:`\operatorname{round}(s \cdot b)` of the ``b`` patches
of a step are centred on a foreground voxel (``s = foreground_share``, nnU-Net's oversampling), the others are
placed uniformly (:func:`segbench.data.patches.sample_patch_origins`). Patch places and flips (``augment``:
each of the last two axes with p = 1/2) come from a NumPy generator seeded by ``SeedSequence([seed, epoch,
PATCH_STREAM])``, so every loss of one seed trains on the same patches in the same order. Outside the volume a
patch is padded with zeros and the label ``ignore_index`` (background when there is none).

Under a process group every rank draws the same global batch (padded to a multiple of the world size by
repeating its first patches, as a DistributedSampler pads) and takes the slots ``rank, rank + W, ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from segbench import distributed
from segbench.compare.determinism import epoch_generator
from segbench.data.patches import crop_patch, sample_patch_origins
from segbench.models.sliding_window import sliding_window_inference

if TYPE_CHECKING:
    from segbench.compare.train import SplitData, TrainSettings

__all__ = ["PATCH_STREAM", "forward", "patch_batches", "patch_rng"]

PATCH_STREAM = 3
"""The third entry of the patch generator's seed sequence (apart from the epoch generator's stream)."""


def patch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The NumPy generator of the patch places and flips of ``(seed, epoch)``.

    >>> bool(patch_rng(0, 1).integers(1000) == patch_rng(0, 1).integers(1000) != patch_rng(0, 2).integers(1000))
    True
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), PATCH_STREAM]))


def _draw(labels: np.ndarray, patch: Sequence[int], foreground: bool, rng: np.random.Generator) -> tuple[int, ...]:
    return sample_patch_origins(labels, patch, 1, 1.0 if foreground else 0.0, rng)[0].origin


def patch_batches(data: SplitData, settings: TrainSettings, seed: int, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
    """This rank's training batches of ``epoch``: images ``(b, C, *patch)`` and labels ``(b, *patch)`` (module
    docstring).

    >>> from segbench.compare.train import SplitData, TrainSettings
    >>> masks = torch.zeros(4, 6, 8, 8, dtype=torch.long); masks[:, 5, 7, 7] = 1
    >>> data = SplitData(torch.rand(4, 1, 6, 8, 8), masks)
    >>> settings = TrainSettings(epochs=1, batch_size=3, lr=1e-3, weight_decay=0.0, augment=False,
    ...     select="last", device=torch.device("cpu"), num_classes=2, background=0, patch=(4, 4, 4),
    ...     foreground_share=1 / 3)
    >>> [(tuple(x.shape), int(y.sum())) for x, y in patch_batches(data, settings, 0, 1)]
    [((3, 1, 4, 4, 4), 1), ((1, 1, 4, 4, 4), 0)]
    """
    if settings.patch is None:
        raise ValueError("patch_batches needs settings.patch (the [train] patch_size)")
    patch = tuple(settings.patch)
    order = torch.randperm(len(data), generator=epoch_generator(seed, epoch)).tolist()
    rng = patch_rng(seed, epoch)
    pad_label = settings.ignore_index if settings.ignore_index is not None else settings.background
    world, rank = distributed.world_size(), distributed.rank()
    for start in range(0, len(order), settings.batch_size):
        cases = order[start : start + settings.batch_size]
        n_fg = round(settings.foreground_share * len(cases))
        images, labels = [], []
        for k, case in enumerate(cases):
            mask = data.masks[case].numpy()
            origin = _draw(mask, patch, k >= len(cases) - n_fg, rng)
            image = crop_patch(data.images[case].numpy(), origin, patch, 0.0)
            label = crop_patch(mask, origin, patch, pad_label)
            if settings.augment:
                for axis in np.flatnonzero(rng.random(2) < 0.5).tolist():
                    image, label = np.flip(image, -1 - axis), np.flip(label, -1 - axis)
            images.append(np.ascontiguousarray(image))
            labels.append(np.ascontiguousarray(label))
        slots = list(range(len(cases)))
        if world > 1:
            slots = [slots[k % len(slots)] for k in range(-(-len(slots) // world) * world)][rank::world]
        yield (torch.from_numpy(np.stack([images[k] for k in slots])),
               torch.from_numpy(np.stack([labels[k] for k in slots])))


def forward(model: Callable[[Tensor], Tensor], images: Tensor, patch: Sequence[int] | None, overlap: float,
            batch: int = 1) -> Tensor:
    """The model's logits for ``images`` ``(N, C, *S)``: one call without ``patch``; with it, Gaussian-weighted
    sliding windows of ``patch`` with ``overlap`` (an input of the patch's size, or smaller, is one window: the
    model's own output).

    >>> net = torch.nn.Conv3d(1, 2, 3, padding=1)
    >>> x = torch.rand(1, 1, 8, 8, 8)
    >>> torch.equal(forward(net, x, (8, 8, 8), 0.5), net(x)), tuple(forward(net, x, (4, 4, 4), 0.5).shape)
    (True, (1, 2, 8, 8, 8))
    """
    if patch is None:
        return model(images)
    return sliding_window_inference(images, tuple(patch), model, overlap=overlap, batch=batch)
