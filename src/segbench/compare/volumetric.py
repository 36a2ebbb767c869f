r"""The two hooks that make a ``compare`` run train on patches and predict by sliding windows (issue #21).

With ``[train] patch_size`` set (volumes: ``[Z, Y, X]``), :func:`~segbench.compare.train.train_run` takes the
batch of each optimizer step from :func:`patch_batch` instead of whole images, and every prediction (validation,
test) goes through :func:`forward`, which tiles the input with Gaussian-weighted windows of the patch size
(:func:`segbench.models.sliding_window.sliding_window_inference`); a patch itself is one window, so training
calls the model directly.

The batch of step ``t`` takes ``b = min(batch_size, N)`` distinct cases, the first ``b`` of ``torch.randperm(N)``
drawn from the ``(seed, t)`` generator (:func:`~segbench.compare.determinism.step_generator`, as 2D batches are
drawn). Each case gives one patch; the last :math:`\operatorname{round}(s \cdot b)` of the ``b`` patches are
centred on a foreground voxel (``s = foreground_share``, nnU-Net's oversampling), the others are placed uniformly
(:func:`segbench.data.patches.sample_patch_origins`). Patch places and flips (``augment``: each of the last two
axes with p = 1/2) come from a NumPy generator seeded by ``SeedSequence([seed, t, PATCH_STREAM])``, so every loss
of one seed trains on the same patches in the same order, and a resumed run draws what it would have drawn.
Outside the volume a patch is padded with zeros and the label ``ignore_index`` (background when there is none).

Data larger than memory: no split of volumes is stacked into one tensor; each is held as :class:`CaseArray` views
(:func:`lazy_split`), which read a case from its dataset when it is indexed and keep the last few (``keep``) in
memory, so peak memory is bounded by a few volumes, not by the split: training reads only its patches' voxels
where the files allow (``volumes:``: :class:`segbench.data.volumes.PatchCase`, the same patches as cropping the
whole case; else it reads the patches' cases),
validation one batch at a time, and the test phase one case at a time (:func:`case_rounds`; the runner scores
each case as it is predicted and keeps only the rows and the dataset-level counts). The cases may differ in shape
(real CT and MR studies do): validation then takes one case per batch (:func:`index_batches`). Freed volume
buffers go back to the system at once (:func:`bound_allocator`), so the process does not keep what it has freed.

Under a process group every rank draws the same global batch and takes its contiguous share of it
(``tensor_split``, as the 2D batches are split), so the patches do not depend on the number of ranks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from segbench import distributed
from segbench.compare.determinism import step_generator
from segbench.data.patches import crop_patch, draw_patch_origins, sample_patch_origins
from segbench.models.sliding_window import sliding_window_inference

if TYPE_CHECKING:
    from segbench.compare.train import SplitData, TrainSettings
    from segbench.data.dataset import SegmentationDataset

__all__ = ["MMAP_THRESHOLD", "PATCH_STREAM", "CaseArray", "CaseReader", "bound_allocator", "case_rounds", "forward",
           "index_batches", "lazy_split", "patch_batch", "patch_rng", "ragged"]

PATCH_STREAM = 3
"""The third entry of the patch generator's seed sequence (apart from the step generator's stream)."""


def patch_rng(seed: int, step: int) -> np.random.Generator:
    """The NumPy generator of the patch places and flips of ``(seed, step)``.

    >>> bool(patch_rng(0, 1).integers(1000) == patch_rng(0, 1).integers(1000) != patch_rng(0, 2).integers(1000))
    True
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(step), PATCH_STREAM]))


def patch_batch(data: SplitData, settings: TrainSettings, seed: int, step: int) -> tuple[Tensor, Tensor]:
    """This rank's training batch of optimizer step ``step``: images ``(b, C, *patch)`` and labels ``(b, *patch)``
    (module docstring).

    >>> from segbench.compare.train import SplitData, TrainSettings
    >>> masks = torch.zeros(4, 6, 8, 8, dtype=torch.long); masks[:, 5, 7, 7] = 1
    >>> data = SplitData(torch.rand(4, 1, 6, 8, 8), masks)
    >>> settings = TrainSettings(batch_size=3, lr=1e-3, weight_decay=0.0, augment=False, select="last",
    ...     device=torch.device("cpu"), num_classes=2, background=0, patch=(4, 4, 4), foreground_share=1 / 3)
    >>> x, y = patch_batch(data, settings, 0, 1)
    >>> tuple(x.shape), [int(y[k].sum()) for k in range(3)]
    ((3, 1, 4, 4, 4), [0, 0, 1])
    """
    if settings.patch is None:
        raise ValueError("patch_batch needs settings.patch (the [train] patch_size)")
    patch = tuple(settings.patch)
    generator = step_generator(seed, step)
    cases = torch.randperm(len(data), generator=generator)[: min(settings.batch_size, len(data))].tolist()
    rng = patch_rng(seed, step)
    pad_label = settings.ignore_index if settings.ignore_index is not None else settings.background
    n_fg = round(settings.foreground_share * len(cases))
    reader = data.masks.reader if isinstance(data.masks, CaseArray) and data.masks.reader.lazy else None
    images, labels = [], []
    for k, case in enumerate(cases):
        centred = 1.0 if k >= len(cases) - n_fg else 0.0  # this patch's foreground share
        if reader is not None:  # only the patch's voxels are read (volumes: memory maps)
            opened = reader.opened(case)
            origin = draw_patch_origins(opened.shape, opened.foreground() if centred else np.empty(0, np.int64),
                                        patch, 1, centred, rng)[0].origin
            image, label = opened.patch(origin, patch, pad_label)
        else:
            mask = data.masks[case].numpy()
            origin = sample_patch_origins(mask, patch, 1, centred, rng)[0].origin
            image = crop_patch(data.images[case].numpy(), origin, patch, 0.0)
            label = crop_patch(mask, origin, patch, pad_label)
        if settings.augment:
            for axis in np.flatnonzero(rng.random(2) < 0.5).tolist():
                image, label = np.flip(image, -1 - axis), np.flip(label, -1 - axis)
        images.append(np.ascontiguousarray(image))
        labels.append(np.ascontiguousarray(label))
    x, y = torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels))
    world = distributed.world_size()
    if world > 1:  # the whole batch is drawn alike on every rank: it does not depend on the number of ranks
        share = torch.arange(len(cases)).tensor_split(world)[distributed.rank()]
        x, y = x[share], y[share]
    return x, y


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


class CaseReader:
    """Reads the cases of one dataset on demand, keeping the ``keep`` most recently used ``(image, mask)`` pairs
    (least recently used first out), so at most ``keep`` cases are held at once."""

    def __init__(self, dataset: SegmentationDataset, keep: int = 4) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep!r}")
        self.dataset, self.keep = dataset, int(keep)
        self._held: OrderedDict[int, tuple[Tensor, Tensor]] = OrderedDict()
        self._opened: OrderedDict[int, Any] = OrderedDict()
        self.reads = 0

    @property
    def lazy(self) -> bool:
        """Whether the dataset's files can be read patch by patch (``dataset.open_case``; ``volumes:``)."""
        return getattr(self.dataset, "open_case", None) is not None

    def opened(self, i: int) -> Any:
        """Case ``i`` opened for patch reads (``dataset.open_case(i)``: memory maps, and its foreground voxels once
        asked for), the ``4 * keep`` most recently used kept open."""
        if i in self._opened:
            self._opened.move_to_end(i)
            return self._opened[i]
        case = self.dataset.open_case(i)  # type: ignore[misc]
        self._opened[i] = case
        while len(self._opened) > 4 * self.keep:
            self._opened.popitem(last=False)
        return case

    def __call__(self, i: int) -> tuple[Tensor, Tensor]:
        """Case ``i``: image ``(C, *S)`` and mask ``(*S)``."""
        if i in self._held:
            self._held.move_to_end(i)
            return self._held[i]
        # native size: the unaugmented item, never cached by the dataset (which would hold the whole split)
        pair = self.dataset.raw(i) if self.dataset.image_size is None else self.dataset[i]
        self.reads += 1
        self._held[i] = pair
        while len(self._held) > self.keep:
            self._held.popitem(last=False)
        return pair


class CaseArray:
    """A split's images (``part=0``, ``(N, C, *S)``) or label maps (``part=1``, ``(N, *S)``) as a lazy array:
    indexing with an int gives one case, with a slice, list or index tensor the stacked cases, each read through
    the shared :class:`CaseReader`; nothing else of the split is held.

    >>> import numpy as np
    >>> from segbench.data.dataset import SegmentationDataset
    >>> data = SegmentationDataset("demo", ["a", "b", "c"], lambda i: (np.full((1, 2, 2, 2), i, np.float32),
    ...     np.full((2, 2, 2), i % 2, np.int64)), num_classes=2, in_channels=1, class_names=["bg", "fg"],
    ...     spatial_dims=3, cache=False)
    >>> reader = CaseReader(data, keep=1)
    >>> images, masks = CaseArray(reader, 0, (3, 1, 2, 2, 2)), CaseArray(reader, 1, (3, 2, 2, 2))
    >>> images[[2, 0]][:, 0, 0, 0, 0].tolist(), masks[1].shape, masks.ndim, len(images), masks[[]].shape
    ([2.0, 0.0], torch.Size([2, 2, 2]), 4, 3, torch.Size([0, 2, 2, 2]))
    >>> [int(m.max()) for m in masks]
    [0, 1, 0]
    """

    def __init__(self, reader: CaseReader, part: int, shape: Sequence[int],
                 shapes: Sequence[Sequence[int]] | None = None) -> None:
        self.reader, self.part, self.shape = reader, int(part), torch.Size(shape)
        self.shapes = [torch.Size(s) for s in shapes] if shapes is not None else [self.shape[1:]] * len(self)
        """Each case's shape (``(C, *S)`` or ``(*S)``); where they differ, ``shape`` holds the largest per axis."""

    @property
    def uniform(self) -> bool:
        """Whether every case has one shape (only then do several cases stack)."""
        return len(set(self.shapes)) <= 1

    @property
    def ndim(self) -> int:
        """The number of axes, the case axis included."""
        return len(self.shape)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __iter__(self) -> Iterator[Tensor]:
        """The cases one at a time (read as they are reached; a plain ``for`` never wraps around)."""
        return (self[k] for k in range(len(self)))

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, int):
            return self.reader(index % len(self))[self.part]
        if isinstance(index, slice):
            cases = list(range(len(self)))[index]
        else:
            cases = torch.as_tensor(index, dtype=torch.long).reshape(-1).tolist()
        if not cases:  # e.g. a rank's empty share of a small split: no case, the dtype of the others
            return self.reader(0)[self.part][None][:0]
        if len({self.shapes[int(k) % len(self)] for k in cases}) > 1:
            raise ValueError(f"cases {cases[:4]} differ in shape; index them one at a time")
        return torch.stack([self.reader(int(k) % len(self))[self.part] for k in cases])

    def class_counts(self, num_classes: int) -> Tensor:
        """Voxels per label in ``[0, num_classes)`` over every case ``(num_classes,)`` int64, one case at a time
        (where the files open for patch reads, from the label files alone)."""
        counts = torch.zeros(num_classes, dtype=torch.int64)
        for k in range(len(self)):
            if self.part == 1 and self.reader.lazy and self.reader.dataset.image_size is None:
                flat = torch.from_numpy(self.reader.opened(k).labels()).reshape(-1)
            else:
                flat = self[k].reshape(-1)
            counts += torch.bincount(flat[(flat >= 0) & (flat < num_classes)], minlength=num_classes)
        return counts


def lazy_split(dataset: SegmentationDataset, keep: int = 4) -> SplitData:
    """The split as :class:`CaseArray` views (read per case, ``keep`` held). Each case's shape comes from its opened
    files where they open for patch reads (headers and memory maps: no voxel read), else from reading the case
    once here. The cases may differ in shape (batches then hold one case: :func:`index_batches`)."""
    from segbench.compare.train import SplitData

    reader = CaseReader(dataset, keep)
    if reader.lazy and dataset.image_size is None:  # a resized item's shape is not its file's
        shapes = [(dataset.in_channels, *reader.opened(k).shape) for k in range(len(dataset))]
    else:
        shapes = [tuple(reader(k)[0].shape) for k in range(len(dataset))]
    largest = tuple(max(axis) for axis in zip(*shapes, strict=True))
    return SplitData(CaseArray(reader, 0, (len(dataset), *largest), shapes),  # type: ignore[arg-type]
                     CaseArray(reader, 1, (len(dataset), *largest[1:]), [s[1:] for s in shapes]))  # type: ignore[arg-type]


MMAP_THRESHOLD = 1 << 20
"""Bytes from which glibc's ``malloc`` serves an allocation by its own ``mmap`` (see :func:`bound_allocator`)."""


def bound_allocator() -> bool:
    """Make freed volume buffers go back to the system at once: fix glibc's mmap threshold at
    :data:`MMAP_THRESHOLD` (``mallopt(M_MMAP_THRESHOLD)``). By default glibc raises the threshold each time a large
    mmapped block is freed (up to 32 MiB), after which blocks of a volume's size come from the heap, whose freed
    space is kept: a test split of 26 volumes of 64 x 128 x 128 then grew the process by 1.6 GiB though no case
    outlived its turn (``benchmarks/bench_compare_memory.py``). Returns whether it was set (``False`` off glibc).
    Called once per process by :func:`segbench.compare.runner.prepare` for volumes.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        return False
    return bool(mallopt is not None and mallopt(-3, MMAP_THRESHOLD) == 1)  # M_MMAP_THRESHOLD is -3 in glibc


def ragged(data: SplitData) -> bool:
    """Whether the split's cases differ in shape (a lazy split of volumes of several sizes)."""
    return isinstance(data.masks, CaseArray) and not data.masks.uniform


def index_batches(data: SplitData, indices: Sequence[int], batch_size: int) -> list[list[int]]:
    """``indices`` in order, cut into batches of ``batch_size`` (of 1 where the cases differ in shape).

    >>> from segbench.compare.train import SplitData
    >>> index_batches(SplitData(torch.zeros(5, 1, 2, 2), torch.zeros(5, 2, 2)), range(5), 2)
    [[0, 1], [2, 3], [4]]
    """
    size = 1 if ragged(data) else int(batch_size)
    order = [int(i) for i in indices]
    return [order[k : k + size] for k in range(0, len(order), size)]


def case_rounds(n: int) -> list[list[int]]:
    """The test cases this rank predicts, one per round: round ``j`` is case ``j * W + rank`` (``W`` ranks; an empty
    list once this rank's share is done), so that in every round each rank holds at most one volume and the
    ranks' predictions of a round can be gathered to rank 0 together. Every rank gets the same number of rounds.

    >>> case_rounds(3)
    [[0], [1], [2]]
    """
    world, rank = distributed.world_size(), distributed.rank()
    return [[k] if (k := j * world + rank) < n else [] for j in range(-(-n // world))]
